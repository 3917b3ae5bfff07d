"""Fuzz every RPC of every registered collection's service over a real channel.

The services are those of ``service.domain.specs.REGISTRY`` (their bindings name them), the methods are
discovered from the service descriptors (a new collection or RPC is fuzzed without touching this file):
unary ones, Import (a client stream of 0-3 messages) and Export (a server stream, read to its end). Each
request is generated from its message descriptor: hostile strings (empty, ~5000 characters,
astral, NUL, SQL and LIKE metacharacters), integer extremes, 1000+ item repeated fields, out-of-range
timestamps, field masks with arbitrary paths, forged and tampered page tokens, mixed with values that
exist (seeded ids, emails, current etags, real page tokens) so requests also get past validation. Each
method also gets raw, mostly undecodable, bytes.

Hypothesis drives async tests through pytest-asyncio, which runs every example on the session loop, the
loop the server lives on.

The contract checked for every answer: OK, or an error whose code is neither UNKNOWN nor INTERNAL, whose
message, trailers and status details show no internals (tracebacks, driver names, SQL), and that the
server did not log as an unhandled error. Anything else fails with the request and the server-side
traceback.

The fuzzer writes (creates, updates, imports, force-deletes random ids) and so runs against servers of its
own, one per backend, built like the shared ``app`` fixture, rather than the session-wide ones the other
end-to-end tests read back from. The seed data is derived from the registry: a few resources of every
collection, parents first, with odd but valid text. Seeded rows are put back before every example (only
those that changed) so references keep hitting existing rows. ``-m "not postgres"`` leaves out the
PostgreSQL half.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2  # noqa: F401  (registers the detail types for unpacking)
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from wellspring.v1 import resources_pb2

from service.api.bindings import BINDINGS
from service.bootstrap import SERVICE_NAMES, App
from service.domain import commands
from service.domain.errors import DomainError, NotFound
from service.domain.specs import REGISTRY, Filter, FilterKind
from tests.conftest import fresh_pg_database, sqlite_url_for, start_app
from tests.e2e.helpers import create_request, parents_first, stubs, valid_fields

# --------------------------------------------------------------------------------------------------------
# Budget. Every example is one RPC plus an in-process restore of the seed rows that changed; the examples
# per method are sized so that all of them stay within ~1.5x of what two collections' unary methods took.
# WELLSPRING_FUZZ_SCALE=10 (say) fuzzes ten times longer.
_SCALE = float(os.environ.get("WELLSPRING_FUZZ_SCALE", "1"))
TYPED_EXAMPLES = max(1, int(45 * _SCALE))
RAW_EXAMPLES = max(1, int(12 * _SCALE))
RPC_TIMEOUT_S = 20.0
MAX_STREAMED = 3  # request messages per client stream

# --------------------------------------------------------------------------------------------------------
# The methods under test, from the descriptors.

SERVICES = tuple(BINDINGS[spec.collection].service for spec in REGISTRY)
METHODS: dict[str, MethodDescriptor] = {
    method.full_name: method for service in SERVICES for method in service.methods
}
assert METHODS, "no methods discovered"

RESOURCES = tuple(resources_pb2.DESCRIPTOR.message_types_by_name.values())


def method_path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


# --------------------------------------------------------------------------------------------------------
# Seed data and the pools of "existing" values the strategies draw from.


SEEDS_PER_COLLECTION = 4  # with chosen ids; one more each gets a server-generated id
# Odd but valid text for the seeds' free-text fields: astral, dotted capitals, LIKE and SQL metacharacters.
FLAVOURS = ("", "\U0001f600 Ünïcödé \u0130 ", "with % and _ and ' ", "a_b a%b \\ ")
SHARED_ITEM = "common"  # in every seeded list field: a HAS filter with more than one page


@dataclass(frozen=True)
class Seed:
    """One seeded resource: its collection, id and writable fields as stored (normalised)."""

    collection: str
    id: str
    fields: Any


@dataclass
class Pools:
    """Values that exist on the server. Mutable: strategies index into the lists when they draw."""

    ids: dict[str, list[str]] = field(default_factory=lambda: {spec.collection: [] for spec in REGISTRY})
    uniques: list[str] = field(default_factory=list)  # seeded values of fields unique per collection
    texts: list[str] = field(default_factory=list)  # seeded text: for prefix and item filters
    etags: list[str] = field(default_factory=list)
    live_etags: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    seconds: list[int] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=lambda: ["req-1", "req-2", "same-key"])
    seeds: list[Seed] = field(default_factory=list)  # parents first

    def reset(self) -> None:
        self.__dict__.update(Pools().__dict__)


POOLS = Pools()


def _pick_from(values: Callable[[], list[Any]], fallback: str | int = "") -> st.SearchStrategy[Any]:
    """One of ``values()``, read at draw time (the pools are filled by the seed fixture)."""

    def choose(i: int) -> Any:
        found = values()
        return found[i % len(found)] if found else fallback

    return st.integers(min_value=0, max_value=255).map(choose)


def _pick(attr: str, fallback: str | int = "") -> st.SearchStrategy[Any]:
    return _pick_from(lambda: getattr(POOLS, attr), fallback)


def _ids(collection: str) -> st.SearchStrategy[str]:
    return _pick_from(lambda: POOLS.ids[collection])


# The request fields that name a resource of some collection: references (``author_id``, ``post_id``) and
# the client-chosen ids of Create (``{resource}_id``).
ID_FIELDS = {ref.field: ref.collection for spec in REGISTRY for ref in spec.references}
ID_FIELDS |= {f"{spec.resource}_id": spec.collection for spec in REGISTRY}
ORDERINGS = sorted({name for spec in REGISTRY for name in spec.orderings})
TEXT_FILTERS = {
    f.name for spec in REGISTRY for f in spec.filters if f.kind in (FilterKind.PREFIX, FilterKind.HAS)
}
WRITABLE = sorted({name for spec in REGISTRY for name in spec.writable})


# --------------------------------------------------------------------------------------------------------
# Strategies for scalars.

SPECIAL_STRINGS = [
    "",
    " ",
    "\t\n",
    "a",
    "ada",
    "Ada",
    "ADA",
    "-",
    "a-b",
    "a" * 63,
    "a" * 64,
    "'; DROP TABLE users;--",
    "'; DROP TABLE posts;--",
    "' OR '1'='1",
    '" OR 1=1 --',
    "1; SELECT * FROM users",
    "%",
    "%%",
    "_",
    "a%",
    "%a%",
    "a_",
    "\\",
    "\\%",
    "?",
    ":id",
    "$1",
    "\x00",
    "a\x00",
    "\x00ada",
    "ada\x00",
    "*",
    ".",
    "..",
    "/",
    "users/ada",
    "null",
    "NULL",
    "None",
    "true",
    "0",
    "-1",
    "\U0001f600",
    "\U0001f600" * 3,
    "\U0010ffff",
    "ada\U0010ffff",
    "\U000e0001",
    "\u202e",
    "\ufeff",
    "\u0130",
    "\u0130" * 100,
    "ß",
    "\ufb01",
    "\u01c5",
    "\u00a0",
    "\u2028",
    "e\u0301",
    "\u0000\u0001\u001f\u007f",
    "create_time",
    "create_time desc",
    "create_time asc",
    "create_time DESC",
    "create_time  desc",
    "title",
    "title desc",
    "display_name",
    "display_name desc",
    "title desc extra",
    "desc",
    "ada@example.com",
    "ADA@EXAMPLE.COM",
    "a@b.c",
    "@",
    "a@b",
    "a@@b.c",
]
# ... and what the registry makes special: every ordering (either way), every collection's name.
SPECIAL_STRINGS += sorted(
    {f"{name}{way}" for name in ORDERINGS for way in ("", " desc")}
    | {f"{c}{suffix}" for c in REGISTRY.names for suffix in ("", "/ada", ";--")} - set(SPECIAL_STRINGS)
)

_HUGE_CHUNKS = ["a", "é", "\U0001f600", "%_", "\x00", "a-", "ada ", "'", "\u0130"]


def huge_strings() -> st.SearchStrategy[str]:
    """Long strings, cheap to generate: a short chunk repeated up to ~5000 characters."""
    chunk = st.one_of(st.sampled_from(_HUGE_CHUNKS), st.text(min_size=1, max_size=4))
    return st.builds(
        lambda c, n: (c * (n // len(c) + 1))[:n], chunk, st.integers(min_value=60, max_value=5000)
    )


ID_LIKE = st.one_of(st.from_regex(r"[a-z0-9-]{1,63}", fullmatch=True), *map(_ids, REGISTRY.names))

SHORT_STRINGS = st.one_of(st.sampled_from(SPECIAL_STRINGS), ID_LIKE)

GENERIC_STRINGS = st.one_of(
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=40),  # all of Unicode except surrogates, astral planes included
    ID_LIKE,
    huge_strings(),
    st.text(alphabet=string.ascii_letters + string.digits + "%_'\"\\;-*.@ \x00", max_size=30),
)

EMAILS = st.one_of(
    _pick("uniques"),
    _pick("uniques").map(str.upper),
    st.emails(),
    st.builds(lambda a, b: f"{a}@{b}.io", st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20)),
    st.builds(lambda s: s + "@x.io", huge_strings()),
)

ETAGS = st.one_of(_pick("live_etags"), _pick("etags"), st.from_regex(r"[0-9a-f]{18}", fullmatch=True))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tamper(token: str, position: int, op: int, char: str) -> str:
    if not token:
        return char
    i = position % len(token)
    if op == 0:  # replace one character
        return token[:i] + char + token[i + 1 :]
    if op == 1:  # truncate
        return token[:i]
    if op == 2:  # append
        return token + char
    if op == 3:  # insert
        return token[:i] + char + token[i:]
    if op == 4:  # swap body and signature
        body, _, mac = token.partition(".")
        return f"{mac}.{body}"
    if op == 5:  # another payload under this signature
        _, _, mac = token.partition(".")
        return _b64(json.dumps({"q": "0" * 24, "s": 0, "i": "ada"}).encode()) + "." + mac
    return token + "." + token  # two dots


TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_=.+/"

TOKENS = st.one_of(
    _pick("tokens"),
    st.builds(
        _tamper,
        _pick("tokens"),
        st.integers(min_value=0, max_value=4096),
        st.integers(min_value=0, max_value=6),
        st.sampled_from(["A", "=", ".", "-", "_", "+", "/", "\x00", "\U0001f600", "é", " "]),
    ),
    st.text(alphabet=TOKEN_ALPHABET, max_size=120),
    st.builds(lambda a, b: f"{_b64(a)}.{_b64(b)}", st.binary(max_size=80), st.binary(max_size=24)),
    st.builds(
        lambda s, i: _b64(json.dumps({"q": "x", "s": s, "i": i}).encode()) + "." + _b64(b"\0" * 16),
        st.one_of(st.integers(), st.text(max_size=10), st.none(), st.lists(st.integers(), max_size=2)),
        st.one_of(st.text(max_size=10), st.integers()),
    ),
    st.builds(lambda n: "A" * n + "." + "A", st.integers(min_value=2000, max_value=5000)),
    st.text(max_size=40),
)

ORDER_BYS = st.one_of(
    st.sampled_from([s for s in SPECIAL_STRINGS if s.split()[:1] in [[name] for name in ORDERINGS]]),
    st.builds(
        lambda f, d: f"{f} {d}",
        st.sampled_from(sorted({*ORDERINGS, *WRITABLE, "id", "Title"})),
        st.sampled_from(["asc", "desc", "DESC", "Asc", "descending", "", "desc desc", "\x00"]),
    ),
    GENERIC_STRINGS,
)


def mostly(plausible: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three times in four a value the service accepts, else a hostile one.

    Requests with every field hostile never get past validation; with most fields plausible they reach
    the database code with one or two bad values. Shrinking goes to the plausible side, so a minimal
    failing request keeps only the hostile values that matter.
    """
    return st.integers(min_value=0, max_value=3).flatmap(lambda i: hostile if i == 3 else plausible)


