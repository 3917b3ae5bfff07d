"""web/'s npm dependencies (from the committed lockfile, once per lockfile) and its builds: the demo app
(web/dist) and the Node benchmarks (web/dist-bench). For the tests, ``make run-web`` and the bench."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

from harness.processes import ROOT, HarnessError

WEB = ROOT / "web"
STAMP = WEB / "node_modules" / ".lock-sha256"


def npm_binary() -> str:
    found = shutil.which("npm")
    if found is None:
        raise HarnessError("npm not found: install Node.js 20 and npm")
    return found


def ensure_node_modules() -> str:
    """``npm ci`` when node_modules is missing or was installed from another lockfile; npm's path."""
    npm = npm_binary()
    lock = hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != lock:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, capture_output=True, text=True)
        if done.returncode != 0:
            raise HarnessError(f"npm ci failed in web/:\n{done.stdout}{done.stderr}")
        STAMP.write_text(lock)
    return npm


def build(script: str = "build") -> None:
    """``npm run build`` (the demo app into web/dist) or ``build:bench`` (web/dist-bench)."""
    npm = ensure_node_modules()
    done = subprocess.run([npm, "run", script], cwd=WEB, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise HarnessError(f"npm run {script} failed:\n{done.stdout}{done.stderr}")
