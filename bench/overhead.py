"""What one feature costs a cached read, between two embedded servers of their own: one with the feature on,
one with it off (``--only tracing``, ``--only metrics``).

Six calls are made in turn, in short blocks of each, round after round (``bench.pairs.measure_interleaved``),
so that all of them see the same stretch of the machine: a warm (in-process cached) GetUser on each server
and two health Checks on each (the feature leaves health checks out: the no-op must not pay what is
measured), the servers taking turns, so that every block follows one of the other server's (a server that
has just answered answers its next call faster). Each figure is the median over the rounds of a ratio of
that round's medians, named after the feature (``tracing``, ``metrics``) and the server without it
(``untraced``, ``unmetered``):

* ``{on}_get_vs_noop`` / ``{off}_get_vs_noop``: each server's GetUser ÷ its own Check;
* ``{feature}_overhead``: their ratio — the cached Get with the feature on ÷ off, each against the no-op of
  its own process, so that what differs between two processes cancels out (as ``auth_overhead``);
* ``{on}_get_vs_{off}_get``: the two GetUsers directly (context: process differences included);
* ``{on}_noop_vs_{off}_noop``: the two Checks (context: what the feature's background work — an exporter's
  thread, say — and any other difference between the processes cost a call the feature leaves out);
* ``{feature}_control_noop_vs_noop``: the control, the featured server's two Checks.

Why blocks, the servers taking turns (measured 2026-12-04 for tracing): rounds of 1000 calls a pair, one
server's pairs after the other's, read 1.102, 0.980 and 1.014 on three runs of the same code (each process
drifts on its own over seconds); single calls alternating between the servers held them together but put
the control (two Checks, one right after the other) at 1.04-1.12.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import client as c
from bench.pairs import PairResult, measure_interleaved
from bench.run import CONTROL_TOLERANCE, progress
from bench.server import Backend, ServerProcess, running_server

ROUNDS, CALLS, BLOCK = 16, 500, 50
WARM_UP_ROUNDS = 2
ATTEMPTS = 3


@dataclass(frozen=True)
class Feature:
    """``name`` (``tracing``), what its server and the other are called in the figures (``tracing``,
    ``untraced``), its target for ``{name}_overhead``, its server's settings and the other's."""

    name: str
    on: str
    off: str
    target: float
    settings: tuple[tuple[str, str], ...]
    off_settings: tuple[tuple[str, str], ...] = ()

    @property
    def control(self) -> str:
        return f"{self.name}_control_noop_vs_noop"

    @property
    def overhead(self) -> str:
        return f"{self.name}_overhead"

    @property
    def on_get(self) -> str:
        return f"{self.on}_get_vs_noop"

    @property
    def off_get(self) -> str:
        return f"{self.off}_get_vs_noop"

    @property
    def direct(self) -> str:
        return f"{self.on}_get_vs_{self.off}_get"

    @property
    def noops(self) -> str:
        return f"{self.on}_noop_vs_{self.off}_noop"

    def ratios(self) -> dict[str, tuple[str, str]]:
        """figure -> (numerator, denominator): ops measured in turn, or two figures of the same round."""
        return {
            self.control: ("on_check", "on_check_again"),
            self.on_get: ("on_get", "on_check"),
            self.off_get: ("off_get", "off_check"),
            self.overhead: (self.on_get, self.off_get),
            self.direct: ("on_get", "off_get"),
            self.noops: ("on_check", "off_check"),
        }


@dataclass
class OverheadOutcome:
    feature: Feature
    pairs: dict[str, PairResult] = field(default_factory=dict)
    attempts: int = 0
    on_ids: list[str] = field(default_factory=list)  # the users seeded on each server
    off_ids: list[str] = field(default_factory=list)

    @property
    def control_ok(self) -> bool:
        return abs(self.pairs[self.feature.control].ratio - 1.0) <= CONTROL_TOLERANCE

    @property
    def figures(self) -> dict[str, float]:
        return {name: result.ratio for name, result in self.pairs.items()}

    @property
    def timed_gets(self) -> int:
        """The featured server's timed GetUser calls (warm-up and seeding come on top)."""
        return CALLS * ROUNDS * self.attempts


