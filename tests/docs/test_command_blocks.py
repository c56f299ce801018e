"""The command blocks of README.md and of every docs/*.md run as written: a file's ```sh
blocks, in order, top to bottom, in one fresh empty folder with the venv's `custody` first on
PATH, each with `bash -e`; a block that exits non-zero fails the file's test with the block
and its output. README's "Quick start" blocks are skipped: they are the setup (clone, venv)
and the CI run of this very suite. Output and formats are ```text or ```json, and not run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIPPED = {"README.md": {"Quick start"}}  # file -> sections whose blocks are not run
TIMEOUT = 900  # seconds a block may take (the demo records a whole exam day)


@dataclass(frozen=True)
class Block:
    line: int  # where its fence opens
    section: str  # the heading it sits under
    text: str


def sh_blocks(markdown: str) -> list[Block]:
    """Every ```sh block of a Markdown text, with the heading it sits under; an indented
    fence (in a list) is read without its indentation."""
    blocks, section, fence, lines, start, indent = [], "", None, [], 0, 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        stripped = line.strip()
        if fence is None:
            if stripped.startswith("```"):
                fence, lines, start = stripped[3:].strip(), [], number
                indent = len(line) - len(line.lstrip())
            elif line.startswith("#"):
                section = line.lstrip("#").strip()
        elif stripped == "```":
            if fence == "sh":
                blocks.append(Block(start, section, "\n".join(lines) + "\n"))
            fence = None
        else:
            lines.append(line[indent:] if line[:indent].isspace() else line.lstrip())
    return blocks


def runnable(page: Path) -> list[Block]:
    return [block for block in sh_blocks(page.read_text(encoding="utf-8"))
            if block.section not in SKIPPED.get(page.name, set())]


def environment() -> dict[str, str]:
    """The test's environment as a new user's shell would have it: the venv's `custody`
    first on PATH, no ledger, log key or language chosen by the test run itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CUSTODY_LANG"] = "en"  # pages show English output
    return env


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_command_blocks_run_as_written(page: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reader"
    folder.mkdir()
    for block in runnable(page):
        script = tmp_path / f"block-{block.line}.sh"
        script.write_text(block.text, encoding="utf-8")
        run = subprocess.run(["bash", "-e", str(script)], cwd=folder, env=environment(),
                             capture_output=True, text=True, timeout=TIMEOUT,
                             stdin=subprocess.DEVNULL)
        if run.returncode != 0:
            pytest.fail(f"{page.name}:{block.line} ({block.section}) exited {run.returncode}:\n"
                        f"{block.text}--- output ---\n{run.stdout}{run.stderr}", pytrace=False)


def test_some_pages_have_blocks_that_run():
    """The harness is not vacuous: docs/cli.md's blocks (a demo, then commands on it) run."""
    assert len(runnable(ROOT / "docs/cli.md")) >= 5


def test_blocks_are_found_under_their_headings_and_quick_start_is_skipped():
    text = ("# T\n\n## Quick start\n\n```sh\nsetup\n```\n\n## Use\n\n```sh\ncustody demo\n"
            "```\n\n```text\n$ output\n```\n\n- item:\n\n  ```sh\n  custody verify\n  ```\n")
    assert sh_blocks(text) == [Block(5, "Quick start", "setup\n"),
                               Block(11, "Use", "custody demo\n"),
                               Block(21, "Use", "custody verify\n")]
    page = Path("README.md")
    assert [b.section for b in sh_blocks(text)
            if b.section not in SKIPPED.get(page.name, set())] == ["Use", "Use"]
