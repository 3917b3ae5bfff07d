"""The TypeScript client (web/) in `make test`: its dependencies from the committed lockfile (`npm ci`, once
per lockfile), its type check, its unit tests (vitest on connect's in-memory router transport), and its
generated code checked against protos/ like generated/ is (a drift fails)."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest

from tests.web import WEB, ensure_node_modules


@pytest.fixture(scope="module")
def installed() -> str:
    return ensure_node_modules()


def _run(installed: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([installed, *args], cwd=WEB, capture_output=True, text=True, timeout=600)


def test_the_client_type_checks(installed: str) -> None:
    done = _run(installed, "run", "typecheck")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_client_unit_tests_pass(installed: str) -> None:
    done = _run(installed, "test", "--", "--reporter=dot")
    summary = [line for line in done.stdout.splitlines() if "Tests" in line or "passed" in line]
    print("\n".join(summary))  # vitest's result line, in the CI output
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_typescript_matches_the_protos(installed: str, tmp_path: Path) -> None:
    buf = WEB / "node_modules" / ".bin" / "buf"
    done = subprocess.run(
        [str(buf), "generate", "--output", str(tmp_path)],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    fresh, committed = tmp_path / "src" / "gen", WEB / "src" / "gen"
    differ = _differences(filecmp.dircmp(fresh, committed))
    assert not differ, f"web/src/gen is out of date (run `npm run generate` in web/): {differ}"


def _differences(cmp: filecmp.dircmp[str]) -> list[str]:
    found = [*cmp.left_only, *cmp.right_only, *cmp.diff_files]
    for sub in cmp.subdirs.values():
        found += _differences(sub)
    return found
