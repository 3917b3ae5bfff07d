"""The rate limit of each call, checked by the server interceptor before the call's work: its caller's
budget (``auth.budgets``) pays the method's cost (``auth.scopes.call_cost``), and each request message
of an Import its own. The caller is the principal (``sub``) of an authenticated call, else the peer's
address (open methods, or authentication off). Over budget: RESOURCE_EXHAUSTED ``RATE_LIMITED`` with
RetryInfo, before anything ran. A client stream's messages are paced instead of refused: past the
budget, the next message is read once the budget allows it (HTTP/2 flow control holds the sender), so an
Import slows down and loses nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

from service.api.auth import current_principal
from service.api.grpc_types import Context
from service.auth.budgets import Budgets
from service.auth.scopes import call_cost, message_cost
from service.domain.errors import RateLimited


def peer_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5555`` -> ``ipv4:127.0.0.1`` (the port changes with every connection)."""
    host, _, port = peer.rpartition(":")
    return host if host and port.isdigit() else peer


class RateLimit:
    def __init__(self, budgets: Budgets, exempt: frozenset[str] = frozenset()) -> None:
        self.budgets = budgets
        self._exempt = exempt  # keys never limited (``sub:NAME``, ``peer:ADDRESS``)
        self._costs: dict[str, tuple[int, int]] = {}  # method -> (call cost, message cost)
        self.refused: Counter[str] = Counter()  # calls refused, by method (the metrics read it)

    def _cost(self, method: str) -> tuple[int, int]:
        cost = self._costs.get(method)
        if cost is None:
            cost = self._costs[method] = (call_cost(method), message_cost(method))
        return cost

    @staticmethod
    def _key(context: Context) -> str:
        principal = current_principal()
        return f"sub:{principal.subject}" if principal is not None else f"peer:{peer_host(context.peer())}"

    async def admit(self, method: str, context: Context) -> None:
        """Spend the call's cost, or raise ``RateLimited``."""
        key = self._key(context)
        if key not in self._exempt:
            try:
                await self.budgets.take(key, self._cost(method)[0])
            except RateLimited:
                self.refused[method] += 1
                raise

    def per_message(self, method: str, context: Context) -> int:
        """What each request message of this call costs (0: nothing)."""
        return self._cost(method)[1]

    async def pace(self, method: str, context: Context, cost: int) -> None:
        """Spend one request message's ``cost``, waiting for the budget to allow it."""
        key = self._key(context)
        while key not in self._exempt:
            try:
                await self.budgets.take(key, cost)
                return
            except RateLimited as limited:
                await asyncio.sleep(limited.retry_after_s)
