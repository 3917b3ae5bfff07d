"""web/'s npm dependencies, installed from the committed lockfile once per lockfile, and its demo app built;
for tests/test_web_client.py and the browser tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
STAMP = WEB / "node_modules" / ".lock-sha256"


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("npm not found: install Node.js 20 and npm")
        pytest.skip("npm not found")
    return found


def ensure_node_modules() -> str:
    """``npm ci`` when node_modules is missing or was installed from another lockfile; npm's path."""
    binary = npm()
    lock = hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != lock:
        subprocess.run([binary, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
        STAMP.write_text(lock)
    return binary


def built_app() -> Path:
    """The demo app built to static files (web/dist), from the sources as they are."""
    binary = ensure_node_modules()
    done = subprocess.run([binary, "run", "build"], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return WEB / "dist"
