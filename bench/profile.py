"""``python -m bench.profile``: sample the server with py-spy under h2load load and print the top frames.

The ratios say *that* GetUser costs more than a no-op; this says *where*. It profiles a GetUser load and then
a health Check load on the same server, so the frames GetUser adds on top of the shared gRPC/interceptor/
access-log path stand out. py-spy attaches to the real server process from outside, so the server runs
unmodified.

Reading the output: percentages are of *busy* samples (py-spy drops threads it sees as idle) and "us/call"
converts samples to thread time per completed call. py-spy's idle detection is imperfect: the idle executor
thread ``asyncio_0`` and part of ``EpollSelector.select`` show up as busy, so read those rows as overhead.
Time in C code without Python frames (grpc's Cython layer, the C-core poller thread) is charged to the nearest
Python frame (``Handle._run``, ``Thread.run``); ``--native`` shows the C frames but slows the server ~4x.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench import client as c
from bench.h2load import Target, run_h2load
from bench.run import progress, qps_targets
from bench.server import AccessLog, BenchError, ServerProcess, running_server

SAMPLE_RATE_HZ = 200
# h2load calls per burst; bursts repeat until py-spy is done, so calls (and us/call) may be ~5% high.
LOAD_CHUNK = 1_000
PROFILE_USERS = 200
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \(\w+\): (?P<name>.*)$")
HANDLER_ROOT = "ServerInterceptor._unary.<locals>.call"
TREE_DEPTH = 4

# Leaf-frame path prefixes -> the component that burns the CPU; first match wins.
COMPONENTS = (
    ("logging/", "logging (access log)"),
    ("json/", "json (access log)"),
    ("service/api/interceptors.py", "interceptor"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("sqlite3/", "sqlite3"),
    ("google/protobuf/", "protobuf"),
    ("grpc/", "grpc python/cython"),
    ("asyncio/", "asyncio"),
    ("service/", "service code"),
    ("hashlib", "hashlib"),
)

Stacks = Counter[tuple[str, ...]]


@dataclass(frozen=True)
class Profile:
    """Collapsed stacks of one method's load and how many calls completed while they were sampled."""

    label: str
    stacks: Stacks
    calls: int
    seconds: float

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())


def find_py_spy() -> str:
    """The venv's py-spy (from PyPI) first, then PATH; it is a dev tool, so say how to get it."""
    local = Path(sys.executable).parent / "py-spy"
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise BenchError("py-spy not found: `.venv/bin/pip install py-spy` (PyPI), then run again")
    return found


def frame_name(frame: str) -> str:
    """``func (path:line)`` -> ``func (path)``, so one function's lines add up; threads lose their id."""
    thread = _THREAD.match(frame)
    if thread:
        return f"thread {thread['name']}"
    match = _FRAME.match(frame)
    return f"{match['func']} ({match['path']})" if match else frame


def parse_raw(text: str) -> Stacks:
    """py-spy's ``--format raw`` (collapsed stacks): ``thread;root;...;leaf count`` per line."""
    stacks: Stacks = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(frame_name(f) for f in stack.split(";"))] += int(count)
    return stacks


