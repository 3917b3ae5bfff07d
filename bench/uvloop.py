"""The server on uvloop's event loop against asyncio's own (``python -m bench --only uvloop``): two embedded
servers of their own, ``WELLSPRING_UVLOOP=1`` (the default) and ``=0``.

* Concurrency 1, as bench/overhead.py measures (short blocks, the servers taking turns):
  ``uvloop_get_vs_asyncio_get`` — a cached GetUser on uvloop ÷ on asyncio (below 1: uvloop is faster) —
  and ``uvloop_noop_vs_asyncio_noop`` (health Check), with ``uvloop_control_noop_vs_noop`` as control.
* Concurrency 64 (h2load, as ``get_qps_vs_noop``): ``uvloop_get_qps_vs_asyncio`` and
  ``uvloop_check_qps_vs_asyncio`` — calls/s on uvloop ÷ on asyncio (above 1: uvloop is faster), the median
  over rounds of one run on each server, which goes first alternating; every run's calls are counted OK in
  the server's access log.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench.h2load import verified_run
from bench.overhead import Feature, OverheadOutcome, measure_overhead, servers
from bench.run import progress, qps_targets
from bench.server import AccessLog, ServerProcess

QPS_ROUNDS, QPS_REQUESTS, QPS_WARM_UP = 8, 4000, 1000
FEATURE = Feature(
    "uvloop", "uvloop", "asyncio", 1.0, (("WELLSPRING_UVLOOP", "1"),), (("WELLSPRING_UVLOOP", "0"),)
)
GET_QPS = "uvloop_get_qps_vs_asyncio"
CHECK_QPS = "uvloop_check_qps_vs_asyncio"


@dataclass
class UvloopOutcome:
    latency: OverheadOutcome
    qps: dict[str, list[float]] = field(default_factory=lambda: {GET_QPS: [], CHECK_QPS: []})
    rps: dict[str, list[float]] = field(default_factory=dict)  # "uvloop GetUser" -> calls/s of each run
    notes: list[str] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, float]:
        latency = self.latency.figures
        values = {name: latency[name] for name in (FEATURE.control, FEATURE.direct, FEATURE.noops)}
        values.update({name: statistics.median(ratios) for name, ratios in self.qps.items()})
        return values


def measure_uvloop(workdir: Path) -> UvloopOutcome:
    with servers(workdir, FEATURE) as (uv, plain):
        outcome = UvloopOutcome(measure_overhead(FEATURE, uv, plain))
        measure_qps(workdir, uv, plain, outcome)
    return outcome


def measure_qps(workdir: Path, uv: ServerProcess, plain: ServerProcess, outcome: UvloopOutcome) -> None:
    sides = []
    for name, server, ids in (
        ("uvloop", uv, outcome.latency.on_ids),
        ("asyncio", plain, outcome.latency.off_ids),
    ):
        (workdir / name).mkdir(exist_ok=True)
        get, check = qps_targets(workdir / name, ids)
        sides.append((name, server, AccessLog(server.log_path), get, check))
    progress(f"uvloop: h2load, {QPS_ROUNDS} rounds of GetUser and Check on each server, concurrency 64")
    for _, server, log, get, check in sides:
        for target in (get, check):
            verified_run(server, log, target, QPS_WARM_UP, outcome.notes)
    for r in range(QPS_ROUNDS):
        for figure, which in ((GET_QPS, 0), (CHECK_QPS, 1)):
            rps = {}
            for name, server, log, *targets in sides if r % 2 == 0 else reversed(sides):
                target = targets[which]
                rps[name] = verified_run(server, log, target, QPS_REQUESTS, outcome.notes).rps
                outcome.rps.setdefault(f"{name} {target.label}", []).append(rps[name])
            outcome.qps[figure].append(rps["uvloop"] / rps["asyncio"])


def uvloop_lines(outcome: UvloopOutcome) -> list[str]:
    figures = outcome.figures
    latency = outcome.latency.pairs
    lines = ["servers: two embedded (SQLite, in-process cache, access log on), WELLSPRING_UVLOOP=1 and =0"]
    for name in (FEATURE.control, FEATURE.direct, FEATURE.noops):
        result = latency[name]
        lines.append(f"  {name:<30} {figures[name]:>8.3f}  ({result.a_us:.0f} us vs {result.b_us:.0f} us)")
    for name, label in ((GET_QPS, "GetUser"), (CHECK_QPS, "Check")):
        uv, aio = (statistics.median(outcome.rps[f"{side} {label}"]) for side in ("uvloop", "asyncio"))
        low, high = min(outcome.qps[name]), max(outcome.qps[name])
        lines.append(
            f"  {name:<30} {figures[name]:>8.3f}  ({uv:.0f} vs {aio:.0f} calls/s;"
            f" rounds {low:.3f}-{high:.3f})"
        )
    lines += [f"  note: {note}" for note in outcome.notes]
    return lines


def uvloop_final_lines(outcome: UvloopOutcome) -> list[str]:
    return [f"{name} = {value:.3f}" for name, value in outcome.figures.items()]
