"""The SDK part of the printed report: a table with targets, the context behind it, and ``NAME = VALUE``.

Laid out like bench/report.py and bench/streaming_report.py (same columns, the machine-readable lines last).
Values are formatted by kind: ns and us as absolute medians, counts as whole numbers, ratios to three
places (three significant digits below 0.1, so a ratio of 0.0007 still says something).
"""

from __future__ import annotations

import math
import statistics

from bench.report import NAME_WIDTH, Goal, target, verdict
from bench.run import CONTROL_TOLERANCE
from bench.sdk import (
    BATCHGETS,
    BATCHING,
    CONTROL,
    CONTROLS,
    DEDUP,
    DICT_NS,
    GET_USER,
    HIT_NS,
    HIT_VS_DICT,
    HIT_VS_RPC,
    HIT_VS_SUBSCRIPT,
    RPC_US,
    RPC_VS_RAW,
    SYNC_CONTROL,
    SYNC_HIT_NS,
    SYNC_HIT_VS_DICT,
    SdkOutcome,
    hit_vs,
    peer_ns,
    peer_vs_dict,
    sync_hit_vs,
)

# Targets from the brief: a fresh hit within 3x of a dict lookup and 1% of a round trip; one RPC for a
# thousand identical concurrent gets, one BatchGet for a hundred distinct ones.
GOALS = {
    HIT_VS_DICT: Goal("<=", 3),
    HIT_VS_RPC: Goal("<=", 0.01),
    DEDUP: Goal("<=", 1),
    BATCHGETS: Goal("<=", 1),
}
COUNTS = (DEDUP, BATCHGETS)
CLIENT_SECTION = (
    CONTROL,
    SYNC_CONTROL,
    HIT_VS_DICT,
    HIT_VS_SUBSCRIPT,
    SYNC_HIT_VS_DICT,
    HIT_NS,
    SYNC_HIT_NS,
    DICT_NS,
    GET_USER,
)
ROUND_TRIP_SECTION = (HIT_VS_RPC, RPC_VS_RAW, RPC_US, DEDUP, BATCHING, BATCHGETS)


def _value(name: str, value: float) -> str:
    if math.isnan(value):
        return "nan"
    if name.endswith("_ns") or name.startswith("peer_hit_ns_"):
        return f"{value:,.0f}"
    if name.endswith("_us"):
        return f"{value:,.1f}"
    if name in COUNTS:
        return f"{value:g}"
    return f"{value:.3g}" if abs(value) < 0.1 else f"{value:.3f}"


def _target(name: str) -> str:
    return target(name, CONTROLS, GOALS)


def _verdict(name: str, value: float) -> str:
    return verdict(name, value, CONTROLS, GOALS)


def _row(name: str, value: float) -> str:
    return f"  {name:<{NAME_WIDTH}} {_value(name, value):>8}  {_target(name):<14} {_verdict(name, value)}"


def _peer_names(outcome: SdkOutcome) -> list[str]:
    names = []
    for peer in outcome.peers:
        names += [peer_ns(peer.name), peer_vs_dict(peer.name), hit_vs(peer.name)]
        if peer.sync:
            names.append(sync_hit_vs(peer.name))
    return names


def _sections(outcome: SdkOutcome) -> list[tuple[str, list[str]]]:
    return [
        (
            "SDK cache hit against a dict lookup (the same calling convention on both sides)",
            [*CLIENT_SECTION],
        ),
        (
            "round trips, deduplication, batching (each RPC counted in the server's access log)",
            [*ROUND_TRIP_SECTION],
        ),
        (
            f"peers: a fresh hit of the same {outcome.hit_users:,} primed users "
            "(sync peers against lookup_sync)",
            _peer_names(outcome),
        ),
    ]


def _pair_context(outcome: SdkOutcome) -> list[str]:
    lines = []
    run = outcome.final
    for name, result in run.pairs.items():
        low, high = result.quartiles
        a, b = outcome.pair_sides[name]
        lines += [
            f"  {name}: per-round ratios, interquartile range {low:.3g}-{high:.3g}",
            f"    A {a.label}: {result.a_us * 1000:,.0f} ns x {a.calls:,}/round",
            f"    B {b.label}: {result.b_us * 1000:,.0f} ns x {b.calls:,}/round",
        ]
    return lines


def _dedup_context(outcome: SdkOutcome) -> list[str]:
    bursts = outcome.dedup
    if not bursts:
        return []

    def each(values: list[str]) -> str:
        return ", ".join(values)

    return [
        f"  {DEDUP}: {len(bursts)} bursts of {bursts[0].calls} concurrent get_user (asyncio.gather), each of",
        "    one cold id; the figure is the worst burst's server-side count, per 1000 calls. Per burst:",
        f"    UserService RPCs the server logged {each([str(r.server_rpcs) for r in bursts])}; "
        f"the client counted {each([str(r.client_rpcs) for r in bursts])};",
        f"    misses {each([str(r.misses) for r in bursts])}, joined a fetch in flight "
        f"{each([str(r.dedup) for r in bursts])}; ms {each([f'{r.seconds * 1000:.0f}' for r in bursts])}",
    ]


