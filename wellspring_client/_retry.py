"""Retries follow idempotency under one overall deadline: exponential backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from wellspring_client.errors import DeadlineExceeded, ResourceExhausted, Unavailable

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` in all (1 = no retry); wait n is uniform in [0, min(max, initial * multiplier**n)]."""

    attempts: int = 5
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    # A call the server refused for its caller's rate limit (RESOURCE_EXHAUSTED RATE_LIMITED) did not
    # run, so any call, a write too, is sent again after the server's RetryInfo wait, this many times.
    rate_limited_retries: int = 3

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.multiplier < 1:
            raise ValueError("need attempts >= 1, backoffs >= 0 and multiplier >= 1")
        if self.rate_limited_retries < 0:
            raise ValueError("need rate_limited_retries >= 0")

    def backoffs(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        """The waits between attempts, ``attempts - 1`` of them."""
        for n in range(self.attempts - 1):
            yield rng() * min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**n)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


async def call_with_retry(
    attempt: Callable[[float | None], Awaitable[T]],
    *,
    deadline: float | None,
    policy: RetryPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    rng: Callable[[], float] = random.random,
) -> T:
    """``attempt(timeout)`` until it succeeds, retrying only ``Unavailable`` (and, up to
    ``policy.rate_limited_retries`` times, a RATE_LIMITED refusal), all before ``deadline`` (a
    ``clock()`` value; None = no overall deadline). A server's RetryInfo delay is honoured."""
    backoffs = policy.backoffs(rng)
    rate_limited = policy.rate_limited_retries
    while True:
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the call's deadline passed while retrying")
        try:
            return await attempt(remaining)
        except ResourceExhausted as error:
            if error.reason != "RATE_LIMITED" or not rate_limited:
                raise
            rate_limited -= 1
            wait = error.retry_after_s or policy.initial_backoff_s
            if deadline is not None and clock() + wait >= deadline:
                raise
            await sleep(wait)
        except Unavailable as error:
            delay = next(backoffs, None)
            if delay is None:
                raise
            delay = max(delay, min(error.retry_after_s or 0.0, policy.max_backoff_s))
            if deadline is not None and clock() + delay >= deadline:
                raise
            await sleep(delay)
