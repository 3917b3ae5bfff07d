"""``SyncWellspringClient``'s surface: every public name of the async client, written out and typed (no
``__getattr__``, nothing made at import), each with a docstring and the same parameters; and its calls on
a FakeTransport."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest

from tests.client_fakes import FakeTransport
from wellspring_client import ResourceClient, SyncResourceClient, SyncWellspringClient, WellspringClient
from wellspring_client.sync import public_methods


def test_the_sync_client_has_every_public_method_of_the_async_one() -> None:
    """Issue 10: ``dir(SyncWellspringClient(...))`` showed four names (the rest came from __getattr__)."""
    expected = public_methods(WellspringClient)
    assert len(expected) > 30
    assert public_methods(SyncWellspringClient) == expected
    assert public_methods(SyncResourceClient) == public_methods(ResourceClient)
    assert not hasattr(SyncWellspringClient, "__getattr__")
    with SyncWellspringClient(transport=FakeTransport()) as client:
        assert expected <= set(dir(client))
        assert set(client.resources) == set(client.client.resources)


def parameters(method: Any) -> list[str]:
    """``method``'s parameter names, with a typed ``**options: Unpack[SomeOptions]`` spelled out as the
    keys of ``SomeOptions`` (and ``self`` left out)."""
    hints = typing.get_type_hints(method)
    names: list[str] = []
    for name, param in inspect.signature(method).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            [options] = typing.get_args(hints[name])  # Unpack[T] -> T
            names += sorted(options.__annotations__)
        elif name != "self":
            names.append(name)
    return names


def spelled_out(method: Any) -> list[str]:
    """The positional parameters in order, then the keyword ones sorted: how ``parameters`` orders."""
    names = parameters(method)
    params = inspect.signature(method).parameters
    positional = [n for n in names if n in params and params[n].kind is not params[n].KEYWORD_ONLY]
    return positional + sorted(n for n in names if n not in positional)


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"),
    [(SyncWellspringClient, WellspringClient), (SyncResourceClient, ResourceClient)],
)
def test_each_sync_method_has_a_docstring_and_takes_the_same_parameters(
    sync_cls: type, async_cls: type
) -> None:
    for name in public_methods(async_cls):
        method, original = getattr(sync_cls, name), getattr(async_cls, name)
        assert inspect.getdoc(method), name
        assert spelled_out(method) == spelled_out(original), name


def test_the_sync_methods_are_typed_with_what_they_return() -> None:
    assert inspect.signature(SyncWellspringClient.list_users).return_annotation == "Iterator[User]"
    assert inspect.signature(SyncWellspringClient.create_user).return_annotation == "User"
    assert inspect.signature(SyncResourceClient.get).return_annotation == "T"
    assert inspect.signature(SyncResourceClient.export).return_annotation == "SyncExport[T]"


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
