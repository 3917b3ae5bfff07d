"""``SyncWellspringClient``'s surface: the async client's public methods, each visible to ``dir()`` and
``help()``, and its calls on a FakeTransport."""

from __future__ import annotations

import inspect

from tests.client_fakes import FakeTransport
from wellspring_client import SyncWellspringClient, WellspringClient
from wellspring_client.sync import public_methods


def test_the_sync_client_has_every_public_method_of_the_async_one() -> None:
    """Issue 10: ``dir(SyncWellspringClient(...))`` showed four names (the rest came from __getattr__)."""
    expected = public_methods(WellspringClient)
    assert len(expected) > 30
    assert public_methods(SyncWellspringClient) == expected
    with SyncWellspringClient(transport=FakeTransport()) as client:
        assert expected <= set(dir(client))


def test_each_sync_method_says_what_it_does_and_takes_the_same_parameters() -> None:
    for name in public_methods(WellspringClient) - {"get_user", "get_post", "close"}:
        method, original = getattr(SyncWellspringClient, name), getattr(WellspringClient, name)
        assert inspect.getdoc(original) in (inspect.getdoc(method) or ""), name
        sync_params = list(inspect.signature(method).parameters)
        async_params = [p for p in inspect.signature(original).parameters if p != "self"]
        assert sync_params == ["self", *async_params], name
    assert inspect.signature(SyncWellspringClient.list_users).return_annotation == "Iterator[User]"
    assert inspect.signature(SyncWellspringClient.create_user).return_annotation == "User"


def test_parallel_takes_functions_that_make_the_reads() -> None:
    fake = FakeTransport()
    ada, bob = fake.put_user("ada"), fake.put_user("bob")
    with SyncWellspringClient(transport=fake) as client:
        got = client.parallel(lambda: client.client.get_user("ada"), lambda: client.client.get_user("bob"))
        assert got == [ada, bob] and fake.count("BatchGetUsers") == 1
        client.invalidate()
        assert (
            client.dependent(lambda: client.client.get_user("ada"), lambda u: client.client.get_user("bob"))
            == bob
        )
