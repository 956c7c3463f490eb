"""The documentation runs as written: every fenced ```python block of README.md,
docs/*.md and scenarios/README.md is executed, every `tokenlink ...` command
shown in a shell block parses with the real CLI, and every scenario file named
is shipped.

Python blocks run in file order, the blocks of one file sharing one namespace
(a later block may use what an earlier one defined), in a temporary working
directory per file that holds a link to the repository's scenarios/, on the
CPU (the suite's settings, tests/conftest.py). A failure names the block by
file and line (test id ``README.md:161``; the traceback points at the line of
the Markdown file). Running one block alone (``-k README.md:161``) first runs
the blocks above it in its file.

Convention for a block that cannot run in the suite (it needs a GPU, or data
the suite does not ship): put ``<!-- docs-test: skip: <why> -->`` on the line
before its fence. The marker is invisible on GitHub and keeps the syntax
highlighting; at most :data:`MAX_SKIPPED` blocks may carry it, each with a
reason. Prefer real code (``device = "cuda" if torch.cuda.is_available() else
"cpu"``) and small sizes (``smoke_run=True``, a smaller data set) over the marker.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "scenarios" / "README.md"]

#: Blocks allowed to carry the skip marker, over all files. Each skip is code
#: a reader may copy that nothing checks, so the budget is kept small.
MAX_SKIPPED = 2

_FENCE = re.compile(r"^\s*```(?P<info>[^`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip(?::\s*(?P<reason>.*?))?\s*-->\s*$")
_SHELL = {"bash", "sh", "shell", "console", "zsh"}
_SCENARIO_PATH = re.compile(r"\bscenarios/[A-Za-z0-9_.-]+\.ya?ml\b")


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file."""

    path: Path
    line: int
    """1-based line of the opening fence."""
    lang: str
    code: str
    skip: Optional[str] = None
    """The reason of a ``docs-test: skip`` marker, `""` for a marker without one, `None` without marker."""

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, in order (language: the first word of the info string)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not _FENCE.match(lines[i]):
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path.relative_to(ROOT)}:{start + 1}: fence never closed")
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = _SKIP.match(previous)
        info = m.group("info").split()
        blocks.append(Block(path, start + 1, info[0] if info else "", "\n".join(lines[start + 1:i]),
                            None if marker is None else (marker.group("reason") or "")))
        i += 1
    return blocks


BLOCKS = {path: fenced_blocks(path) for path in DOCS}
PYTHON = [b for blocks in BLOCKS.values() for b in blocks if b.lang == "python"]


_PREFIXES = {"$", "nohup", "time", "exec"}
_OPERATOR = re.compile(r"^(\d*>.*|<.*|\||\|\||&|&&|;)$")


def _tokenlink_argv(line: str) -> Optional[list[str]]:
    """The arguments of a ``tokenlink ...`` (or ``.venv/bin/tokenlink ...``, ``nohup tokenlink ...``)
    command line, up to the first redirection or shell operator; `None` for other lines."""
    words = shlex.split(line, comments=True)
    while words and (words[0] in _PREFIXES or re.match(r"^[A-Z_][A-Z0-9_]*=", words[0])):
        words = words[1:]
    if not words or words[0].rsplit("/", 1)[-1] != "tokenlink":
        return None
    end = next((i for i, w in enumerate(words) if _OPERATOR.match(w)), len(words))
    return words[1:end]


SHELL_COMMANDS = [
    (b, n, line) for blocks in BLOCKS.values() for b in blocks if b.lang in _SHELL
    for n, line in enumerate(b.code.splitlines(), start=b.line + 1) if _tokenlink_argv(line) is not None
]


# ------------------------------------------------------------------ python blocks
class _FileRun:
    """The namespace, working directory and progress of one file's blocks."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.namespace: dict = {"__name__": "__docs__"}
        self.done = 0
        """How many of the file's python blocks have run."""
        self.failed: Optional[str] = None


@pytest.fixture(scope="module")
def file_runs(tmp_path_factory):
    runs: dict[Path, _FileRun] = {}

    def get(path: Path) -> _FileRun:
        if path not in runs:
            workdir = tmp_path_factory.mktemp(path.stem)
            (workdir / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
            runs[path] = _FileRun(workdir)
        return runs[path]

    return get


def _exec(block: Block, run: _FileRun) -> None:
    # Pad so that line numbers in a traceback are the Markdown file's own.
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    exec(code, run.namespace)


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.name)
def test_python_block_runs_as_written(block, file_runs, monkeypatch):
    if block.skip is not None:
        pytest.skip(f"marked docs-test: skip: {block.skip}")
    import torch

    # The suite runs on the CPU: code that takes a GPU when there is one takes the CPU here.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir((run := file_runs(block.path)).workdir)
    runnable = [b for b in PYTHON if b.path == block.path and b.skip is None]
    position = runnable.index(block)
    if run.failed is not None:
        pytest.skip(f"an earlier block of this file failed ({run.failed})")
    for earlier in runnable[run.done:position]:  # this block alone (-k): the blocks above it first
        _exec(earlier, run)
        run.done += 1
    if run.done > position:
        pytest.skip("already run as the set-up of a later block")
    try:
        _exec(block, run)
    except BaseException:
        run.failed = block.name
        raise
    run.done = position + 1