# Which collection a message belongs to: its resource message, or the messages of its service's file.
_COLLECTION_OF = {BINDINGS[c].message.DESCRIPTOR.full_name: c for c in REGISTRY.names}
_COLLECTION_OF |= {BINDINGS[c].api.DESCRIPTOR.name: c for c in REGISTRY.names}


def collection_of(f: FieldDescriptor) -> str | None:
    holder = f.containing_type
    return _COLLECTION_OF.get(holder.full_name) or _COLLECTION_OF.get(holder.file.name)


def _prefixes(text: str, n: int) -> str:
    return text[:n]


def plausible_strings(f: FieldDescriptor) -> st.SearchStrategy[str]:
    name = f.name
    fresh_id = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
    if name in ID_FIELDS:
        return st.one_of(_ids(ID_FIELDS[name]), fresh_id)
    if name in ("id", "ids") or name.endswith("_id") or name.endswith("_ids"):
        own = collection_of(f)
        return st.one_of(*([_ids(own)] * 2 if own else []), ID_LIKE, fresh_id)
    if "email" in name:
        return st.one_of(_pick("uniques"), st.from_regex(r"[a-z0-9.]{1,12}@example\.com", fullmatch=True))
    if "etag" in name:
        return st.one_of(st.just(""), _pick("live_etags"))
    if "token" in name:
        return st.one_of(st.just(""), _pick("tokens"))
    if name == "order_by":
        return st.sampled_from(["", *(f"{o}{way}" for o in ORDERINGS for way in ("", " desc"))])
    if name in TEXT_FILTERS or name in ("tag", "tags"):
        seeded = st.builds(_prefixes, _pick("texts"), st.integers(min_value=0, max_value=8))
        return st.one_of(seeded, _pick("texts"), st.sampled_from(["", "\U0001f600", "%", "_", "new-tag"]))
    return st.text(alphabet=string.ascii_letters + string.digits + " -", min_size=1, max_size=20)


