"""``python -m bench`` (``make bench``): start two servers, seed them, measure every figure in one run.

The embedded server (SQLite, in-process cache: the default) and a Redis-backed one (PostgreSQL and a
redis-server of the bench's own) run side by side; their pairs share the same alternating rounds. The
metrics' and tracing's costs follow, each on two servers of its own (bench/overhead.py), and uvloop
against asyncio's loop (bench/uvloop.py), then the
streaming figures (bench/streaming.py) follow on two fresh servers of their own, then the client SDK's
figures (bench/sdk.py) on one more, and the browser path's (bench/web.py: the demo app in Chromium and a
Node client, through Envoy), then the JVM client's (bench/jvm.py: its JUnit benchmark); ``--only`` runs
one part.

Exit status: 0 when the run is trustworthy (every control pair within tolerance, every h2load call confirmed
OK by the access log, every watcher received every write, every SDK round trip the server logged matched,
all servers exited 0 on SIGTERM); 1 otherwise, with the reason printed.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import client as c
from bench.auth import AuthServer, auth_deployment
from bench.cached import CachedServer, HitRatio, cached_deployment, measure_hit_ratio
from bench.jvm import JvmOutcome, jvm_final_lines, jvm_lines, measure_jvm
from bench.metrics import MetricsOutcome, measure_metrics, metrics_lines
from bench.overhead import overhead_final_lines
from bench.report import final_lines, table
from bench.run import CONTROL_TOLERANCE, RunFigures, Settings, progress, run_once
from bench.sdk import SdkOutcome, measure_sdk
from bench.sdk_report import sdk_final_lines, sdk_table
from bench.server import AccessLog, BenchError, ServerProcess, running_server
from bench.streaming import StreamingOutcome, measure_streaming
from bench.streaming_report import streaming_final_lines, streaming_table
from bench.tracing import TracingOutcome, measure_tracing, tracing_lines
from bench.uvloop import UvloopOutcome, measure_uvloop, uvloop_final_lines, uvloop_lines
from bench.web import WebOutcome, measure_web, web_final_lines, web_lines

PARTS = ("ratios", "metrics", "tracing", "uvloop", "streaming", "sdk", "web", "jvm")


@dataclass
class Outcome:
    """Everything the report needs besides the figures: how the servers and the attempts went."""

    address: str = ""
    pid: int = 0
    seed_seconds: float = 0.0
    cached_address: str = ""
    cached_pid: int = 0
    cached_database: str = ""
    cached_on_postgres: bool = False
    redis_url: str = ""
    redis_starts: int = 0
    cached_seed_seconds: float = 0.0
    hit_ratio: HitRatio | None = None
    attempts: list[RunFigures] = field(default_factory=list)

    @property
    def final(self) -> RunFigures:
        return self.attempts[-1]


def parse_args(argv: list[str] | None) -> tuple[Settings, bool, tuple[str, ...]]:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="alternating rounds per pair")
    parser.add_argument(
        "--attempts", type=int, default=defaults.attempts, help="runs allowed for the control"
    )
    parser.add_argument("--qps-rounds", type=int, default=defaults.qps_rounds, help="h2load rounds")
    parser.add_argument(
        "--qps-requests", type=int, default=defaults.qps_requests, help="calls per h2load run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, server log)")
    parser.add_argument(
        "--only",
        choices=PARTS,
        help="run only one part: ratios, metrics, tracing, uvloop, streaming, SDK, web or JVM figures",
    )
    opts = parser.parse_args(argv)
    if opts.rounds < 4 or opts.attempts < 1 or opts.qps_rounds < 1 or opts.qps_requests < 64:
        parser.error("need --rounds >= 4, --attempts >= 1, --qps-rounds >= 1, --qps-requests >= 64")
    settings = Settings(
        rounds=opts.rounds, attempts=opts.attempts, qps_rounds=opts.qps_rounds, qps_requests=opts.qps_requests
    )
    return settings, opts.keep, (opts.only,) if opts.only else PARTS


def seed_both(client: c.Client, cached: CachedServer, outcome: Outcome) -> list[str]:
    """The same data set on both servers, through the API; returns the embedded server's ids."""
    started = time.monotonic()
    progress(f"seeding {c.SEED_USERS} users and {c.SEED_POSTS} posts through the API, on each server")
    ids = c.seed(client)
    outcome.seed_seconds = time.monotonic() - started
    started = time.monotonic()
    cached.ids = c.seed(cached.client)
    outcome.cached_seed_seconds = time.monotonic() - started
    return ids


