from __future__ import annotations

import pytest

from service.domain.errors import InvalidInput
from service.domain.models import Cursor
from service.handlers.page_tokens import PageTokens

QUERY = {"c": "users", "query": "a"}


def test_round_trip() -> None:
    tokens = PageTokens(b"s" * 32)
    assert tokens.decode(tokens.encode(QUERY, Cursor(5, "x")), QUERY, int) == Cursor(5, "x")


@pytest.mark.parametrize(
    "mutate", [lambda t: t[:-2] + "AA", lambda t: "A" + t[1:], lambda t: t + ".x", lambda t: ""]
)
def test_tampering_is_rejected(mutate: object) -> None:
    tokens = PageTokens(b"s" * 32)
    token = tokens.encode(QUERY, Cursor(5, "x"))
    with pytest.raises(InvalidInput):
        tokens.decode(mutate(token), QUERY, int)  # type: ignore[operator]


def test_other_secret_or_query_is_rejected() -> None:
    token = PageTokens(b"s" * 32).encode(QUERY, Cursor(5, "x"))
    with pytest.raises(InvalidInput):
        PageTokens(b"t" * 32).decode(token, QUERY, int)
    with pytest.raises(InvalidInput):
        PageTokens(b"s" * 32).decode(token, {**QUERY, "query": "b"}, int)
    with pytest.raises(InvalidInput):
        PageTokens(b"s" * 32).decode(token, QUERY, str)
