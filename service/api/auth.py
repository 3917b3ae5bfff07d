"""Authentication and the method's scope, checked for every call before its handler runs: the bearer
token in the ``authorization`` metadata is verified (``auth.tokens``; repeated tokens come from its
cache), and the principal must hold the scope ``auth.scopes`` names for the method (or ``admin``).
Refusals are UNAUTHENTICATED (TOKEN_MISSING, TOKEN_EXPIRED, …) or PERMISSION_DENIED (SCOPE_MISSING),
answered at once like every refusal (``limits.refusal``), whatever the header held. The principal of an
admitted call is ``current_principal()`` inside it.

A call without a token may come from a service with a TLS client certificate (the port
``WELLSPRING_MTLS_ADDR`` requires one, verified against the client CA). Which certificate a call came
with is only known to its context, not here: such a call's handler is wrapped to read it first — the
principal is its first subject alternative name, with the scopes configured for certificates — and is
refused TOKEN_MISSING when the connection has none (every call on the token port)."""

from __future__ import annotations

import contextvars
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from service.api.admission import log_when_over
from service.api.errors import to_status
from service.api.grpc_types import Context, Handler, InterceptorBase
from service.api.limits import refusal
from service.auth.scopes import required_scope
from service.auth.tokens import TokenVerifier
from service.domain.errors import ScopeMissing, Unauthenticated
from service.domain.models import Principal
from service.observability.metrics import GrpcMetrics

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "wellspring_principal", default=None
)


_KINDS = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def current_principal() -> Principal | None:
    """Who makes the running call (None with authentication off, or in an open method)."""
    return _principal.get()


class Authentication(InterceptorBase):
    """Place after the metadata limit (a refused header is never parsed) and before the others."""

    def __init__(
        self,
        verifier: TokenVerifier | None,
        *,
        reflection_open: bool,
        log_calls: bool = False,
        certificate_scopes: frozenset[str] | None = None,
        metrics: GrpcMetrics | None = None,
    ) -> None:
        self._metrics = metrics  # refusals bypass the server interceptor, which counts the other calls
        self._verifier = verifier  # None: no token is accepted (client certificates only)
        self._reflection_open = reflection_open
        self._log_calls = log_calls
        self._certificate_scopes = certificate_scopes  # None: client certificates are not accepted
        self._scopes: dict[str, str | None] = {}  # method -> scope, filled as methods are first called
        self._by_certificate: dict[str, Handler] = {}  # method -> its handler wrapped to read the certificate
        self.failures: Counter[str] = Counter()  # refusals by ErrorInfo reason (the metrics read it)

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
        if header is None and self._certificate_scopes is not None:
            return await self._certificate_checked(continuation, handler_call_details, scope)
        try:
            if self._verifier is None:
                raise Unauthenticated(
                    "TOKEN_INVALID" if header else "TOKEN_MISSING",
                    "this server takes no bearer tokens: call its client-certificate port",
                )
            principal = self._verifier.cached(header) or await self._verifier.verify(header)
            if not principal.may(scope):
                raise ScopeMissing(scope, method.rpartition("/")[2])
        except (Unauthenticated, ScopeMissing) as error:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            self.failures[error.reason] += 1
            status = to_status(error)
            return refusal(handler, status, method, error.reason, log=self._log_calls, metrics=self._metrics)
        _principal.set(principal)
        return await continuation(handler_call_details)

    async def _certificate_checked(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
        scope: str,
    ) -> Handler | None:
        method = handler_call_details.method
        wrapped = self._by_certificate.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._by_certificate[method] = self._wrap(handler, method, scope)
        return wrapped

    def _wrap(self, handler: Handler, method: str, scope: str) -> Handler:
        """``handler`` behind the client-certificate check (the server interceptor's wrapped handlers
        are coroutine functions of every kind, so one wrapper serves them all)."""
        kind = next(k for k in _KINDS if getattr(handler, k) is not None)
        inner = getattr(handler, kind)
        scopes = self._certificate_scopes or frozenset()
        logged_as = method if self._log_calls else None

        async def checked(request: Any, context: Context) -> Any:
            identities = context.peer_identities()
            error: Unauthenticated | ScopeMissing | None = None
            if not identities or context.peer_identity_key() != "x509_subject_alternative_name":
                error = Unauthenticated(
                    "TOKEN_MISSING", "the call carries no bearer token or client certificate"
                )
            else:
                principal = Principal(next(iter(identities)).decode(errors="replace"), scopes, math.inf)
                if principal.may(scope):
                    _principal.set(principal)
                    return await inner(request, context)
                error = ScopeMissing(scope, method.rpartition("/")[2])
            status = to_status(error)
            self.failures[error.reason] += 1
            if self._metrics is not None:
                self._metrics.refused(
                    method, handler.request_streaming, handler.response_streaming, status.code.name
                )
            if logged_as is not None:
                log_when_over(context, logged_as, status.code.name, reason=error.reason)
            await context.abort(status.code, status.details, status.trailing_metadata)

        make = _KINDS[kind]
        return make(
            checked,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
