"""Whether Redis answers, told to the operator. Redis failing never fails a request (the tier answers from
the database, the breaker keeps the cost to one timeout), which is exactly why an outage must be said
out loud: nothing else would show it. A probe every ``interval_s`` (the database check's interval) logs
a WARNING when Redis stops answering — once per outage, with the error and its address — and an INFO
when it answers again, with how long it was down; each change is published to the health service as
``CACHE_HEALTH_SERVICE`` (the overall "" status stays SERVING: calls still work).

An outage is declared only after ``OUTAGE_AFTER_FAILURES`` failed probes in a row: one probe that times
out may be this process's event loop stalled (a bulk Import, the collector), not Redis. One answer ends an
outage, and before Redis has ever answered the first failure is reported at once (nothing to hold on to)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("wellspring.cache")

CACHE_HEALTH_SERVICE = "wellspring.cache"
OUTAGE_AFTER_FAILURES = 2

Publish = Callable[[bool], Awaitable[None]]


class Pingable(Protocol):
    async def ping(self) -> None: ...


def _reason(error: BaseException, timeout_s: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g}s"
    return f"{type(error).__name__}: {error}"


class Reachability:
    """Up/down transitions of something probed: logged once each, with the outage's length."""

    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self.up: bool | None = None  # None: not probed yet
        self._down_since = 0.0
        self._failed_in_a_row = 0

    def failed(self, reason: str) -> bool:
        """A probe failed; True when that is news: the failure that declares an outage (see the module)."""
        self._failed_in_a_row += 1
        if self._failed_in_a_row == 1:
            self._down_since = self._clock()  # the outage, once declared, began at its first failure
        if self.up is False or (self.up and self._failed_in_a_row < OUTAGE_AFTER_FAILURES):
            return False
        self.up = False
        log.warning("%s is not answering (%s); serving without it meanwhile", self.name, reason)
        return True

    def answered(self) -> bool:
        """A probe succeeded; True when that is news (start-up, or the end of an outage)."""
        self._failed_in_a_row = 0
        if self.up is True:
            return False
        if self.up is False:
            down_s = self._clock() - self._down_since
            log.info("%s is answering again after %.1fs down", self.name, down_s)
        self.up = True
        return True


async def probe(target: Pingable, reach: Reachability, publish: Publish, timeout_s: float) -> None:
    """One ping; a change of state is published."""
    try:
        async with asyncio.timeout(timeout_s):
            await target.ping()
    except Exception as error:  # whatever the reason, Redis is not usable now
        changed = reach.failed(_reason(error, timeout_s))
    else:
        changed = reach.answered()
    if changed:
        await publish(bool(reach.up))


async def watch(
    target: Pingable,
    reach: Reachability,
    publish: Publish,
    *,
    interval_s: float,
    timeout_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Probe until cancelled (the store's ``close``)."""
    while True:
        await probe(target, reach, publish, timeout_s)
        await sleep(interval_s)
