"""The README's officer walkthrough ("A handover officer's day") runs as written, in a fresh
folder, with the real `custody` command, and ends with `custody verify` saying intact: the
README cannot drift from what the program does again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> list[str]:
    """The ```sh blocks of the README's "A handover officer's day" section (before its first
    subsection), in order."""
    section = README.read_text(encoding="utf-8").split("\n## A handover officer's day\n", 1)[1]
    section = re.split(r"\n##+ ", section, maxsplit=1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.S | re.M)


def test_the_readme_walkthrough_runs_as_written_and_ends_intact(tmp_path: Path) -> None:
    blocks = walkthrough()
    assert len(blocks) >= 3, "the walkthrough's blocks were not found in README.md"
    # `custody` as installed beside this Python; nothing of the caller's environment steers it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               CUSTODY_LANG="en")
    printed = []
    for block in blocks:
        result = subprocess.run(["sh", "-ec", block], cwd=tmp_path, env=env, text=True,
                                capture_output=True, timeout=900)
        assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
        printed.append(result.stdout + result.stderr)
    assert printed[-1].strip().splitlines()[-1].startswith("intact: custody.db: ")
    # An officer's day done right draws no warning: no duty gap, no presence conflict.
    assert not [line for text in printed for line in text.splitlines()
                if line.startswith("warning:")]
    # The times printed are the officer's (the ledger names Asia/Shanghai).
    assert "2026-06-06T06:10:00+08:00  lot.handed_over" in "".join(printed)
