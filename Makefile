# The two commands of the README:
#   make demo   installs everything into .venv and runs the offline demo agent
#   make test   installs everything into .venv and runs the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: install demo test lint bench wheels docs

$(BIN)/python:
	$(PY) -m venv $(VENV)

# installs again only when a pyproject.toml changed (the stamp is newer than all of them)
STAMP := $(VENV)/.voiceframe-installed

install: $(STAMP)

$(STAMP): $(BIN)/python pyproject.toml $(PLUGINS)
	$(PIP) -e ".[test,audio,websocket,webrtc,bench,evals,tracing,pipecat]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	# Debian's Chromium for the browser test (never playwright's own download)
	scripts/install-browser.sh || echo "no Chromium: the browser test will be skipped"
	touch $(STAMP)

demo: install
	$(BIN)/voiceframe demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy --strict voiceframe

bench: install
	$(BIN)/python benchmarks/overhead.py

# dist/: voiceframe and every plugin as wheels; pip install "voiceframe[offline]" --find-links dist/
wheels: $(BIN)/python
	$(BIN)/pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir dist . $(foreach p,$(PLUGINS),$(dir $(p)))

# regenerate the config reference from the pydantic models (a test fails when it is out of date)
docs: install
	$(BIN)/python -m voiceframe.docs_config > docs/configuration.md