def hostile_strings(f: FieldDescriptor) -> st.SearchStrategy[str]:
    """Hostile strings for any field, with more of the values that reach deep code for well-known names."""
    name = f.name
    specific: list[st.SearchStrategy[str]] = []
    if name in ("id", "ids") or name.endswith("_id") or name.endswith("_ids"):
        specific.append(ID_LIKE)
    if name == "request_id":
        specific.append(_pick("request_ids"))
    if "email" in name:
        specific.append(EMAILS)
    if "etag" in name:
        specific.append(ETAGS)
    if "token" in name:
        specific.append(TOKENS)
    if name == "order_by":
        specific.append(ORDER_BYS)
    if name in ("tag", "tags"):
        specific.append(st.sampled_from(["x" * 50, "x" * 51, "", " ", "\x00"]))
    return st.one_of(*specific, GENERIC_STRINGS)


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def extreme_integers(lo: int, hi: int, extra: tuple[int, ...] = ()) -> st.SearchStrategy[int]:
    edges = {lo, lo + 1, hi - 1, hi, -1, 0, 1, 2, 19, 20, 21, 49, 50, 51, 999, 1000, 1001, *extra}
    edges |= {2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32, 2**53}
    return st.one_of(
        st.sampled_from(sorted(v for v in edges if lo <= v <= hi)),
        st.integers(min_value=max(lo, -1100), max_value=min(hi, 1100)),
        st.integers(min_value=lo, max_value=hi),
    )