def measure_with(
    server: ServerProcess,
    cached: CachedServer,
    auth: AuthServer,
    workdir: Path,
    settings: Settings,
    outcome: Outcome,
) -> None:
    """Seed, measure the hit ratio once (it needs the cold cache seeding leaves), then run until every
    control pair passes or the attempts are used up."""
    client = c.connect(server.address)
    try:
        ids = seed_both(client, cached, outcome)
        auth.ids = c.seed(auth.client)
        progress(
            f"hit ratio: {settings.zipf_calls} GetUser, Zipf s={settings.zipf_s}, on the Redis-backed server"
        )
        outcome.hit_ratio = measure_hit_ratio(cached, settings.zipf_calls, settings.zipf_s)
        log = AccessLog(server.log_path)
        for attempt in range(1, settings.attempts + 1):
            progress(f"run {attempt} of at most {settings.attempts}")
            figures = run_once(
                client,
                server,
                log,
                ids,
                workdir,
                settings,
                cached,
                auth,
                last_attempt=attempt == settings.attempts,
            )
            outcome.attempts.append(figures)
            if figures.control_ok:
                return
            then = "repeating the run" if attempt < settings.attempts else "no attempts left"
            progress(
                f"controls {figures.control_summary()}: not all within 1.00 +/- {CONTROL_TOLERANCE}; {then}"
            )
    finally:
        outcome.redis_starts = cached.redis.starts
        client.close()


def measure(workdir: Path, settings: Settings) -> Outcome:
    """The servers live exactly as long as this function; leaving it stops both and checks exit 0."""
    outcome = Outcome()
    progress(f"starting `python -m service serve` (SQLite in {workdir})")
    with running_server(workdir) as server:
        outcome.address, outcome.pid = server.address, server.pid
        progress(f"server pid {server.pid} SERVING on {server.address}")
        progress("starting the Redis-backed server: fresh database, migrate, redis-server, serve")
        with cached_deployment(workdir) as cached:
            outcome.cached_address, outcome.cached_pid = cached.server.address, cached.server.pid
            outcome.cached_database, outcome.redis_url = cached.database.description, cached.redis.url
            outcome.cached_on_postgres = cached.database.shared
            progress(f"Redis-backed server pid {cached.server.pid} SERVING on {cached.server.address}")
            with auth_deployment(workdir) as auth:
                progress(f"server with authentication: pid {auth.server.pid} on {auth.server.address}")
                measure_with(server, cached, auth, workdir, settings, outcome)
            progress("stopping the Redis-backed server with SIGTERM")
        progress("stopping the embedded server with SIGTERM")
    return outcome


def attempt_lines(outcome: Outcome) -> list[str]:
    lines = []
    for i, run in enumerate(outcome.attempts, 1):
        state = "ok" if run.control_ok else "OUT OF TOLERANCE"
        lines.append(f"  run {i}: {run.control_summary()} ({state}), {run.seconds:.1f} s")
    if len(outcome.attempts) > 1:
        lines.append(f"  a control pair failed; the run was repeated ({len(outcome.attempts)} runs in total)")
    return lines


def server_lines(outcome: Outcome) -> list[str]:
    restarts = outcome.redis_starts - 1
    again = f"; restarted {restarts}x for repeated runs" if restarts > 0 else ""
    return [
        f"server: python -m service serve, pid {outcome.pid}, {outcome.address}, fresh SQLite, access log on",
        f"        Redis-backed: pid {outcome.cached_pid}, {outcome.cached_address}, "
        f"{outcome.cached_database},",
        f"        WELLSPRING_REDIS_URL={outcome.redis_url} (a redis-server of the bench's own{again})",
        "        both stopped with SIGTERM afterwards: exit status 0",
        f"data:   {c.SEED_USERS} users, {c.SEED_POSTS} posts via the API on each "
        f"({outcome.seed_seconds:.1f}s embedded, {outcome.cached_seed_seconds:.1f}s Redis-backed)",
    ]


def render_ratios(outcome: Outcome) -> list[str]:
    run = outcome.final
    lines = [
        *server_lines(outcome),
        "client: sync grpc channel, one call at a time (h2load for the concurrency-64 figure)",
        *attempt_lines(outcome),
        "",
        *table(run, outcome.hit_ratio),
    ]
    if run.qps is not None and run.qps.notes:
        lines += ["", "h2load vs access log:", *(f"  {note}" for note in run.qps.notes)]
    if run.qps is not None and abs(run.qps.control - 1.0) > CONTROL_TOLERANCE:
        lines += ["", f"WARNING: the h2load control read {run.qps.control:.3f}; get_qps_vs_noop is noisy"]
    if not outcome.cached_on_postgres:
        lines += ["", "NOTE: PostgreSQL was unreachable; the Redis-backed server ran on SQLite instead"]
    if not run.control_ok:
        lines += [
            "",
            f"WARNING: a control pair never read 1.00 +/- {CONTROL_TOLERANCE}; the figures are unreliable",
        ]
    return lines


