"""Retries and deadlines (wellspring_client/_retry.py, through the client): reads retry UNAVAILABLE with
exponential backoff and full jitter inside one deadline, writes only with a request_id, and stale data
may be served when the server is unavailable. The fake sleep records each backoff; rng is fixed at 0.5,
so every wait is half its cap (0.05 s doubling per attempt)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from tests.client_fakes import ClientEnv
from wellspring_client import DeadlineExceeded, ResourceExhausted, RetryPolicy, Unavailable, User


def timeouts(env: ClientEnv, method: str) -> list[float | None]:
    return [c.timeout for c in env.fake.calls_of(method)]


async def test_reads_retry_unavailable_with_exponential_backoff_and_jitter(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    env.fake.fail("GetUser", Unavailable("down"), times=3)
    client = env.client(timeout_s=10)

    assert await client.get_user("ada") == ada

    assert env.sleep.delays == pytest.approx([0.025, 0.05, 0.1])
    # one deadline for all attempts: each carries what is left of it
    assert timeouts(env, "GetUser") == pytest.approx([10, 9.975, 9.925, 9.825])
    assert (client.stats.rpcs, client.stats.retries) == (4, 3)


async def test_jitter_scales_each_backoff_by_the_random_draw() -> None:
    policy = RetryPolicy(attempts=5, initial_backoff_s=0.1, max_backoff_s=0.5, multiplier=2)
    draws = iter([1.0, 0.5, 0.25, 1.0])
    assert list(policy.backoffs(lambda: next(draws))) == pytest.approx([0.1, 0.1, 0.1, 0.5])


async def test_retries_stop_when_attempts_run_out(env: ClientEnv) -> None:
    env.fake.fail("GetUser", Unavailable("down"), times=100)
    client = env.client(retry=RetryPolicy(attempts=3))
    with pytest.raises(Unavailable):
        await client.get_user("ada")
    assert env.fake.count("GetUser") == 3
    assert env.sleep.delays == pytest.approx([0.025, 0.05])


async def test_retries_stop_before_sleeping_past_the_deadline(env: ClientEnv) -> None:
    env.fake.fail("GetUser", Unavailable("down"), times=100)
    client = env.client(timeout_s=0.3)

    with pytest.raises(Unavailable):  # the last Unavailable: the next wait would end past the deadline
        await client.get_user("ada")

    assert env.sleep.delays == pytest.approx([0.025, 0.05, 0.1])  # the next, 0.2, would end at 0.375
    assert timeouts(env, "GetUser") == pytest.approx([0.3, 0.275, 0.225, 0.125])


async def test_a_slow_attempt_ends_at_the_overall_deadline(env: ClientEnv) -> None:
    env.fake.latency["GetUser"] = 0.4
    env.fake.fail("GetUser", Unavailable("down"), times=100)
    client = env.client(timeout_s=1.0)

    with pytest.raises(DeadlineExceeded):
        await client.get_user("ada")

    assert timeouts(env, "GetUser") == pytest.approx([1.0, 0.575, 0.125])
    assert env.clock.now == pytest.approx(1000.0 + 1.0)


async def test_the_servers_retry_delay_is_honoured(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    delay = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000))
    env.fake.fail("GetUser", Unavailable("shutting down", details=(delay,)))
    client = env.client()

    assert await client.get_user("ada") == ada
    assert env.sleep.delays == pytest.approx([1.5])


def rate_limited(wait_s: float) -> ResourceExhausted:
    seconds = int(wait_s)
    delay = duration_pb2.Duration(seconds=seconds, nanos=int((wait_s - seconds) * 1e9))
    info = error_details_pb2.ErrorInfo(reason="RATE_LIMITED", domain="wellspring.v1")
    return ResourceExhausted(
        "rate limit reached", details=(info, error_details_pb2.RetryInfo(retry_delay=delay))
    )


async def test_a_rate_limited_write_is_sent_again_after_the_servers_wait(env: ClientEnv) -> None:
    """Refused for the rate limit, it never ran: a write without a request_id is retried too."""
    env.fake.put_user("ada")
    env.fake.fail("UpdateUser", rate_limited(2.5), times=2)
    client = env.client()

    updated = await client.update_user(User(id="ada", display_name="Ada L."))

    assert updated.display_name == "Ada L." and env.fake.count("UpdateUser") == 3
    assert env.sleep.delays == pytest.approx([2.5, 2.5])


async def test_rate_limited_retries_are_bounded(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.fail("GetUser", rate_limited(0.2), times=10)
    client = env.client(retry=RetryPolicy(rate_limited_retries=2))

    with pytest.raises(ResourceExhausted) as refused:
        await client.get_user("ada")

    assert refused.value.reason == "RATE_LIMITED" and env.fake.count("GetUser") == 3


async def test_other_exhausted_limits_are_not_retried(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    info = error_details_pb2.ErrorInfo(reason="TOO_MANY_WATCHERS", domain="wellspring.v1")
    env.fake.fail("GetUser", ResourceExhausted("full", details=(info,)))
    client = env.client()

    with pytest.raises(ResourceExhausted):
        await client.get_user("ada")
    assert env.fake.count("GetUser") == 1


@pytest.mark.parametrize("read_mask", [None, ["display_name"]], ids=["coalesced", "masked"])
async def test_a_longer_timeout_extends_the_shared_reads_deadline(env: ClientEnv, read_mask: Any) -> None:
    env.fake.fail("GetUser", Unavailable("down"), times=100)
    client = env.client(timeout_s=0.3)

    with pytest.raises(Unavailable):
        await client.get_user("ada", read_mask=read_mask, timeout=0.5)

    assert timeouts(env, "GetUser") == pytest.approx([0.5, 0.475, 0.425, 0.325, 0.125])
    assert sum(env.sleep.delays) < 0.5


@pytest.mark.parametrize("read_mask", [None, ["display_name"]], ids=["coalesced", "masked"])
async def test_a_shorter_timeout_bounds_only_its_own_wait(env: ClientEnv, read_mask: Any) -> None:
    # The RPC may be shared with later callers: it runs under the client's deadline (retries included),
    # and the impatient caller alone gives up at its own.
    ada = env.fake.put_user("ada")
    client = env.client(timeout_s=10)
    gate = env.fake.hold("GetUser")
    impatient = asyncio.ensure_future(client.get_user("ada", read_mask=read_mask, timeout=0.01))
    await gate.arrived()
    with pytest.raises(DeadlineExceeded):
        await impatient
    gate.release()
    assert timeouts(env, "GetUser") == pytest.approx([10])
    expected = ada if read_mask is None else User(id="ada", display_name=ada.display_name)
    assert await client.get_user("ada", read_mask=read_mask) == expected
    assert env.fake.count("GetUser") == 1  # the abandoned call's answer was kept


async def test_list_and_batch_get_retry_too(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.fail("ListUsers", Unavailable("down"))
    env.fake.fail("BatchGetUsers", Unavailable("down"))
    client = env.client()
    assert [u.id for u in (await client.list_users_page()).items] == ["ada"]
    client.invalidate()
    assert [u.id for u in await client.batch_get_users(["ada", "ada"])] == ["ada", "ada"]
    assert (env.fake.count("ListUsers"), env.fake.count("BatchGetUsers")) == (2, 2)


WRITES = {
    "create": (
        "CreateUser",
        lambda c: c.create_user(User(email="a@example.com", display_name="A"), user_id="a"),
    ),
    "update": ("UpdateUser", lambda c: c.update_user(User(id="ada", display_name="Ada L."))),
    "delete": ("DeleteUser", lambda c: c.delete_user("ada")),
}


@pytest.mark.parametrize(("method", "write"), WRITES.values(), ids=WRITES.keys())
async def test_writes_without_request_id_are_never_retried(env: ClientEnv, method: str, write: Any) -> None:
    env.fake.put_user("ada")
    env.fake.fail(method, Unavailable("connection reset"))
    client = env.client()

    with pytest.raises(Unavailable):
        await write(client)

    assert env.fake.count(method) == 1
    assert env.sleep.delays == []


async def test_create_with_request_id_is_retried(env: ClientEnv) -> None:
    env.fake.fail("CreateUser", Unavailable("connection reset"), times=2)
    client = env.client()

    created = await client.create_user(User(email="ada@example.com", display_name="Ada"), request_id="r-1")

    assert created == env.fake.user(created.id)
    assert [c.request.request_id for c in env.fake.calls_of("CreateUser")] == ["r-1"] * 3
    assert env.sleep.delays == pytest.approx([0.025, 0.05])
    assert client.cached_user(created.id) == created


@pytest.mark.parametrize(
    ("options", "allow_stale"),
    [({"serve_stale_on_unavailable": True}, None), ({}, True)],
    ids=["client-option", "per-call"],
)
async def test_the_old_value_is_served_when_the_refresh_is_unavailable(
    env: ClientEnv, options: dict[str, Any], allow_stale: bool | None
) -> None:
    ada = env.fake.put_user("ada")
    client = env.client(**options)
    await client.get_user("ada")
    client.invalidate(("users",))
    env.fake.fail("GetUser", Unavailable("down"), times=100)

    assert await client.get_user("ada", allow_stale=allow_stale) == ada
    assert client.stats.served_stale_offline == 1


@pytest.mark.parametrize(
    ("options", "allow_stale"),
    [({}, None), ({"serve_stale_on_unavailable": True}, False)],
    ids=["default", "per-call-refusal"],
)
async def test_unavailable_is_raised_unless_stale_data_is_allowed(
    env: ClientEnv, options: dict[str, Any], allow_stale: bool | None
) -> None:
    env.fake.put_user("ada")
    client = env.client(**options)
    await client.get_user("ada")
    client.invalidate(("users",))
    env.fake.fail("GetUser", Unavailable("down"), times=100)

    with pytest.raises(Unavailable):
        await client.get_user("ada", allow_stale=allow_stale)
    assert client.stats.served_stale_offline == 0


async def test_data_past_evict_after_is_not_served_even_when_unavailable(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client(serve_stale_on_unavailable=True, stale_after_s=5, evict_after_s=60)
    await client.get_user("ada")
    env.clock.advance(60)
    env.fake.fail("GetUser", Unavailable("down"), times=100)

    with pytest.raises(Unavailable):
        await client.get_user("ada")


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"initial_backoff_s": -1}, {"multiplier": 0.5}])
def test_a_policy_that_cannot_work_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(**bad)