def scalars(f: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = f.type
    if t == FieldDescriptor.TYPE_STRING:
        return mostly(plausible_strings(f), hostile_strings(f))
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        return mostly(st.integers(min_value=max(lo, 0), max_value=100), extreme_integers(lo, hi))
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_BYTES:
        return mostly(st.binary(max_size=20), st.binary(max_size=500))
    if t == FieldDescriptor.TYPE_DOUBLE:
        return mostly(st.floats(min_value=0, max_value=100), st.floats())
    if t == FieldDescriptor.TYPE_FLOAT:
        return mostly(st.floats(min_value=0, max_value=100, width=32), st.floats(width=32))
    if t == FieldDescriptor.TYPE_ENUM:
        known = st.sampled_from([v.number for v in f.enum_type.values])
        if getattr(f.enum_type, "is_closed", False):
            return known
        return mostly(known, extreme_integers(-(2**31), 2**31 - 1))
    raise AssertionError(f"unhandled field type {t} of {f.full_name}")


def _cheap(f: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Elements for 1000+ item lists: generated fast."""
    if f.type == FieldDescriptor.TYPE_STRING:
        return SHORT_STRINGS
    return scalars(f)


def lists_of(
    plausible: st.SearchStrategy[Any], mixed: st.SearchStrategy[Any], cheap: st.SearchStrategy[Any]
) -> st.SearchStrategy[list[Any]]:
    """A few acceptable items; or 0-30 of any kind; or now and then 1000+ cheap ones (batch limits)."""

    def big(base: list[Any], n: int) -> list[Any]:
        return [base[i % len(base)] for i in range(n)]

    return mostly(
        st.lists(plausible, min_size=1, max_size=5),
        st.one_of(
            st.lists(mixed, max_size=30),
            st.builds(big, st.lists(cheap, min_size=1, max_size=8), st.sampled_from([1000, 1001, 2000])),
        ),
    )


# Timestamps: the protobuf range is years 0001-9999; the service takes the same range in microseconds.
_MIN_TS_S, _MAX_TS_S = -62_135_596_800, 253_402_300_799


def timestamps(cls: type[Message]) -> st.SearchStrategy[Message]:
    plausible = st.builds(
        lambda s, d, n: cls(seconds=s + d, nanos=n),
        _pick("seconds", 0),
        st.integers(min_value=-100, max_value=100),
        st.integers(min_value=0, max_value=999_999_999),
    )
    seconds = st.one_of(
        extreme_integers(
            -(2**63), 2**63 - 1, (_MIN_TS_S - 1, _MIN_TS_S, _MAX_TS_S, _MAX_TS_S + 1, 2**53, -(2**53))
        ),
        st.builds(lambda s, d: s + d, _pick("seconds", 0), st.integers(min_value=-2, max_value=2)),
    )
    nanos = st.one_of(
        st.integers(min_value=0, max_value=999_999_999),
        extreme_integers(-(2**31), 2**31 - 1, (999_999_999, 1_000_000_000, 999, 1000, 500_000)),
    )
    return mostly(plausible, st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos))


def mask_paths(resource: Descriptor | None) -> list[str]:
    """Every path into the resource (all resources when unknown), nested ones included."""
    paths: list[str] = []
    for desc in (resource,) if resource is not None else RESOURCES:
        for f in desc.fields:
            paths.append(f.name)
            if f.message_type is not None:
                paths.extend(f"{f.name}.{sub.name}" for sub in f.message_type.fields)
    return sorted(set(paths))


def field_masks(cls: type[Message], resource: Descriptor | None) -> st.SearchStrategy[Message]:
    known = mask_paths(resource)
    every = mask_paths(None)
    weird = [
        "*",
        "",
        ".",
        "..",
        "a..b",
        *(f"{spec.resource}.{spec.writable[0]}" for spec in REGISTRY),
        "id.id",
        "tags.x",
        "create_time.nope",
        "*.*",
    ]
    path = st.one_of(st.sampled_from(every), st.sampled_from(weird), GENERIC_STRINGS)
    plausible = st.one_of(
        st.just([]), st.just(["*"]), st.lists(st.sampled_from(known), min_size=1, max_size=4)
    )
    hostile = st.one_of(
        st.lists(path, max_size=30),
        st.builds(
            lambda base, n: [base[i % len(base)] for i in range(n)],
            st.lists(st.sampled_from(["*", *WRITABLE, "x", "\x00", "id"]), min_size=1, max_size=4),
            st.sampled_from([1000, 1001, 2000]),
        ),
    )
    return mostly(plausible, hostile).map(lambda paths: cls(paths=paths))


# --------------------------------------------------------------------------------------------------------
# Messages from descriptors.

_MAX_DEPTH = 4


def _message_class(desc: Descriptor) -> type[Message]:
    return GetMessageClass(desc)


def _is_repeated(f: FieldDescriptor) -> bool:
    is_repeated = getattr(f, "is_repeated", None)
    if is_repeated is not None:
        return bool(is_repeated)
    return f.label == FieldDescriptor.LABEL_REPEATED


def _is_map(f: FieldDescriptor) -> bool:
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def field_values(f: FieldDescriptor, depth: int, resource: Descriptor | None) -> st.SearchStrategy[Any]:
    if f.message_type is not None:
        element = message_strategy(f.message_type, depth + 1, resource)
        if _is_map(f) or _is_repeated(f):
            return st.lists(element, max_size=3 if depth else 10)
        return element
    if _is_repeated(f):
        return lists_of(scalars(f), scalars(f), _cheap(f))
    return scalars(f)


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    desc = cls.DESCRIPTOR
    for name, value in values.items():
        f = desc.fields_by_name[name]
        if _is_map(f):
            target = getattr(message, name)
            value_field = f.message_type.fields_by_name["value"]
            for entry in value:
                if value_field.message_type is not None:
                    target[entry.key].CopyFrom(entry.value)
                else:
                    target[entry.key] = entry.value
        elif f.message_type is not None and _is_repeated(f):
            for item in value:
                getattr(message, name).add().CopyFrom(item)
        elif f.message_type is not None:
            getattr(message, name).CopyFrom(value)
        elif _is_repeated(f):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


_MESSAGE_CACHE: dict[tuple[str, int, str], st.SearchStrategy[Message]] = {}


def message_strategy(
    desc: Descriptor, depth: int = 0, resource: Descriptor | None = None
) -> st.SearchStrategy[Message]:
    """Any message, from its descriptor: every field set (dense) or a random subset of them (sparse)."""
    key = (desc.full_name, depth, resource.full_name if resource else "")
    if key in _MESSAGE_CACHE:
        return _MESSAGE_CACHE[key]
    cls = _message_class(desc)
    if desc.full_name == "google.protobuf.Timestamp":
        strategy = timestamps(cls)
    elif desc.full_name == "google.protobuf.FieldMask":
        strategy = field_masks(cls, resource)
    elif depth >= _MAX_DEPTH or not desc.fields:
        strategy = st.just(cls())
    else:
        values = {f.name: field_values(f, depth, resource) for f in desc.fields}
        dense = st.fixed_dictionaries(values)
        sparse = st.fixed_dictionaries({}, optional=values)
        strategy = st.one_of(dense, sparse).map(lambda chosen: _build(cls, chosen))
    _MESSAGE_CACHE[key] = strategy
    return strategy


def resource_of(method: MethodDescriptor) -> Descriptor | None:
    """The resource a method is about, for its field masks: what it returns, or what its request carries."""
    if method.output_type in RESOURCES:
        return method.output_type
    for holder in (method.output_type, method.input_type):
        for f in holder.fields:
            if f.message_type in RESOURCES:
                return f.message_type
    return None


def requests_for(method: MethodDescriptor) -> st.SearchStrategy[Message]:
    return message_strategy(method.input_type, 0, resource_of(method))


def calls_for(method: MethodDescriptor) -> st.SearchStrategy[Message | list[Message]]:
    """What one call sends: a request, or for a client stream 0-MAX_STREAMED of them."""
    one = requests_for(method)
    return st.lists(one, max_size=MAX_STREAMED) if method.client_streaming else one


# --------------------------------------------------------------------------------------------------------
# Raw bytes.

CRAFTED_BYTES = [
    b"",
    b"\x00",  # field number 0
    b"\xff",
    b"\x80" * 11,  # varint that never ends
    b"\x0a\xff\xff\xff\xff\x0f",  # field 1, length far past the end
    b"\x0a\x05ab",  # field 1, truncated
    b"\x0a\x02\xc3\x28",  # field 1, invalid UTF-8
    b"\x0a\x01\x80",  # field 1, lone continuation byte
    b"\x0a\x04\xed\xa0\x80a",  # field 1, encoded surrogate
    b"\x08\x01",  # field 1 as a varint
    b"\x0d\x00\x00\x00\x00",  # field 1 as fixed32
    b"\x0b",  # start group, no end
    b"\x0c",  # end group, no start
    b"\x0b" * 200 + b"\x0c" * 200,  # deeply nested unknown groups
    b"\x12" + b"\x00" * 5,  # field 2, truncated length
    b"\xf8\xff\xff\xff\x0f\x00",  # the largest field number
    b"\xfa\xff\xff\xff\x1f\x00",  # past the largest field number
    b"\x0f",  # wire type 7
    b"\x0e",  # wire type 6
]


def nested_lengths(depth: int, field_byte: int) -> bytes:
    """`depth` messages nested in field `field_byte >> 3`: past the decoder's recursion limit."""
    payload = b""
    for _ in range(depth):
        payload = bytes([field_byte]) + _varint(len(payload)) + payload
    return payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _mutate(data: bytes, position: int, op: int, extra: bytes) -> bytes:
    if not data:
        return extra
    i = position % len(data)
    if op == 0:
        return data[:i]  # truncated
    if op == 1:
        return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]  # one byte flipped
    if op == 2:
        return data + extra  # trailing garbage
    return data[:i] + extra + data[i:]


def raw_calls(method: MethodDescriptor) -> st.SearchStrategy[bytes | list[bytes]]:
    """Raw request bytes, or for a client stream 1-MAX_STREAMED raw messages."""
    one = raw_requests(method)
    return st.lists(one, min_size=1, max_size=MAX_STREAMED) if method.client_streaming else one


def raw_requests(method: MethodDescriptor) -> st.SearchStrategy[bytes]:
    valid = requests_for(method).map(lambda m: m.SerializeToString())
    return st.one_of(
        st.sampled_from(CRAFTED_BYTES),
        st.binary(max_size=300),
        st.builds(nested_lengths, st.sampled_from([50, 101, 200, 1000]), st.sampled_from([0x0A, 0x12, 0x2A])),
        st.builds(
            _mutate,
            valid,
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=3),
            st.binary(min_size=1, max_size=20),
        ),
    )


