"""A circuit breaker, so a dead or stalled Redis costs one timeout, not one per request."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """CLOSED until ``threshold`` consecutive failures; OPEN for a cool-down that doubles on each failed
    probe (up to ``max_cooldown_s``); then HALF_OPEN lets one caller probe while the others stay away."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown_s: float = 0.5,
        max_cooldown_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._base_cooldown = cooldown_s
        self._max_cooldown = max_cooldown_s
        self._clock = clock
        self._failures = 0
        self._cooldown = cooldown_s
        self._opened_at = 0.0
        self._probing = False
        self.state = State.CLOSED
        self.openings = 0

    def allow(self) -> bool:
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN and self._clock() - self._opened_at >= self._cooldown:
            self.state = State.HALF_OPEN
            self._probing = False
        if self.state is State.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._cooldown = self._base_cooldown
        self._probing = False
        self.state = State.CLOSED

    def failure(self) -> None:
        self._failures += 1
        if self.state is State.HALF_OPEN:
            self._cooldown = min(self._cooldown * 2, self._max_cooldown)
            self._open()
        elif self.state is State.CLOSED and self._failures >= self._threshold:
            self._open()

    def trip(self) -> None:
        """Open at once (a timeout is evidence enough)."""
        if self.state is not State.OPEN:
            self._open()

    def _open(self) -> None:
        self.state = State.OPEN
        self._opened_at = self._clock()
        self._probing = False
        self.openings += 1
