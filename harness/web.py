"""web/'s npm dependencies (from the committed lockfile, once per lockfile) and its builds: the demo app
(web/dist) and the Node benchmarks (web/dist-bench); the static server that serves the app, and how Debian's
Chromium is launched. For the tests, ``make run-web`` and the bench."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

from harness.processes import ROOT, HarnessError

WEB = ROOT / "web"
STAMP = WEB / "node_modules" / ".lock-sha256"
# Debian's Chromium, driven by Playwright (``playwright install`` downloads cannot be reached here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Run in the page: ``window.__seen[id]`` is the Date.now() at which an element of the list with that
# data-testid first showed an item with that data-id (a MutationObserver: the DOM change, not a poll).
FIRST_SEEN_JS = """(testid) => {
    window.__seen = {};
    new MutationObserver(() => {
        for (const li of document.querySelectorAll(`[data-testid=${testid}] li`)) {
            window.__seen[li.dataset.id] ??= Date.now();
        }
    }).observe(document.body, { subtree: true, childList: true });
}"""


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


def serve_static(directory: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """Serve ``directory`` on 127.0.0.1:``port`` (0: a free one) from a thread, quietly; ``shutdown()`` stops
    it. The standard library's server: the built app is a handful of static files."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No line per request on stderr."""