# --------------------------------------------------------------------------------------------------------
# The oracle.

CODES_THAT_MEAN_A_BUG = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
# Matched case-insensitively, unless they occur in the request itself (some errors quote a bad value).
LEAK_MARKERS = (
    "traceback",
    'file "',
    "sqlite",
    "psycopg",
    "asyncpg",
    "sqlalchemy",
    "integrityerror",
    "operationalerror",
    "programmingerror",
    "constraint failed",
)
# Matched case-sensitively: SQL as a driver prints it.
SQL_MARKERS = ("SELECT", "INSERT", "UPDATE ", "DELETE FROM", " WHERE ")


def _detail_texts(details: Any) -> list[str]:
    texts = []
    for detail in details:
        try:
            desc = descriptor_pool.Default().FindMessageTypeByName(detail.TypeName())
            unpacked = GetMessageClass(desc)()
            detail.Unpack(unpacked)
            texts.append(text_format.MessageToString(unpacked, as_utf8=True))
        except Exception:  # an unknown detail type: look at its bytes
            texts.append(detail.value.decode("utf-8", "replace"))
    return texts


def error_texts(error: grpc.aio.AioRpcError) -> list[str]:
    """Everything the client is shown: message, trailers and the decoded google.rpc.Status details."""
    texts = [error.details() or ""]
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            continue  # decoded below
        texts.append(f"{key}: {value.decode('utf-8', 'replace') if isinstance(value, bytes) else value}")
    try:
        status = rpc_status.from_call(error)
    except Exception as decode_error:  # a grpc-status-details-bin that does not match the status
        texts.append(f"undecodable status details: {decode_error}")
        status = None
    if status is not None:
        texts.append(status.message)
        texts.extend(_detail_texts(status.details))
    return texts


