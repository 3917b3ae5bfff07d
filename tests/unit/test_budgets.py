"""Rate-limit budgets in process (the embedded default, and what a replica falls back to when Redis is
down), on a fake clock: the sliding-window counter admits the budget and no more, refills smoothly, says
honestly how long to wait, remembers a refusal, and holds a bounded number of keys. The leases shared
through Redis are tested against a real one in tests/integration/test_budgets_redis.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.ratelimit import peer_host
from service.auth.budgets import Budgets, _Windows, parse_limit
from service.auth.scopes import call_cost, message_cost
from service.domain.errors import RateLimited


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_budget_is_admitted_and_no_more() -> None:
    clock = Clock()
    budgets = Budgets("10/second", clock=clock)
    for _ in range(5):
        await budgets.take("ada", 2)
    with pytest.raises(RateLimited) as refused:
        await budgets.take("ada", 1)
    assert refused.value.reason == "RATE_LIMITED" and refused.value.metadata["limit"] == "10/second"
    assert 0 < refused.value.retry_after_s <= 2.0
    await budgets.take("bob", 10)  # budgets are per key


async def test_the_wait_it_names_is_the_wait() -> None:
    """After the RetryInfo wait the same call fits; a little before it, it does not."""
    clock = Clock(1_000_000.5)  # half-way through a window
    budgets = Budgets("10/second", clock=clock)
    await budgets.take("ada", 10)
    clock.now += 0.6  # into the next window: the previous one's 10 still weigh 0.9 x 10
    with pytest.raises(RateLimited) as refused:
        await budgets.take("ada", 3)
    wait = refused.value.retry_after_s
    fresh = _Windows(parse_limit("10/second"), clock, 100)  # the same history, without the refusal memo
    clock.now = 1_000_000.5
    assert fresh.take("ada", 10) == 0
    clock.now += 0.6
    assert fresh.take("ada", 3) == pytest.approx(wait, abs=1e-9)
    clock.now += wait * 0.9
    assert fresh.take("ada", 3) > 0
    clock.now += wait * 0.1 + 1e-6
    assert fresh.take("ada", 3) == 0


async def test_a_refusal_is_answered_from_memory_until_its_wait_passes() -> None:
    clock = Clock()
    budgets = Budgets("20/minute", clock=clock)
    await budgets.take("ada", 20)
    with pytest.raises(RateLimited) as first:
        await budgets.take("ada", 1)
    clock.now += first.value.retry_after_s / 2
    with pytest.raises(RateLimited) as second:
        await budgets.take("ada", 1)
    assert second.value.retry_after_s == pytest.approx(first.value.retry_after_s / 2)


@given(st.lists(st.tuples(st.floats(0, 0.5), st.integers(1, 7)), max_size=200))
def test_no_sliding_window_admits_more_than_the_budget(steps: list[tuple[float, int]]) -> None:
    """Whatever the arrivals, what was admitted within any one window, weighted as the sliding window
    counts it, stays within the budget (checked against the history of admitted units)."""
    clock = Clock()
    windows = _Windows(parse_limit("20/second"), clock, 100)
    admitted: list[tuple[float, int]] = []
    for dt, cost in steps:
        clock.now += dt
        if windows.take("k", cost) == 0:
            admitted.append((clock.now, cost))
        index, into = divmod(clock.now, 1.0)
        current = sum(c for t, c in admitted if t // 1.0 == index)
        previous = sum(c for t, c in admitted if t // 1.0 == index - 1)
        assert previous * (1 - into) + current <= 20 + 1e-9


def test_keys_are_bounded() -> None:
    clock = Clock()
    windows = _Windows(parse_limit("20/second"), clock, 100)
    for n in range(1000):
        windows.take(f"k{n}", 1)
        clock.now += 0.001
    assert len(windows) <= 100


async def test_held_refusals_are_bounded() -> None:
    clock = Clock()
    budgets = Budgets("20/minute", clock=clock, max_keys=50)
    for n in range(500):
        await budgets.take(f"k{n}", 20)
        with pytest.raises(RateLimited):
            await budgets.take(f"k{n}", 1)
    assert len(budgets._held) <= 50 and len(budgets._local) <= 50


def test_a_bad_limit_is_named() -> None:
    with pytest.raises(ValueError, match="1000/second"):
        parse_limit("lots")
    with pytest.raises(ValueError, match="at least 1"):
        parse_limit("0/second")


def test_costs_come_from_the_method_table() -> None:
    assert call_cost("/wellspring.v1.UserService/GetUser") == 1
    assert call_cost("/wellspring.v1.PostService/ListPosts") > call_cost("/wellspring.v1.PostService/GetPost")
    assert call_cost("/wellspring.v1.CommentService/BatchGetComments") == 5
    assert message_cost("/wellspring.v1.UserService/ImportUsers") > call_cost(
        "/wellspring.v1.UserService/GetUser"
    )
    assert message_cost("/wellspring.v1.UserService/ExportUsers") == 0
    assert call_cost("/grpc.health.v1.Health/Check") == 1


def test_an_anonymous_caller_is_its_host() -> None:
    assert peer_host("ipv4:127.0.0.1:50432") == "ipv4:127.0.0.1"
    assert peer_host("ipv6:[::1]:50432") == "ipv6:[::1]"
    assert peer_host("unix:/tmp/sock") == "unix:/tmp/sock"
