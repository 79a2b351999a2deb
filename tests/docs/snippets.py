"""Extract the fenced code blocks of a Markdown file and run them, so the docs cannot rot.

Conventions (docs/install.md, "Code blocks in the docs", says the same for writers):

* The fence's info string is the language, then flags: ```` ```python no-run ```` skips a block,
  ```` ```toml file=bot.toml ```` also writes the block to ``bot.toml`` in the file's working folder
  (later ``console`` blocks of the same file can use it), ```` ```console exit=2 ```` expects the last
  command to exit with 2.
* ``python``: the blocks of one file run in order in one shared namespace, in a fresh working folder.
  Top-level ``await`` is allowed. Functions named ``test_*`` that a block defines are called after it
  (``async def`` ones on the virtual clock, as pytest-asyncio's ``asyncio_mode = "auto"`` would).
  A ```` ```text output ```` block right after a python block is its expected printed output.
* ``toml``: parsed; a bot config (it has a ``[stt]``, ``[llm]``, ``[tts]``, ``[bot]``, ``[vad]``,
  ``[turn]`` or ``[transport]`` section) is validated as ``voiceframe check`` would.
* ``console``: ``$ command`` lines, each followed by its expected output. Output is compared after
  normalising: trailing spaces and runs of spaces, decimal numbers (timings) match any number, and a
  line ``...`` matches any number of lines.
* ``sh`` / ``bash`` / ``shell``: each line runs and must succeed.
* Anything else (``text``, ``json``, ``yaml``, no language) is not code and is not run.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNABLE = {"python", "py", "toml", "console", "sh", "bash", "shell"}
BOT_SECTIONS = {"bot", "vad", "turn", "transport", "stt", "llm", "tts"}
COMMAND_TIMEOUT = 180.0
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_NUMBER = re.compile(r"\d+\.\d+")


class SnippetError(AssertionError):
    """A block failed; the message names the file and line."""


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    flags: dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.language in RUNNABLE and "no-run" not in self.flags


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file, with its language and flags."""
    lines = (text if text is not None else path.read_text(encoding="utf-8")).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, words = m.group("fence"), m.group("info").split()
        language = words[0].lower() if words else ""
        flags = {}
        for word in words[1:]:
            key, _, value = word.partition("=")
            flags[key] = value
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence[0] * len(fence)) and set(lines[j].strip()) == {fence[0]}
        ):
            body.append(lines[j][len(m.group("indent")) :] if m.group("indent") else lines[j])
            j += 1
        blocks.append(Block(path, i + 1, language, flags, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def normalise(text: str) -> list[str]:
    lines = [re.sub(r"[ \t]+", " ", _NUMBER.sub("#", line)).strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_matches(expected: str, actual: str) -> bool:
    """``actual`` matches ``expected`` line by line; an expected ``...`` line matches any run of lines."""
    want, got = normalise(expected), normalise(actual)

    def match(w: int, g: int) -> bool:
        if w == len(want):
            return g == len(got)
        if want[w] == "...":
            return any(match(w + 1, k) for k in range(g, len(got) + 1))
        return g < len(got) and want[w] == got[g] and match(w + 1, g + 1)

    return match(0, 0)


@dataclass
class FileRun:
    """Runs one Markdown file's blocks in order: one namespace, one working folder."""

    workdir: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__snippet__"})
    ran: list[Block] = field(default_factory=list)

    def run(self, blocks: list[Block]) -> None:
        for index, block in enumerate(blocks):
            if not block.runnable:
                continue
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if block.language in ("python", "py"):
                expected = None
                if following and following.language == "text" and "output" in following.flags:
                    expected = following.text
                with _in_dir(self.workdir):
                    self.run_python(block, expected)
            elif block.language == "toml":
                self.run_toml(block)
            elif block.language == "console":
                self.run_console(block)
            else:
                self.run_shell(block)
            self.ran.append(block)

    def run_python(self, block: Block, expected: str | None) -> None:
        before = set(self.namespace)
        out = io.StringIO()
        try:
            code = compile(block.text, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            with contextlib.redirect_stdout(out):
                result = eval(code, self.namespace)
                if inspect.iscoroutine(result):
                    _run_virtual(result)
                for name in sorted(set(self.namespace) - before):
                    test = self.namespace[name]
                    if name.startswith("test_") and callable(test):
                        outcome = test()
                        if inspect.iscoroutine(outcome):
                            _run_virtual(outcome)
        except BaseException as exc:
            raise SnippetError(f"{block.where}: python block failed: {type(exc).__name__}: {exc}") from exc
        if expected is not None and not output_matches(expected, out.getvalue()):
            raise SnippetError(
                f"{block.where}: python block printed\n{out.getvalue()}\nbut the docs show\n{expected}"
            )

    def run_toml(self, block: Block) -> None:
        try:
            data = tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            raise SnippetError(f"{block.where}: not valid TOML: {exc}") from None
        if "file" in block.flags:
            (self.workdir / block.flags["file"]).write_text(block.text, encoding="utf-8")
        if BOT_SECTIONS & set(data):
            try:
                validate_bot_config(block.text)
            except Exception as exc:
                raise SnippetError(f"{block.where}: the config is rejected: {exc}") from None

    def run_console(self, block: Block) -> None:
        commands: list[tuple[str, list[str]]] = []
        for line in block.text.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif commands:
                commands[-1][1].append(line)
            elif line.strip():
                raise SnippetError(f"{block.where}: console block must start with a '$ command' line")
        if not commands:
            raise SnippetError(f"{block.where}: console block has no '$ command' line")
        for n, (command, expected) in enumerate(commands):
            want_exit = int(block.flags.get("exit") or 0) if n == len(commands) - 1 else 0
            proc = _shell(command, self.workdir)
            actual = proc.stdout + proc.stderr
            if proc.returncode != want_exit:
                raise SnippetError(
                    f"{block.where}: `{command}` exited {proc.returncode} (expected {want_exit}):\n{actual}"
                )
            if not output_matches("\n".join(expected), actual):
                raise SnippetError(
                    f"{block.where}: `{command}` printed\n{actual}\nbut the docs show\n" + "\n".join(expected)
                )

    def run_shell(self, block: Block) -> None:
        for command in block.text.splitlines():
            command = command.split(" #")[0].strip()
            if not command or command.startswith("#"):
                continue
            proc = _shell(command, self.workdir)
            if proc.returncode != 0:
                raise SnippetError(
                    f"{block.where}: `{command}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
                )


def validate_bot_config(text: str) -> None:
    """What ``voiceframe check`` does, on a complete config.

    A fragment (say, only ``[tts]``) is checked as part of the offline demo's config: the service
    sections it lacks are the demo's. API keys are examples' business, not the docs': any secret a
    provider reads from the environment is set to a placeholder if it is not set.
    """
    from voiceframe import config
    from voiceframe.demo import DEMO_CONFIG
    from voiceframe.docs_config import toml_value

    data = tomllib.loads(text)
    demo = tomllib.loads(DEMO_CONFIG)
    completed = text
    for section in config.SERVICE_SECTIONS:
        if section not in data:
            values = "\n".join(f"{k} = {toml_value(v)}" for k, v in demo[section].items())
            completed += f"\n[{section}]\n{values}\n"
    with _placeholder_secrets():
        parsed = config.parse_config(completed)
        validate = getattr(config, "validate_config", None)
        if validate is not None:
            validate(parsed)
            return
        for section in config.SERVICE_SECTIONS:
            parsed.build_service(section)


@contextlib.contextmanager
def _placeholder_secrets() -> Any:
    from voiceframe.services.registry import discover, load

    names = set()
    for kind, name in discover():
        settings = getattr(load(kind, name), "Settings", None)
        names.update(getattr(settings, "secret_env", {}).values())
    missing = [env for env in sorted(names) if not os.environ.get(env)]
    os.environ.update({env: "placeholder-key-for-the-docs-test" for env in missing})
    try:
        yield
    finally:
        for env in missing:
            os.environ.pop(env, None)


def _run_virtual(coro: Any) -> Any:
    from voiceframe.clock import run

    return run(coro, virtual=True)


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in bash, with this interpreter's ``bin`` first on PATH (its ``voiceframe`` command)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("COLUMNS", "120")
    try:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise SnippetError(f"`{shlex.quote(command)}` did not finish in {COMMAND_TIMEOUT:.0f} s") from None


@contextlib.contextmanager
def _in_dir(path: Path) -> Any:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)