def leaks(texts: list[str], request_text: str) -> list[str]:
    found = []
    haystack = "\n".join(texts)
    for marker in LEAK_MARKERS:
        if marker in haystack.lower() and marker not in request_text.lower():
            found.append(marker)
    for marker in SQL_MARKERS:
        if marker in haystack and marker not in request_text:
            found.append(marker)
    return found


class _ErrorLog(logging.Handler):
    """Collects what the server logs on ``wellspring.errors`` (unhandled exceptions, with tracebacks)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def drain(self) -> str:
        text = "\n".join(self.format(r) for r in self.records)
        self.records.clear()
        return text


def _shorten(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"


Sent = bytes | Message | list[bytes] | list[Message]


def _shown(request: bytes | Message) -> str:
    if isinstance(request, bytes):
        return repr(request)
    return text_format.MessageToString(request, as_utf8=True) or "<empty message>"


def _request_text(request: bytes | Message) -> str:
    if isinstance(request, bytes):
        return request.decode("latin-1")
    return text_format.MessageToString(request, as_utf8=True)


def invoke(channel: grpc.aio.Channel, method: MethodDescriptor, sent: Sent) -> Awaitable[Any]:
    """The call, in the method's shape; raw bytes go out as they are (no serializer)."""
    path = method_path(method)
    first = sent[0] if isinstance(sent, list) and sent else sent
    serializer = None if isinstance(first, bytes) else _message_class(method.input_type).SerializeToString
    deserializer = _message_class(method.output_type).FromString
    if method.client_streaming:
        stream = channel.stream_unary(path, request_serializer=serializer, response_deserializer=deserializer)
        return stream(iter(sent if isinstance(sent, list) else [sent]), timeout=RPC_TIMEOUT_S)
    if method.server_streaming:
        return _drain(
            channel.unary_stream(path, request_serializer=serializer, response_deserializer=deserializer),
            sent,
        )
    unary = channel.unary_unary(path, request_serializer=serializer, response_deserializer=deserializer)
    return unary(sent, timeout=RPC_TIMEOUT_S)