def component(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match["path"] if match else frame
    return next((name for prefix, name in COMPONENTS if prefix in path), "other")


def by_thread(stacks: Stacks) -> Counter[str]:
    """The event loop (MainThread) against gRPC's C-core poller thread: which one is the bottleneck."""
    counts: Counter[str] = Counter()
    for stack, n in stacks.items():
        counts[stack[0]] += n
    return counts


def top_self(stacks: Stacks) -> Counter[str]:
    """Samples whose innermost Python frame is this function: where the CPU actually goes.

    Time in C extensions without Python frames (grpc's Cython layer, the C-core) lands on the nearest Python
    frame, e.g. ``Handle._run`` for Cython coroutine steps and ``Thread.run`` for the poller thread.
    """
    counts: Counter[str] = Counter()
    for stack, n in stacks.items():
        counts[stack[-1]] += n
    return counts


def by_component(stacks: Stacks) -> Counter[str]:
    counts: Counter[str] = Counter()
    for stack, n in stacks.items():
        counts[component(stack[-1])] += n
    return counts


def subtree(stacks: Stacks, root: str, depth: int) -> Counter[tuple[str, ...]]:
    """Inclusive samples per call path below the first frame starting with ``root``, ``depth`` levels deep."""
    counts: Counter[tuple[str, ...]] = Counter()
    for stack, n in stacks.items():
        start = next((i for i, frame in enumerate(stack) if frame.startswith(root)), None)
        if start is None:
            continue
        path = stack[start : start + depth + 1]
        for end in range(1, len(path) + 1):
            counts[path[:end]] += n
    return counts


def _share(n: int, profile: Profile) -> str:
    """Percent of busy samples and the server CPU per call it stands for."""
    per_call_us = n / SAMPLE_RATE_HZ / max(1, profile.calls) * 1e6
    return f"{100 * n / max(1, profile.samples):5.1f}% {per_call_us:6.1f} us/call"


def _ranked(title: str, counts: Counter[str], profile: Profile, top: int) -> list[str]:
    return [f"  {title}:", *(f"    {_share(n, profile)}  {name}" for name, n in counts.most_common(top))]


def _tree(profile: Profile, depth: int, min_share: float = 0.005) -> list[str]:
    """The handler path top-down, from the interceptor's ``call`` wrapper (pruned below ``min_share``)."""
    counts = subtree(profile.stacks, HANDLER_ROOT, depth)
    floor = min_share * profile.samples
    lines = [f"  call tree below the interceptor ({depth} levels, nodes >= {100 * min_share:g}%):"]

    def walk(prefix: tuple[str, ...]) -> None:
        children = [(p, n) for p, n in counts.items() if len(p) == len(prefix) + 1 and p[:-1] == prefix]
        for path, n in sorted(children, key=lambda item: -item[1]):
            if n >= floor:
                lines.append(f"    {_share(n, profile)}  {'  ' * (len(path) - 1)}{path[-1]}")
                walk(path)

    walk(())
    return lines


def render(profile: Profile, top: int, depth: int = TREE_DEPTH) -> str:
    """Per-thread split, self time, the handler call tree and component shares, each with us per call."""
    cpu_us = profile.samples / SAMPLE_RATE_HZ / max(1, profile.calls) * 1e6
    lines = [
        f"== {profile.label}: {profile.samples} busy samples ({SAMPLE_RATE_HZ} Hz, {profile.seconds:.0f}s), "
        f"{profile.calls} calls -> ~{cpu_us:.0f} us of sampled server thread time per call",
        *_ranked("busy samples by thread", by_thread(profile.stacks), profile, top),
        *_ranked("top frames by self time", top_self(profile.stacks), profile, top),
        *_tree(profile, depth),
        *_ranked("self time by component (innermost frame)", by_component(profile.stacks), profile, top),
    ]
    return "\n".join(lines)


def sample_under_load(
    server: ServerProcess, log: AccessLog, target: Target, seconds: float, out: Path, *, native: bool
) -> Profile:
    """py-spy records for ``seconds`` while h2load bursts keep 64 calls in flight the whole time."""
    command = [find_py_spy(), "record", "--pid", str(server.pid), "--duration", str(int(seconds))]
    command += ["--rate", str(SAMPLE_RATE_HZ), "--threads", "--format", "raw", "--output", str(out)]
    if native:
        command.append("--native")
    run_h2load(server.address, target, LOAD_CHUNK)  # warm: first calls of a method pay one-off costs
    log.take()
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while spy.poll() is None:
            run_h2load(server.address, target, LOAD_CHUNK)
        _, errors = spy.communicate(timeout=30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists():
        hint = "py-spy needs ptrace rights over the server (root, or CAP_SYS_PTRACE)"
        raise BenchError(f"py-spy failed ({spy.returncode}; {hint}): {errors.strip()[-2000:]}")
    calls = log.take()[target.method, "OK"]
    return Profile(target.label, parse_raw(out.read_text()), calls, seconds)


def profile_server(workdir: Path, labels: list[str], seconds: float, *, native: bool) -> list[Profile]:
    """A fresh server and data set, then one profile per requested method, GetUser first."""
    profiles = []
    with running_server(workdir) as server:
        progress(f"server pid {server.pid} on {server.address}; seeding {PROFILE_USERS} users")
        client = c.connect(server.address)
        try:
            ids = c.seed(client, users=PROFILE_USERS, posts=0)
        finally:
            client.close()
        targets = {t.label: t for t in qps_targets(workdir, ids)}
        log = AccessLog(server.log_path)
        for label in labels:
            progress(f"py-spy on pid {server.pid} for {seconds:.0f}s under h2load {label} load")
            profiles.append(
                sample_under_load(
                    server, log, targets[label], seconds, workdir / f"{label}.txt", native=native
                )
            )
    return profiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--method", choices=["GetUser", "Check", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=6.0, help="sampling time per method (1-60)")
    parser.add_argument("--top", type=int, default=12, help="frames per list")
    parser.add_argument("--depth", type=int, default=TREE_DEPTH, help="levels of the handler call tree")
    parser.add_argument(
        "--native", action="store_true", help="C frames too (slows the server ~4x, unsymbolised)"
    )
    opts = parser.parse_args(argv)
    seconds = min(60.0, max(1.0, opts.seconds))
    labels = ["GetUser", "Check"] if opts.method == "both" else [opts.method]
    try:
        find_py_spy()
        with tempfile.TemporaryDirectory(prefix="wellspring-profile-") as tmp:
            profiles = profile_server(Path(tmp), labels, seconds, native=opts.native)
    except BenchError as error:
        print(f"PROFILE FAILED: {error}", file=sys.stderr)
        return 1
    print("\n\n".join(render(p, opts.top, opts.depth) for p in profiles))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
