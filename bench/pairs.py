"""The ratio method: alternate short rounds of A and B, take median(A)/median(B) per round, then the median.

Machine speed drifts over seconds (frequency scaling, noisy neighbours, the other process on a 2-core box).
A round is short enough that A and B see the same machine, alternating which goes first cancels warm-up and
ordering effects, and the median over many rounds discards the rounds a hiccup landed in.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Op = Callable[[], object]


@dataclass(frozen=True)
class Pair:
    """Two operations to compare; ``calls`` samples of each per round (one sample = one ``op()``)."""

    name: str
    a: Op
    b: Op
    calls: int


@dataclass
class PairResult:
    """Per-round ratios and per-round medians (ns) of each side."""

    name: str
    ratios: list[float] = field(default_factory=list)
    a_medians_ns: list[float] = field(default_factory=list)
    b_medians_ns: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def a_us(self) -> float:
        return statistics.median(self.a_medians_ns) / 1000

    @property
    def b_us(self) -> float:
        return statistics.median(self.b_medians_ns) / 1000

    @property
    def quartiles(self) -> tuple[float, float]:
        """Spread of the per-round ratios: how much one round alone could be trusted."""
        q = statistics.quantiles(self.ratios, n=4)
        return q[0], q[2]


def time_calls(op: Op, calls: int) -> list[int]:
    """Wall time of each call in ns; the loop overhead (~100 ns) is noise next to a loopback RPC."""
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        started = clock()
        op()
        samples.append(clock() - started)
    return samples


def measure_round(pair: Pair, a_first: bool) -> tuple[float, float]:
    """Medians (ns) of A and B in one round, run in the given order."""
    if a_first:
        a = time_calls(pair.a, pair.calls)
        b = time_calls(pair.b, pair.calls)
    else:
        b = time_calls(pair.b, pair.calls)
        a = time_calls(pair.a, pair.calls)
    return statistics.median(a), statistics.median(b)


def warm_up(pairs: Sequence[Pair], rounds: int = 2) -> None:
    """Untimed rounds first: connection, server-side caches and the SQLite page cache settle."""
    for r in range(rounds):
        for pair in pairs:
            measure_round(pair, a_first=r % 2 == 0)


def measure_pairs(pairs: Sequence[Pair], rounds: int) -> dict[str, PairResult]:
    """Interleave all pairs in every round so a slow stretch of the machine hits each of them, control too.

    The pair order rotates per round and A/B order alternates, so no pair always runs right after another.
    The client's garbage collector is paused inside rounds (and run between them) so it is not timed.
    """
    results = {pair.name: PairResult(pair.name) for pair in pairs}
    was_enabled = gc.isenabled()
    try:
        for r in range(rounds):
            gc.collect()
            gc.disable()
            shift = r % len(pairs)
            for pair in [*pairs[shift:], *pairs[:shift]]:
                a, b = measure_round(pair, a_first=r % 2 == 0)
                result = results[pair.name]
                result.ratios.append(a / b)
                result.a_medians_ns.append(a)
                result.b_medians_ns.append(b)
            gc.enable()
    finally:
        if was_enabled:
            gc.enable()
    return results


def measure_interleaved(
    ops: dict[str, Op], calls: int, rounds: int, *, block: int = 25
) -> list[dict[str, float]]:
    """Per round, the median (ns) of ``calls`` calls of each op, made in short blocks of ``block`` calls
    of one op, then the next (the first op rotating per round): every op sees the same stretch of the
    machine, closer than in rounds of one op then another, while a block keeps its server's code and data
    warm as a steady stream of calls does (calls that alternate between servers one by one are each slowed
    by the other's, by what each does, not by the same amount). For comparing ops on different servers,
    where no single pair holds both sides."""
    names = list(ops)
    clock = time.perf_counter_ns
    medians: list[dict[str, float]] = []
    was_enabled = gc.isenabled()
    try:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            turn = [(name, ops[name]) for name in order]
            samples: dict[str, list[int]] = {name: [] for name in names}
            gc.collect()
            gc.disable()
            for _ in range(max(calls // block, 1)):
                for name, op in turn:
                    taken = samples[name]
                    for _ in range(block):
                        started = clock()
                        op()
                        taken.append(clock() - started)
            gc.enable()
            medians.append({name: statistics.median(values) for name, values in samples.items()})
    finally:
        if was_enabled:
            gc.enable()
    return medians