async def _drain(stream: Any, request: Any) -> None:
    """A server stream, read to its end."""
    async for _ in stream(request, timeout=RPC_TIMEOUT_S):
        pass


async def check_call(env: FuzzEnv, method: MethodDescriptor, sent: Sent) -> None:
    __tracebackhide__ = True
    path = method_path(method)
    messages: list[Any] = sent if isinstance(sent, list) else [sent]
    request_text = "\n".join(_request_text(m) for m in messages)
    shown = "\n--- next message ---\n".join(_shown(m) for m in messages) or "<empty stream>"
    env.errors.drain()
    code, texts = grpc.StatusCode.OK, []
    try:
        await invoke(env.channel, method, sent)
    except grpc.aio.AioRpcError as error:
        code, texts = error.code(), error_texts(error)
    server_log = env.errors.drain()
    note(f"{path} -> {code.name}: {_shorten(' | '.join(texts), 500)}")

    problems = []
    if code in CODES_THAT_MEAN_A_BUG:
        problems.append(f"answered {code.name}")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        problems.append(f"did not answer within {RPC_TIMEOUT_S}s")
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and "metadata size" in (texts[0] if texts else ""):
        problems.append("sent error details too large for the client's trailers")
    leaked = leaks(texts, request_text)
    if leaked:
        problems.append(f"leaked internals {leaked}")
    if server_log:
        problems.append("logged an unhandled error")
    if problems:
        raise AssertionError(
            f"{path} {' and '.join(problems)}\n"
            f"--- request ---\n{_shorten(shown)}\n"
            f"--- status ---\n{code.name}: {_shorten(chr(10).join(texts))}\n"
            f"--- server log (wellspring.errors) ---\n{server_log or '(nothing)'}"
        )


# --------------------------------------------------------------------------------------------------------
# Fixtures: a server of our own, seeded through the stubs, restored before every example.


class FuzzEnv:
    """The server under test, a channel to it and what it logs. Not a dataclass: Hypothesis would print
    every field of the App in a falsifying example."""

    def __init__(self, app: App, channel: grpc.aio.Channel, errors: _ErrorLog) -> None:
        self.app = app
        self.channel = channel
        self.errors = errors

    def __repr__(self) -> str:
        return f"FuzzEnv(server at {self.app.address})"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fuzz_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FuzzEnv]:
    """A server like the shared ``app`` fixture's, per backend, with a database of its own."""
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = sqlite_url_for(tmp_path_factory.mktemp("fuzz"))
        else:
            url = await stack.enter_async_context(fresh_pg_database())
        app = await start_app(url)
        stack.push_async_callback(app.stop, 0)
        errors = _ErrorLog()
        error_logger = logging.getLogger("wellspring.errors")
        error_logger.addHandler(errors)
        stack.callback(error_logger.removeHandler, errors)
        # The handler reports each unhandled error with its request; keep the shrinking runs out of the log.
        stack.callback(setattr, error_logger, "propagate", error_logger.propagate)
        error_logger.propagate = False
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(app.address))
        await _seed(channel)
        yield FuzzEnv(app, channel, errors)


async def _seed(channel: grpc.aio.Channel) -> None:
    """SEEDS_PER_COLLECTION resources of every collection with chosen ids and one with a generated id,
    parents first, through the API. The i-th refers to parent i mod (SEEDS_PER_COLLECTION - 1): the
    first parent has two children (an equality filter with more than one page), the last chosen one
    none (deletable without force)."""
    POOLS.reset()  # a fresh server per backend
    by_collection = stubs(channel)
    for spec in parents_first():
        binding = BINDINGS[spec.collection]
        create = getattr(by_collection[spec.collection], binding.method("Create"))
        for i in range(SEEDS_PER_COLLECTION + 1):
            parents = {ref.collection: _parent(ref.collection, i) for ref in spec.references}
            fields = valid_fields(spec, parents, f"{spec.resource}{i}", FLAVOURS[i % len(FLAVOURS)])
            chosen = f"{spec.resource}-{i}" if i < SEEDS_PER_COLLECTION else ""
            request_id = "" if chosen else f"seed-{spec.collection}"
            _remember(
                spec.collection, await create(create_request(spec.collection, fields, chosen, request_id))
            )
            POOLS.request_ids.extend([request_id] if request_id else [])
    await _collect_tokens(by_collection)


def _parent(collection: str, i: int) -> str:
    return POOLS.ids[collection][i % (SEEDS_PER_COLLECTION - 1)]


def _remember(collection: str, created: Message) -> None:
    """A seeded resource's id, etag, time and text in the pools, and its fields for ``_restore``."""
    binding = BINDINGS[collection]
    spec = binding.spec
    POOLS.ids[collection].append(created.id)  # type: ignore[attr-defined]
    POOLS.etags.append(created.etag)  # type: ignore[attr-defined]
    POOLS.seconds.append(created.create_time.seconds)  # type: ignore[attr-defined]
    POOLS.seeds.append(Seed(collection, created.id, binding.fields(created)))  # type: ignore[attr-defined]
    POOLS.uniques.extend(getattr(created, name) for name in spec.unique)
    references = {ref.field for ref in spec.references}
    for name in spec.writable:
        if name not in references:
            value = getattr(created, name)
            POOLS.texts.extend([value] if isinstance(value, str) else value)


