"""Every code block of README.md and docs/*.md runs (or is marked ``no-run``): see tests/docs/snippets.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.snippets import FileRun, SnippetError, parse_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _marks(path: Path) -> list[pytest.MarkDecorator]:
    # the README runs the demo, a bot and the CLI (~10 s); the other pages take well under a second
    return [pytest.mark.slow] if path.name == "README.md" else []


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.relative_to(ROOT).as_posix(), marks=_marks(p)) for p in DOCS],
)
def test_every_block_runs(path: Path, tmp_path: Path) -> None:
    FileRun(tmp_path).run(parse_blocks(path))


def test_readme_first_snippet_shows_what_it_prints() -> None:
    blocks = parse_blocks(ROOT / "README.md")
    first = next(i for i, b in enumerate(blocks) if b.language == "python")
    shown = blocks[first + 1]
    assert shown.language == "text" and "output" in shown.flags and shown.text.strip()


def _run_markdown(tmp_path: Path, text: str) -> FileRun:
    run = FileRun(tmp_path)
    run.run(parse_blocks(tmp_path / "doc.md", text))
    return run


def test_python_blocks_share_a_namespace_and_run_tests_on_the_virtual_clock(tmp_path: Path) -> None:
    doc = (
        "```python\nimport asyncio\nx = 2\nprint(x * 21)\n```\n"
        "```text output\n42\n```\n"
        "```python\nseen = []\nasync def test_sleep():\n"
        "    loop = asyncio.get_running_loop(); t = loop.time()\n"
        "    await asyncio.sleep(600)\n    seen.append(loop.time() - t)\n```\n"
    )
    run = _run_markdown(tmp_path, doc)
    assert run.namespace["seen"] == [pytest.approx(600.0, abs=0.5)]
    assert len(run.ran) == 2


def test_unmarked_broken_blocks_fail_and_no_run_blocks_are_skipped(tmp_path: Path) -> None:
    _run_markdown(tmp_path, "```python no-run\nundefined_name\n```\n```text\nnot code\n```\n")
    with pytest.raises(SnippetError, match=r"doc\.md:1: python block failed: NameError"):
        _run_markdown(tmp_path, "```python\nundefined_name\n```\n")
    with pytest.raises(SnippetError, match="printed"):
        _run_markdown(tmp_path, "```python\nprint('a')\n```\n```text output\nb\n```\n")
    with pytest.raises(SnippetError, match=r"doc\.md:2: .*rejected"):
        _run_markdown(tmp_path, '\n```toml\n[tts]\nprovider = "no-such-tts"\n```\n')
    with pytest.raises(SnippetError, match="not valid TOML"):
        _run_markdown(tmp_path, "```toml\n[stt\n```\n")
    with pytest.raises(SnippetError, match="exited 3"):
        _run_markdown(tmp_path, "```sh\nexit 3\n```\n")


def test_console_output_is_compared_after_normalising(tmp_path: Path) -> None:
    _run_markdown(tmp_path, "```console\n$ printf 'a  1.25 s\\nb\\nc\\nd\\n'\na 9.99 s\n...\nd\n```\n")
    with pytest.raises(SnippetError, match="but the docs show"):
        _run_markdown(tmp_path, "```console\n$ echo hello\ngoodbye\n```\n")
    with pytest.raises(SnippetError, match="exited 2"):
        _run_markdown(tmp_path, "```console\n$ echo hi; exit 2\nhi\n```\n")
    _run_markdown(tmp_path, "```console exit=2\n$ echo hi; exit 2\nhi\n```\n")


def test_toml_file_blocks_are_written_for_later_commands(tmp_path: Path) -> None:
    doc = '```toml file=bot.toml\n[tts]\nprovider = "espeak"\n```\n```console\n$ cat bot.toml\n...\n```\n'
    _run_markdown(tmp_path, doc)
    assert (tmp_path / "bot.toml").read_text().startswith("[tts]")
