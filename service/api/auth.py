"""Authentication and the method's scope, checked for every call before its handler runs: the bearer
token in the ``authorization`` metadata is verified (``auth.tokens``; repeated tokens come from its
cache), and the principal must hold the scope ``auth.scopes`` names for the method (or ``admin``).
Refusals are UNAUTHENTICATED (TOKEN_MISSING, TOKEN_EXPIRED, …) or PERMISSION_DENIED (SCOPE_MISSING),
answered at once like every refusal (``limits.refusal``), whatever the header held. The principal of an
admitted call is ``current_principal()`` inside it."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable

import grpc

from service.api.errors import to_status
from service.api.grpc_types import Handler, InterceptorBase
from service.api.limits import refusal
from service.auth.scopes import required_scope
from service.auth.tokens import TokenVerifier
from service.domain.errors import ScopeMissing, Unauthenticated
from service.domain.models import Principal

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "wellspring_principal", default=None
)


def current_principal() -> Principal | None:
    """Who makes the running call (None with authentication off, or in an open method)."""
    return _principal.get()


class Authentication(InterceptorBase):
    """Place after the metadata limit (a refused header is never parsed) and before the others."""

    def __init__(self, verifier: TokenVerifier, *, reflection_open: bool, log_calls: bool = False) -> None:
        self._verifier = verifier
        self._reflection_open = reflection_open
        self._log_calls = log_calls
        self._scopes: dict[str, str | None] = {}  # method -> scope, filled as methods are first called

    async def intercept_service(  # type: ignore[override]  # grpc answers UNIMPLEMENTED for None
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        scope = self._scopes.get(method, "?")
        if scope == "?":
            scope = self._scopes[method] = required_scope(method, reflection_open=self._reflection_open)
        if scope is None:
            return await continuation(handler_call_details)
        header = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                header = value if isinstance(value, str) else None
                break
        try:
            principal = self._verifier.cached(header) or await self._verifier.verify(header)
            if not principal.may(scope):
                raise ScopeMissing(scope, method.rpartition("/")[2])
        except (Unauthenticated, ScopeMissing) as error:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            logged_as = method if self._log_calls else None
            return refusal(handler, to_status(error), logged_as, error.reason)
        _principal.set(principal)
        return await continuation(handler_call_details)