def test_skip_markers_are_rare_explained_and_on_python_blocks():
    marked = [b for b in PYTHON if b.skip is not None]
    assert len(marked) <= MAX_SKIPPED, (
        f"{len(marked)} python blocks marked docs-test: skip ({', '.join(b.name for b in marked)}); "
        f"allowed: at most {MAX_SKIPPED}: make them runnable instead")
    assert all(b.skip for b in marked), [b.name for b in marked if not b.skip]
    stray = [b.name for blocks in BLOCKS.values() for b in blocks if b.skip is not None and b.lang != "python"]
    assert not stray, f"docs-test: skip markers before non-python blocks: {stray}"
    for path in DOCS:  # a marker followed by no fence at all (e.g. left behind by an edit)
        text = path.read_text(encoding="utf-8")
        markers = sum(1 for line in text.splitlines() if _SKIP.match(line))
        assert markers == sum(1 for b in BLOCKS[path] if b.skip is not None), f"{path.name}: stray skip marker"


def test_shell_lines_are_read_up_to_redirections_and_after_prefixes():
    assert _tokenlink_argv("nohup tokenlink run s.yaml > s.log 2>&1 &   # comment") == ["run", "s.yaml"]
    assert _tokenlink_argv("$ .venv/bin/tokenlink info t.h5 | head") == ["info", "t.h5"]
    assert _tokenlink_argv("CUDA_VISIBLE_DEVICES=0 tokenlink --version") == ["--version"]
    assert _tokenlink_argv("make demo   # tokenlink run ...") is None


def test_the_collector_finds_the_blocks_and_the_marker(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip: needs a GPU -->\n\n"
                    "```python\ny = x\n```\n```bash\ntokenlink info t.h5\n```\n")
    blocks = fenced_blocks(page)
    assert [(b.line, b.lang, b.code, b.skip) for b in blocks] == [
        (3, "python", "x = 1", None), (9, "python", "y = x", "needs a GPU"), (12, "bash", "tokenlink info t.h5", None)]
    assert PYTHON and any(b.path.name == "README.md" for b in PYTHON)


# ------------------------------------------------------------------ shell blocks and names
@pytest.mark.parametrize("block,line_no,line", SHELL_COMMANDS, ids=[f"{b.path.relative_to(ROOT)}:{n}"
                                                                    for b, n, _ in SHELL_COMMANDS])
def test_shown_tokenlink_commands_parse_with_the_cli(block, line_no, line, capsys):
    """Subcommand, options and their values as the real parser reads them (nothing runs)."""
    from tokenlink.cli import _build_parser

    argv = _tokenlink_argv(line)
    try:
        _build_parser().parse_args(argv)
    except SystemExit as stop:
        err = capsys.readouterr().err.strip()
        pytest.fail(f"{block.path.relative_to(ROOT)}:{line_no}: `{line.strip()}` does not parse "
                    f"(exit {stop.code}): {err}")


def test_shell_blocks_show_tokenlink_commands():
    subcommands = {_tokenlink_argv(line)[0] for _, _, line in SHELL_COMMANDS}
    assert {"run", "validate", "info", "plot", "export"} <= subcommands


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_scenario_file_named_in_the_docs_exists(path):
    named = set(_SCENARIO_PATH.findall(path.read_text(encoding="utf-8")))
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, f"{path.relative_to(ROOT)} names scenarios that are not shipped: {missing}"


def test_yaml_blocks_that_name_a_shipped_scenario_show_it_as_shipped():
    shown = 0
    for blocks in BLOCKS.values():
        for b in blocks:
            if b.lang != "yaml":
                continue
            data = yaml.safe_load(b.code)
            name = data.get("name") if isinstance(data, dict) else None
            shipped = ROOT / "scenarios" / f"{name}.yaml"
            if isinstance(name, str) and shipped.is_file():
                assert data == yaml.safe_load(shipped.read_text()), f"{b.name} differs from {shipped.name}"
                shown += 1
    assert shown >= 1
