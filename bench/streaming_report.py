"""The streaming part of the printed report: a table per server with targets, context, and ``NAME = VALUE``.

Laid out like bench/report.py (same columns, the machine-readable lines last), but values are formatted by
kind: items per second as whole numbers, ratios to three places, latencies in milliseconds.
"""

from __future__ import annotations

from bench.report import NAME_WIDTH, Goal, target, verdict
from bench.streaming import (
    EXPORT,
    IMPORT,
    IMPORT_MIXED,
    PG_PREFIX,
    WATCH_P99,
    BackendFigures,
    StreamingOutcome,
)
from bench.streaming_imports import percentile
from bench.watch import FanoutResult

# Targets from the issue; the import target is for the embedded server only.
GOALS = {
    EXPORT: Goal(">=", 50_000),
    PG_PREFIX + EXPORT: Goal(">=", 50_000),
    IMPORT: Goal(">=", 20_000),
    IMPORT_MIXED: Goal(">=", 15_000),
    WATCH_P99: Goal("<=", 50),
    PG_PREFIX + WATCH_P99: Goal("<=", 50),
}


def _value(name: str, value: float) -> str:
    if name.endswith("_per_s"):
        return f"{value:,.0f}"
    if name.endswith("_ms"):
        return f"{value:.2f}"
    return f"{value:.3f}"


def _row(name: str, value: float) -> str:
    return (
        f"  {name:<{NAME_WIDTH}} {_value(name, value):>8}  {target(name, (), GOALS):<14} "
        f"{verdict(name, value, (), GOALS)}"
    )


def _fanout_context(fanout: FanoutResult) -> list[str]:
    delivered = len(fanout.latencies_ms)
    state = "each watcher got each write once" if fanout.complete else "INCOMPLETE"
    lines = [
        f"    watch: {fanout.watchers} watchers (users, from now) on {fanout.channels} channels, "
        f"all caught up after {fanout.ready_s:.2f} s;",
        f"    {fanout.writes} UpdateUser calls {fanout.spacing_s * 1000:g} ms apart took "
        f"{fanout.writes_s:.2f} s; {delivered:,} of {fanout.expected:,} deliveries ({state})",
    ]
    if delivered:
        p90, most = fanout.percentile(90), fanout.latencies_ms[-1]
        lines.append(
            f"    latency = receive time - user.update_time, ms: min {fanout.latencies_ms[0]:.2f}, "
            f"p50 {fanout.p50:.2f}, p90 {p90:.2f}, p99 {fanout.p99:.2f}, max {most:.2f}"
        )
    return lines


def _context(backend: BackendFigures) -> list[str]:
    export = backend.export
    ratios = ", ".join(f"{r:.2f}" for r in export.ratios)
    imports = ", ".join(f"{s:.2f}" for s in backend.import_s)
    calls, per_message = len(backend.import_s), backend.users_per_message
    mixed, latency = backend.mixed, backend.get_latency
    mixed_s = ", ".join(f"{s:.2f}" for s in mixed.seconds)
    return [
        f"    seed: {backend.seed_users:,} users by one ImportUsers stream of {backend.seed_messages} "
        f"messages in {backend.seed_s:.2f} s ({backend.seed_users / backend.seed_s:,.0f} items/s)",
        f"    export: ExportUsers {export.export_items_per_s:,.0f} items/s "
        f"({export.export_messages} messages) vs ListUsers page_size={export.page_size}",
        f"    {export.list_items_per_s:,.0f} items/s ({export.list_pages} pages): medians over "
        f"{len(export.ratios)} alternating rounds, an UpdateUser before each pass",
        f"    so no list page comes from the list cache; per-round export/list ratios: {ratios}",
        f"    import: {calls} x {backend.import_users:,} fresh users in messages of {per_message}: "
        f"{imports} s per call",
        f"    import with bad items: {len(mixed.seconds)} x {mixed.items:,} fresh users, {mixed.bad:,} bad",
        f"    (duplicate emails of stored users, case-folded, within a message): {mixed_s} s per call",
        f"    GetUser every 5 ms on another channel: p50 {percentile(latency.idle_ms, 50):.2f} ms, "
        f"p99 {percentile(latency.idle_ms, 99):.2f} ms idle ({len(latency.idle_ms)} calls);",
        f"    during the seed import p50 {percentile(latency.busy_ms, 50):.2f} ms, p99 {latency.p99:.2f} ms, "
        f"max {max(latency.busy_ms, default=float('nan')):.2f} ms ({len(latency.busy_ms)} calls)",
        *_fanout_context(backend.fanout),
    ]


def streaming_table(outcome: StreamingOutcome) -> list[str]:
    header = f"  {'streaming figure':<{NAME_WIDTH}} {'value':>8}  {'target':<14} verdict"
    lines = [header, "-" * (len(header) + 16)]
    for backend in outcome.backends:
        lines.append(f"{backend.deployment.title}:")
        lines += [_row(name, value) for name, value in backend.figures().items()]
    lines += ["", f"streaming context ({outcome.seconds:.1f} s in all):"]
    for backend in outcome.backends:
        deployment = backend.deployment
        lines.append(f"  {deployment.title}: pid {deployment.server.pid}")
        lines.append(f"    {deployment.description}")
        lines += _context(backend)
    if any(not b.deployment.on_postgres and b.deployment.prefix for b in outcome.backends):
        lines += ["", "NOTE: PostgreSQL was unreachable; the pg_ figures ran on SQLite instead"]
    return lines + failure_lines(outcome)


def failure_lines(outcome: StreamingOutcome) -> list[str]:
    """A watcher that missed a write fails the run: the p99 of what did arrive would hide it."""
    lines = []
    for backend in outcome.backends:
        fanout = backend.fanout
        if not fanout.complete:
            lines.append(
                f"FAILURE: {backend.deployment.title}: {fanout.missing:,} of {fanout.expected:,} deliveries "
                f"missing ({fanout.short_watchers} watchers short), {fanout.duplicates} duplicates, "
                f"stream errors: {'; '.join(fanout.errors) or 'none'}"
            )
    return ["", *lines] if lines else []


def streaming_final_lines(outcome: StreamingOutcome) -> list[str]:
    return [
        f"{name} = {_value(name, value).replace(',', '')}"
        for backend in outcome.backends
        for name, value in backend.figures().items()
    ]
