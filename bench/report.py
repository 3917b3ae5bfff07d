"""The printed report: a readable block with targets and absolute medians, then ``NAME = VALUE`` lines last.

The final lines are the machine-readable part (one figure per line, nothing after them), so scripts can take
the tail of the output without parsing the human-readable block.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from bench.auth import AUTH_CONTROL, AUTH_GET, AUTH_OVERHEAD, AUTH_OVERHEAD_DIRECT, RATELIMIT_OVERHEAD
from bench.cached import (
    CACHED_BATCH,
    CACHED_CONTROL,
    CACHED_GET,
    DEGRADED_CONTROL,
    DEGRADED_GET,
    HIT_RATIO,
    HitRatio,
)
from bench.h2load import CLIENTS, STREAMS_PER_CLIENT, QpsResult
from bench.pairs import PairResult
from bench.run import BATCH, CONTROL, CONTROL_TOLERANCE, CONTROLS, GET, LIST, QPS, RunFigures


@dataclass(frozen=True)
class Goal:
    """A target from the issue: ``<=`` for costs relative to the no-op, ``>=`` for speedups."""

    op: Literal["<=", ">="]
    value: float

    def met(self, figure: float) -> bool:
        return figure <= self.value if self.op == "<=" else figure >= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


GOALS = {
    GET: Goal("<=", 2.0),
    BATCH: Goal(">=", 20.0),
    CACHED_GET: Goal("<=", 1.3),
    AUTH_GET: Goal("<=", 1.3),
    AUTH_OVERHEAD: Goal("<=", 1.1),
    RATELIMIT_OVERHEAD: Goal("<=", 1.1),
}
SECTIONS = (
    ("embedded server (SQLite, in-process cache)", (CONTROL, GET, QPS, BATCH, LIST)),
    ("Redis-backed server (WELLSPRING_REDIS_URL)", (CACHED_CONTROL, CACHED_GET, CACHED_BATCH, HIT_RATIO)),
    ("Redis-backed server with its Redis killed", (DEGRADED_CONTROL, DEGRADED_GET)),
    (
        "embedded server with authentication (HS256 bearer tokens) and rate limits",
        (AUTH_CONTROL, AUTH_GET, AUTH_OVERHEAD, AUTH_OVERHEAD_DIRECT, RATELIMIT_OVERHEAD),
    ),
)
ORDER = tuple(name for _, names in SECTIONS for name in names)
DESCRIPTIONS = {
    CONTROL: ("health Check", "health Check"),
    GET: ("GetUser (warm)", "health Check"),
    LIST: ("ListUsers page_size=50", "health Check"),
    BATCH: ("100 x GetUser, sequential", "1 x BatchGetUsers(100)"),
    CACHED_CONTROL: ("health Check", "health Check"),
    CACHED_GET: ("GetUser (warm, from Redis)", "health Check"),
    CACHED_BATCH: ("BatchGetUsers(100) (warm, one MGET)", "health Check"),
    DEGRADED_CONTROL: ("health Check", "health Check"),
    DEGRADED_GET: ("GetUser (Redis down: database)", "health Check"),
    AUTH_CONTROL: ("health Check", "health Check"),
    AUTH_GET: ("GetUser (warm, with a verified token)", "health Check"),
    AUTH_OVERHEAD_DIRECT: ("GetUser (warm, with a verified token)", "GetUser (warm, no authentication)"),
    RATELIMIT_OVERHEAD: ("GetUser (warm, paying the rate limit)", "GetUser (warm, exempt from it)"),
}
NAME_WIDTH = 30


def figures_of(run: RunFigures, hit_ratio: HitRatio | None) -> dict[str, float]:
    values = {name: result.ratio for name, result in run.pairs.items()}
    if run.qps is not None:
        values[QPS] = run.qps.ratio
    if hit_ratio is not None:
        values[HIT_RATIO] = hit_ratio.measured
    if AUTH_GET in values and GET in values:  # a ratio of ratios: see bench/auth.py
        values[AUTH_OVERHEAD] = values[AUTH_GET] / values[GET]
    return {name: values[name] for name in ORDER if name in values}


def verdict(name: str, value: float, controls: Collection[str], goals: Mapping[str, Goal]) -> str:
    """How a figure stands: a control against its tolerance, a figure against its goal (if any)."""
    if math.isnan(value):
        return "NO DATA"
    if name in controls:
        return "ok" if abs(value - 1.0) <= CONTROL_TOLERANCE else "OUT OF TOLERANCE"
    goal = goals.get(name)
    if goal is None:
        return ""
    return "meets target" if goal.met(value) else "MISSES target"


def target(name: str, controls: Collection[str], goals: Mapping[str, Goal]) -> str:
    if name in controls:
        return f"1.00 +/- {CONTROL_TOLERANCE:.2f}"
    goal = goals.get(name)
    return str(goal) if goal else "-"


def _verdict(name: str, value: float) -> str:
    return verdict(name, value, CONTROLS, GOALS)


def _target(name: str) -> str:
    return target(name, CONTROLS, GOALS)


def _pair_context(result: PairResult) -> list[str]:
    a_label, b_label = DESCRIPTIONS[result.name]
    low, high = result.quartiles
    return [
        f"    A {a_label}: {result.a_us:,.1f} us   B {b_label}: {result.b_us:,.1f} us",
        f"    per-round ratios: interquartile range {low:.3f}-{high:.3f} over {len(result.ratios)} rounds",
    ]


def _qps_context(qps: QpsResult) -> list[str]:
    ratios = ", ".join(f"{r:.2f}" for r in qps.ratios)
    controls = ", ".join(f"{r:.2f}" for r in qps.control_ratios)
    get, check = qps.median_rps("GetUser"), qps.median_rps("Check")
    get_cpu, check_cpu = qps.cpu_us_per_call("GetUser"), qps.cpu_us_per_call("Check")
    return [
        f"    A GetUser: {get:,.0f} calls/s   B health Check: {check:,.0f} calls/s (medians over runs;",
        f"    h2load -c{CLIENTS} -m{STREAMS_PER_CLIENT}, {qps.runs[0].sent} calls per run, "
        "each call confirmed OK in the access log)",
        f"    per-round ratios: {ratios}",
        f"    server CPU per call (/proc): GetUser {get_cpu:,.0f} us, Check {check_cpu:,.0f} us "
        f"-> Check/GetUser {check_cpu / get_cpu:.3f} (a cross-check less sensitive to other load)",
        f"    h2load control, Check/Check in the same rounds: {qps.control:.3f} ({_qps_verdict(qps)})",
        f"    per-round control ratios: {controls}",
    ]


def _qps_verdict(qps: QpsResult) -> str:
    return "ok" if abs(qps.control - 1.0) <= CONTROL_TOLERANCE else "NOISY: treat get_qps_vs_noop with care"


def _hit_ratio_context(hit: HitRatio) -> list[str]:
    window = hit.redis
    reached = "every call reached Redis" if hit.every_read_reached_redis else "NOT every call reached Redis"
    return [
        f"    {hit.calls:,} x GetUser, one at a time, ids Zipf-distributed (s={hit.zipf_s:g}) over the "
        f"seeded users, cold cache, {hit.seconds:.1f} s",
        f"    measured by the bench's redis-server (INFO commandstats): {window.mget:,} MGETs ({reached}), "
        f"{window.evalsha:,} fill scripts -> {hit.hits:,} hits",
        f"    model, first access of a key misses: {hit.distinct:,} distinct ids -> {hit.model:.3f} "
        f"({'agrees' if hit.distinct == window.evalsha else 'DISAGREES'})",
        f"    Redis keyspace_hits/misses meanwhile: {window.keyspace_hits:,}/{window.keyspace_misses:,}, "
        "not cache hits: to Redis the tombstone",
        "    each CreateUser left is an existing key, and each fill script reads its key once more",
    ]


def _figure_rows(run: RunFigures, hit_ratio: HitRatio | None) -> list[str]:
    values = figures_of(run, hit_ratio)
    lines = []
    for title, names in SECTIONS:
        rows = [name for name in names if name in values]
        if rows:
            lines.append(f"{title}:")
        for name in rows:
            value = values[name]
            lines.append(f"  {name:<{NAME_WIDTH}} {value:>8.3f}  {_target(name):<14} {_verdict(name, value)}")
    return lines


def _contexts(run: RunFigures, hit_ratio: HitRatio | None) -> list[str]:
    lines = []
    for name in ORDER:
        if name == QPS and run.qps is not None:
            lines += [f"  {QPS}", *_qps_context(run.qps)]
        elif name == HIT_RATIO and hit_ratio is not None:
            lines += [f"  {HIT_RATIO}", *_hit_ratio_context(hit_ratio)]
        elif name in run.pairs:
            lines += [f"  {name}", *_pair_context(run.pairs[name])]
    return lines


def table(run: RunFigures, hit_ratio: HitRatio | None) -> list[str]:
    header = f"  {'figure':<{NAME_WIDTH}} {'value':>8}  {'target':<14} verdict"
    return [
        header,
        "-" * (len(header) + 16),
        *_figure_rows(run, hit_ratio),
        "",
        "context (absolute medians of per-round medians; us per call, or per sample for the batch pair):",
        *_contexts(run, hit_ratio),
    ]


def final_lines(run: RunFigures, hit_ratio: HitRatio | None) -> list[str]:
    return [f"{name} = {value:.3f}" for name, value in figures_of(run, hit_ratio).items()]
