"""The README runs as written: every code block, in order, against one fresh ``serve --seed-demo`` process.

Python blocks run in a subprocess; shell blocks run in bash (``-e -o pipefail``). The server listens on a
free port, so the README's ``127.0.0.1:50051`` is replaced by its address in each block, and
``WELLSPRING_ADDR`` points there for the commands that default to it (``scripts/rpc.py``,
``wellspring health``). ``.venv/bin/`` is the interpreter running the tests. Without grpcurl on PATH,
``grpcurl`` is ``scripts/rpc.py``, which accepts grpcurl's command line for these cases.

A block is left out only when the line before it says so: ``<!-- not run: why -->`` (one that starts a
server or a suite, a listing). Those are reported as skips with their reason; an unmarked block this file
cannot run fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.process import ROOT, ServerProcess

README = ROOT / "README.md"
README_ADDR = "127.0.0.1:50051"
RUNNABLE = {"python": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
MARKER = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")
# Commands that never return (or need what a snippet run must not touch); they need a marker.
LONG_RUNNING = re.compile(r"\bmake\s+(run|test|bench|run-cluster)\b|\bdocker\b|\bpodman\b|\bcreatedb\b")
BLOCK_TIMEOUT_S = 30


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skip_reason: str | None

    @property
    def name(self) -> str:
        return f"README.md:{self.line}:{self.language or 'text'}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, with the ``not run`` reason from the last non-blank line before it."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        fence = re.match(r"^(```+|~~~+)\s*([\w+-]*)", lines[index])
        if fence is None:
            index += 1
            continue
        start, body = index, []
        index += 1
        while index < len(lines) and not lines[index].startswith(fence.group(1)):
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"README.md:{start + 1}: unclosed code block"
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        marker = MARKER.match(previous.strip())
        reason = marker.group("reason") if marker else None
        blocks.append(Block(start + 1, fence.group(2).lower(), "\n".join(body) + "\n", reason))
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text())


def _why_not_runnable(block: Block) -> str | None:
    if block.language not in RUNNABLE:
        return f"a {block.language or 'plain'} block cannot be run"
    long_running = LONG_RUNNING.search(block.code)
    return f"`{long_running[0]}` is long-running or changes the machine" if long_running else None


def test_readme_blocks_are_found_and_every_skip_is_marked() -> None:
    """Guards the extraction itself: the README has blocks to run, and none is left out unmarked."""
    assert sum(block.skip_reason is None for block in BLOCKS) >= 3, "found too few README blocks to run"
    unmarked = [
        f"{block.name}: {why}"
        for block in BLOCKS
        if block.skip_reason is None and (why := _why_not_runnable(block)) is not None
    ]
    assert not unmarked, "mark these with <!-- not run: why --> on the line before:\n" + "\n".join(unmarked)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """What ``make run`` starts, on a fresh SQLite file and a free port."""
    tmp = tmp_path_factory.mktemp("readme")
    database_url = f"sqlite:///{tmp / 'wellspring.sqlite3'}"
    with ServerProcess(tmp, database_url, args=("--seed-demo",)) as process:
        asyncio.run(process.serving())
        yield process


@pytest.fixture(scope="module")
def shell_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PATH for shell blocks: the venv's scripts first and, when grpcurl is absent, rpc.py as grpcurl."""
    venv_bin = str(Path(sys.executable).parent)
    path = [venv_bin, os.environ.get("PATH", "")]
    if shutil.which("grpcurl") is None:
        shim_dir = tmp_path_factory.mktemp("grpcurl-shim")
        shim = shim_dir / "grpcurl"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "scripts" / "rpc.py"}" "$@"\n')
        shim.chmod(0o755)
        path.insert(0, str(shim_dir))
    return os.pathsep.join(path)


def _localise(code: str, address: str) -> str:
    """The block as it runs here: this server's address, this interpreter's venv."""
    venv_bin = str(Path(sys.executable).parent) + "/"
    return code.replace(README_ADDR, address).replace(".venv/bin/", venv_bin)


def _command(block: Block, code: str) -> list[str]:
    if RUNNABLE[block.language] == "python":
        return [sys.executable, "-c", code]
    return ["bash", "-e", "-o", "pipefail", "-c", code]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_readme_block_runs(block: Block, server: ServerProcess, shell_path: str) -> None:
    """One block, in README order (parametrized tests run in order, all against the same server)."""
    if block.skip_reason is not None:
        pytest.skip(f"{block.name} not run: {block.skip_reason}")
    if (why := _why_not_runnable(block)) is not None:
        pytest.fail(f"{block.name}: {why}, and it is not marked <!-- not run: why -->", pytrace=False)
    env = {**os.environ, "WELLSPRING_ADDR": server.address, "PATH": shell_path, "PYTHONUNBUFFERED": "1"}
    try:
        result = subprocess.run(
            _command(block, _localise(block.code, server.address)),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as timeout:
        output = (timeout.stdout or b"")[-3000:]
        pytest.fail(f"{block.name} did not end within {BLOCK_TIMEOUT_S} s; its output:\n{output!r}")
    assert result.returncode == 0, (
        f"{block.name} exited {result.returncode}\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr, f"{block.name} printed a traceback:\n{result.stderr[-3000:]}"