def _batching_context(outcome: SdkOutcome) -> list[str]:
    rounds = outcome.batching
    if not rounds:
        return []
    ratios = ", ".join(f"{r.ratio:.1f}" for r in rounds)
    seq = statistics.median(r.sequential_s for r in rounds) * 1000
    conc = statistics.median(r.concurrent_s for r in rounds) * 1000
    batches = ", ".join(str(r.batch_gets) for r in rounds)
    gets = ", ".join(str(r.sequential_server[GET_USER]) for r in rounds)
    size = outcome.batch_size
    return [
        f"  {BATCHING}: {size} sequential get_user ({seq:.1f} ms) against {size} concurrent ({conc:.1f} ms),",
        f"    medians over {len(rounds)} alternating rounds; fresh ids on each side of each round (cold in",
        "    the client and on the server)",
        f"    per-round ratios: {ratios}",
        f"    the server logged, per round: BatchGetUsers {batches} (concurrent side);",
        f"    GetUser {gets} (sequential side)",
    ]


def _checks(outcome: SdkOutcome) -> list[str]:
    hit = ", ".join(f"{k} +{v:,}" for k, v in outcome.hit_stats.items()) or "unchanged"
    rpc = ", ".join(f"{k} +{v:,}" for k, v in outcome.rpc_stats.items()) or "unchanged"
    return [
        "  cross-checks over calibration and every attempt at the pairs:",
        f"    hit client stats: {hit} for {outcome.hit_calls:,} get_user calls (only fresh hits)",
        f"    RPC client stats: {rpc} for {outcome.rpc_calls:,} get_user calls",
        f"    server access log: {outcome.server_gets:,} GetUser = {outcome.rpc_calls:,} (RPC client) + "
        f"{outcome.raw_calls:,} (bare stub)",
        *(
            f"    peer {name}: {loads:,} loads past its cache, {outcome.hit_users:,} users primed "
            "(expected: one per user, all while priming)"
            for name, loads in outcome.peer_loads.items()
        ),
    ]


def sdk_table(outcome: SdkOutcome) -> list[str]:
    runs = [
        f"  run {i}: {run.control_summary()} "
        f"({'ok' if run.control_ok else 'OUT OF TOLERANCE'}), {run.seconds:.1f} s"
        for i, run in enumerate(outcome.attempts, 1)
    ]
    if len(outcome.attempts) > 1:
        runs.append(f"  a control pair failed; the pairs were measured again ({len(outcome.attempts)} runs)")
    rounds = len(outcome.final.pairs[CONTROL].ratios)
    lines = [
        f"server: python -m service serve, pid {outcome.pid}, {outcome.address}, fresh SQLite,",
        "        access log on; stopped with SIGTERM afterwards: exit status 0",
        f"data:   {outcome.seed_users:,} users by one ImportUsers stream ({outcome.seed_s:.2f} s); "
        f"{outcome.hit_users:,} of them in the hit client's cache",
        f"        (one concurrent burst of get_user: {outcome.prime_batches} BatchGet) and in each peer",
        "client: wellspring_client.WellspringClient on one asyncio loop; hit client stale_after_s=600,",
        "        RPC client stale_after_s=0 and evict_after_s=0 (every get_user one GetUser round trip),",
        "        a cold client for dedup and batching",
        "method: tight loops, ns per call = loop time / calls; every pair each round, order rotated,",
        f"        A/B alternated, GC paused; median of {rounds} per-round ratios (after 2 untimed rounds)",
        *runs,
        "",
    ]
    header = f"  {'sdk figure':<{NAME_WIDTH}} {'value':>8}  {'target':<14} verdict"
    lines += [header, "-" * (len(header) + 16)]
    values = outcome.figures()
    for title, names in _sections(outcome):
        lines.append(f"{title}:")
        lines += [_row(name, values[name]) for name in names if name in values]
    lines += [
        "",
        f"sdk context ({outcome.seconds:.1f} s in all; absolute medians of per-round ns per call):",
        *_pair_context(outcome),
        *_dedup_context(outcome),
        *_batching_context(outcome),
        *_checks(outcome),
    ]
    if outcome.problems:
        lines += ["", *(f"PROBLEM: {p}" for p in outcome.problems)]
    if not outcome.final.control_ok:
        lines += [
            "",
            f"WARNING: a control pair never read 1.00 +/- {CONTROL_TOLERANCE}; the figures are unreliable",
        ]
    return lines


def sdk_final_lines(outcome: SdkOutcome) -> list[str]:
    return [f"{name} = {_value(name, value).replace(',', '')}" for name, value in outcome.figures().items()]