def render(
    outcome: Outcome | None,
    streaming: StreamingOutcome | None,
    sdk: SdkOutcome | None,
    elapsed_s: float,
    web: WebOutcome | None = None,
    jvm: JvmOutcome | None = None,
    tracing: TracingOutcome | None = None,
    metrics: MetricsOutcome | None = None,
    uvloop: UvloopOutcome | None = None,
) -> str:
    """The ratio part, the streaming part, the SDK part; the ``NAME = VALUE`` lines of all come last."""
    lines = []
    if outcome is not None:
        lines += ["Wellspring benchmark: ratios measured in one run against real server processes"]
        lines += render_ratios(outcome)
    if metrics is not None:
        lines += ["", "Wellspring metrics figures: Prometheus metrics on and off, on servers of their own"]
        lines += metrics_lines(metrics)
    if tracing is not None:
        lines += ["", "Wellspring tracing figures: OpenTelemetry on and off, on servers of their own"]
        lines += tracing_lines(tracing)
    if uvloop is not None:
        lines += ["", "Wellspring event-loop figures: uvloop and asyncio, on servers of their own"]
        lines += uvloop_lines(uvloop)
    if streaming is not None:
        after = ", started after the ratio servers stopped" if outcome is not None else ""
        lines += ["", f"Wellspring streaming figures: fresh servers of their own{after}"]
        lines += streaming_table(streaming)
    if sdk is not None:
        after = ", started after the other parts' servers stopped" if outcome or streaming else ""
        lines += ["", f"Wellspring SDK figures: wellspring_client against a server of its own{after}"]
        lines += sdk_table(sdk)
    if web is not None:
        lines += ["", "Wellspring web figures: the demo app in Chromium and a Node client, through Envoy"]
        lines += web_lines(web)
    if jvm is not None:
        lines += [
            "",
            "Wellspring JVM figures: the Kotlin facade's JUnit benchmark against a server of its own",
        ]
        lines += jvm_lines(jvm)
    lines += ["", f"total time: {elapsed_s:.1f} s", ""]
    if outcome is not None:
        lines += final_lines(outcome.final, outcome.hit_ratio)
    if metrics is not None:
        lines += overhead_final_lines(metrics.overhead)
    if tracing is not None:
        lines += overhead_final_lines(tracing.overhead)
    if uvloop is not None:
        lines += uvloop_final_lines(uvloop)
    if streaming is not None:
        lines += streaming_final_lines(streaming)
    if sdk is not None:
        lines += sdk_final_lines(sdk)
    if web is not None:
        lines += web_final_lines(web)
    if jvm is not None:
        lines += jvm_final_lines(jvm)
    return "\n".join(lines)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C, so every server and redis-server the bench
    started is stopped by its ``with`` block instead of being left running."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings, keep, parts = parse_args(argv)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="wellspring-bench-"))
    try:
        outcome = measure(workdir, settings) if "ratios" in parts else None
        metrics = measure_metrics(workdir) if "metrics" in parts else None
        tracing = measure_tracing(workdir) if "tracing" in parts else None
        uvloop = measure_uvloop(workdir) if "uvloop" in parts else None
        streaming = measure_streaming(workdir) if "streaming" in parts else None
        sdk = measure_sdk(workdir, settings.attempts) if "sdk" in parts else None
        web = measure_web(workdir) if "web" in parts else None
        jvm = measure_jvm(workdir) if "jvm" in parts else None
    except BenchError as error:
        print(f"BENCHMARK FAILED: {error}", file=sys.stderr)
        keep = True
        return 1
    finally:
        if keep:
            progress(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(render(outcome, streaming, sdk, elapsed, web, jvm, tracing, metrics, uvloop), flush=True)
    overheads = [part.overhead for part in (metrics, tracing) if part is not None]
    overheads += [uvloop.latency] if uvloop is not None else []
    overheads_ok = all(overhead.control_ok for overhead in overheads)
    ratios_ok = (outcome is None or outcome.final.control_ok) and overheads_ok
    sdk_ok = sdk is None or sdk.ok
    return 0 if ratios_ok and (streaming is None or streaming.complete) and sdk_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