async def _collect_tokens(by_collection: dict[str, Any]) -> None:
    """Real page tokens, for every ordering either way and for filters with more than one page, to
    replay and to tamper with."""
    for spec in REGISTRY:
        binding = BINDINGS[spec.collection]
        list_items = getattr(by_collection[spec.collection], binding.method("List"))
        request = binding.request("List")
        for order_by in (f"{name}{way}" for name in spec.orderings for way in ("", " desc")):
            page = await list_items(request(page_size=1, order_by=order_by))
            assert page.next_page_token, f"seeding should leave more than one page of {spec.collection}"
            POOLS.tokens.append(page.next_page_token)
        seeds = [seed for seed in POOLS.seeds if seed.collection == spec.collection]
        for flt in spec.filters:
            value = _filter_value(flt, seeds)
            if value:
                page = await list_items(request(page_size=1, **{flt.name: value}))
                POOLS.tokens.extend([page.next_page_token] if page.next_page_token else [])


def _filter_value(flt: Filter, seeds: list[Seed]) -> str:
    """A value of a text filter that more than one seed matches ("" for time filters)."""
    if flt.kind is FilterKind.EQUALS:
        return str(getattr(seeds[0].fields, flt.fields[0]))
    if flt.kind is FilterKind.HAS:
        return SHARED_ITEM
    if flt.kind is FilterKind.PREFIX:
        return _common_prefix([str(getattr(seed.fields, flt.fields[-1])) for seed in seeds])
    return ""


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    n = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
    return first[:n]


async def _restore(app: App) -> None:
    """Put the seed rows back as they were, parents first, writing only those that changed (best effort:
    a fuzzed resource may hold a seed's unique value, or a seed's parent may be gone for good)."""
    etags = []
    for seed in POOLS.seeds:
        handlers = app.resources[seed.collection]
        try:
            current = await handlers.get(seed.id)
        except NotFound:
            current = None
        if current is not None and handlers.spec.fields_of(current) == seed.fields:
            etags.append(current.etag)
            continue
        try:
            cmd = commands.UpdateItem(seed.id, seed.fields, update_mask=("*",), allow_missing=True)
            etags.append((await handlers.update(cmd)).etag)
        except DomainError:
            pass
    POOLS.live_etags[:] = etags


# --------------------------------------------------------------------------------------------------------
# The tests.

FUZZ_SETTINGS = settings(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

_TYPED: dict[str, st.SearchStrategy[Message]] = {}
_RAW: dict[str, st.SearchStrategy[bytes]] = {}


def _cached(cache: dict[str, Any], method: MethodDescriptor, make: Callable[[MethodDescriptor], Any]) -> Any:
    if method.full_name not in cache:
        cache[method.full_name] = make(method)
    return cache[method.full_name]


@pytest.mark.parametrize("method_name", sorted(METHODS))
@settings(FUZZ_SETTINGS, max_examples=TYPED_EXAMPLES)
@given(data=st.data())
async def test_fuzzed_requests_get_a_proper_answer(
    fuzz_env: FuzzEnv, method_name: str, data: st.DataObject
) -> None:
    method = METHODS[method_name]
    await _restore(fuzz_env.app)
    strategy = _cached(_TYPED, method, calls_for)
    request = data.draw(strategy, label=f"{method.input_type.name}")
    await check_call(fuzz_env, method, request)


@pytest.mark.parametrize("method_name", sorted(METHODS))
@settings(FUZZ_SETTINGS, max_examples=RAW_EXAMPLES)
@given(data=st.data())
async def test_raw_bytes_get_a_proper_answer(
    fuzz_env: FuzzEnv, method_name: str, data: st.DataObject
) -> None:
    method = METHODS[method_name]
    await _restore(fuzz_env.app)
    raw = data.draw(_cached(_RAW, method, raw_calls), label="raw request bytes")
    await check_call(fuzz_env, method, raw)


def test_every_method_of_every_registered_collection_is_fuzzed() -> None:
    """The discovery itself: the services are exactly the registered collections' ones the server
    serves (all but Watch), and every method of each, in every shape, is fuzzed."""
    served = set(SERVICE_NAMES) - {"wellspring.v1.WatchService"}
    assert {service.full_name for service in SERVICES} == served
    for spec in REGISTRY:
        service = BINDINGS[spec.collection].service
        assert {m.full_name for m in service.methods} <= set(METHODS), service.full_name
        for verb in ("Get", "BatchGet", "List", "Create", "Update", "Delete", "Import", "Export"):
            assert f"{service.full_name}.{BINDINGS[spec.collection].method(verb)}" in METHODS
    assert "wellspring.v1.CommentService.ImportComments" in METHODS
    assert {(m.client_streaming, m.server_streaming) for m in METHODS.values()} == {
        (False, False),
        (True, False),
        (False, True),
    }