def ratios(feature: Feature, medians: list[dict[str, float]]) -> dict[str, PairResult]:
    """The feature's figures per round, in order: a ratio of two figures takes that round's values. A
    figure's a/b medians are in ns (for a ratio of figures, the figures themselves)."""
    wanted = feature.ratios()
    results = {name: PairResult(name) for name in wanted}
    for round_ in medians:
        values = dict(round_)
        for name, (a, b) in wanted.items():
            result = results[name]
            result.ratios.append(values[a] / values[b])
            result.a_medians_ns.append(values[a])
            result.b_medians_ns.append(values[b])
            values[name] = result.ratios[-1]
    return results


@contextmanager
def servers(workdir: Path, feature: Feature) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """The featured server and the other, each on a SQLite file of its own."""
    on = Backend(f"sqlite:///{workdir / f'{feature.on}.sqlite3'}", settings=feature.settings)
    off = Backend(f"sqlite:///{workdir / f'{feature.off}.sqlite3'}", settings=feature.off_settings)
    with (
        running_server(workdir, on, name=feature.on) as featured,
        running_server(workdir, off, name=feature.off) as plain,
    ):
        progress(f"{feature.name}: {feature.on} server pid {featured.pid}, {feature.off} pid {plain.pid}")
        yield featured, plain


def measure_overhead(feature: Feature, featured: ServerProcess, plain: ServerProcess) -> OverheadOutcome:
    outcome = OverheadOutcome(feature)
    on_client, off_client = c.connect(featured.address), c.connect(plain.address)
    try:
        on_ids, off_ids = outcome.on_ids, outcome.off_ids = c.seed(on_client), c.seed(off_client)
        c.warm(on_client, on_ids)
        c.warm(off_client, off_ids)
        ops = {  # the servers take turns: each block follows one of the other server's
            "on_get": c.get_user_op(on_client, on_ids),
            "off_get": c.get_user_op(off_client, off_ids),
            "on_check": c.check_op(on_client),
            "off_check": c.check_op(off_client),
            "on_check_again": c.check_op(on_client),
            "off_check_again": c.check_op(off_client),
        }
        measure_interleaved(ops, CALLS, WARM_UP_ROUNDS, block=BLOCK)
        for attempt in range(1, ATTEMPTS + 1):
            progress(f"{feature.name}: {ROUNDS} rounds x {len(ops)} calls in turn (attempt {attempt})")
            outcome.pairs = ratios(feature, measure_interleaved(ops, CALLS, ROUNDS, block=BLOCK))
            outcome.attempts = attempt
            if outcome.control_ok:
                break
    finally:
        on_client.close()
        off_client.close()
    return outcome


def overhead_lines(outcome: OverheadOutcome) -> list[str]:
    feature, figures = outcome.feature, outcome.figures
    state = "ok" if outcome.control_ok else "OUT OF TOLERANCE"
    lines = [
        f"        {ROUNDS} rounds of {CALLS} x (GetUser and two Checks on each server, in turn, in blocks"
        f" of {BLOCK}), {outcome.attempts} attempt(s)",
        f"  {feature.control:<30} {figures[feature.control]:>8.3f}"
        f"  1.00 +/- {CONTROL_TOLERANCE:.2f}  {state}",
    ]
    for name in (feature.on_get, feature.off_get, feature.direct, feature.noops):
        result = outcome.pairs[name]
        lines.append(f"  {name:<30} {figures[name]:>8.3f}  ({result.a_us:.0f} us vs {result.b_us:.0f} us)")
    value = figures[feature.overhead]
    verdict = "meets target" if value <= feature.target else "MISSES target"
    low, high = outcome.pairs[feature.overhead].quartiles
    lines.append(
        f"  {feature.overhead:<30} {value:>8.3f}  <= {feature.target:.2f}          {verdict}"
        f" (quartiles of the rounds {low:.3f}-{high:.3f})"
    )
    return lines


def overhead_final_lines(outcome: OverheadOutcome) -> list[str]:
    return [f"{name} = {value:.3f}" for name, value in outcome.figures.items()]
