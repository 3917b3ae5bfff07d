"""`make help` (and `make` alone) lists every target the Makefile declares, each with its `##` text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"


def _phony_targets() -> list[str]:
    text = MAKEFILE.read_text()
    names = [name for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for name in line.split()]
    assert names, "no .PHONY line in the Makefile"
    return names


def _help(*args: str) -> dict[str, str]:
    if shutil.which("make") is None:
        pytest.fail("make is not installed (the README's two commands need it)")
    result = subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    rows = (line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    return {row[0]: row[1] if len(row) > 1 else "" for row in rows}


def test_make_help_lists_every_phony_target_with_its_text() -> None:
    listed = _help("help")
    missing = [name for name in _phony_targets() if name not in listed]
    assert not missing, f"`make help` does not list {missing}: give each a `## name: text` line"
    bare = [name for name, text in listed.items() if not text.strip()]
    assert not bare, f"targets listed without a description: {bare}"


def test_make_alone_prints_the_help() -> None:
    assert _help() == _help("help")
