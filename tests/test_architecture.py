"""Rules of the code base itself: import direction (DESIGN §1), generated code drift, proto lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_contracts_hold() -> None:
    """api -> handlers -> repository -> domain, and no framework leaks sideways (pyproject's importlinter)."""
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 8 kept, 0 broken" in result.stdout, result.stdout


def test_generated_code_matches_the_protos() -> None:
    result = _run(sys.executable, "scripts/generate.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_protos_are_buf_lint_clean() -> None:
    result = _run(str(BIN / "buf"), "lint")
    assert result.returncode == 0, result.stdout + result.stderr
