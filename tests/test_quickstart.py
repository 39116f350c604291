"""The README's quick start runs as written: every ``sh`` block between its quickstart markers is
run, in order, in one fresh folder with the installed commands, and the output the README shows
after a block (its ``text`` block) is what the commands print, line by line, numbers aside (they
are the README's record of one run; a number there states its date)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- quickstart:start -->", "<!-- quickstart:end -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
NUMBER = r"[-+]?(?:\d[\d,]*\.?\d*(?:e[-+]?\d+)?|\.\d+)"


def quickstart_blocks(readme: str) -> list[tuple[str, str | None]]:
    """Each ``sh`` block of the quick start with the ``text`` block that follows it (None if none)."""
    assert readme.count(START) == 1 and readme.count(END) == 1, "the README lost its quickstart markers"
    section = readme.split(START, 1)[1].split(END, 1)[0]
    fences = FENCE.findall(section)
    out = []
    for i, (lang, body) in enumerate(fences):
        if lang == "sh":
            follows = fences[i + 1] if i + 1 < len(fences) else None
            out.append((body, follows[1] if follows and follows[0] == "text" else None))
    return out


def pattern(shown: str) -> re.Pattern[str]:
    """A shown line as a regex: numbers match any number, ``…`` anything, the rest itself."""
    parts = re.split(rf"(…|{NUMBER})", shown.strip())
    regex = "".join(".*" if p == "…" else NUMBER if re.fullmatch(NUMBER, p or "x") else re.escape(p) for p in parts)
    return re.compile(regex)


def test_the_pattern_of_a_shown_line() -> None:
    assert pattern("tail21: changed by -0.109 (95% [-0.143, -0.076]) …").fullmatch(
        "tail21: changed by -0.2 (95% [-0.3, -1e-05]) and more")
    assert not pattern("tail21: weaker").fullmatch("tail21: stronger")


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    blocks = quickstart_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3 and all(shown for _, shown in blocks)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for script, shown in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=1200)
        assert done.returncode == 0, f"{script}\nexited {done.returncode}:\n{done.stderr[-3000:]}"
        printed = [line.strip() for line in done.stdout.splitlines()]
        at = 0
        for line in filter(str.strip, shown.splitlines()):
            wanted = pattern(line)
            found = next((i for i in range(at, len(printed)) if wanted.fullmatch(printed[i])), None)
            assert found is not None, f"{script}\nthe README shows {line!r}, which it did not print:\n{done.stdout[-3000:]}"
            at = found + 1
