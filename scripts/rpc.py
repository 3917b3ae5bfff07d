"""Call any RPC of a running server by name, with JSON in and out, using server reflection only.

    python scripts/rpc.py list
    python scripts/rpc.py wellspring.v1.UserService/GetUser '{"id": "ada"}'
    python scripts/rpc.py --addr 10.0.0.5:50051 --tls ca.pem --metadata x-request-id=7 list
    python scripts/rpc.py --token "$TOKEN" wellspring.v1.UserService/GetUser '{"id": "ada"}'

grpcurl's command-line shape is accepted too, for the common cases, so its examples run unchanged where
grpcurl is not installed (there, as in grpcurl, TLS is the default and `-plaintext` turns it off):

    python scripts/rpc.py -plaintext 127.0.0.1:50051 list [SERVICE]
    python scripts/rpc.py -plaintext -H 'x-request-id: 7' -d '{"id": "ada"}' 127.0.0.1:50051 \
        wellspring.v1.UserService/GetUser

Streams work as in grpcurl: a server stream prints each message as it arrives (Ctrl-C ends a Watch), a
client stream (Import) sends every JSON object of the body in turn. A failed call prints `CODE: message`
and each detail on one line and exits 1; a usage error (unknown service or method, JSON that does not fit
the request, no server at the address) prints one line and exits 2.

Nothing of Wellspring is imported: the descriptors come from the server (grpcio-reflection's
ProtoReflectionDescriptorDatabase), like grpcurl does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

# gRPC's C core logs TLS handshake failures itself, in lines of its own; the one-line error says it all.
# Only when run as a script: a process that imports this module (its test) keeps its environment.
if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc  # after GRPC_VERBOSITY, which the core reads when it loads
from google.protobuf import descriptor_pool, json_format, message_factory
from google.rpc import error_details_pb2  # noqa: F401  (registers the detail types for printing)
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

# grpcurl's single-dash long flags, spelled the argparse way.
_GRPCURL_FLAGS = {
    "-plaintext": "--plaintext",
    "-cacert": "--cacert",
    "-max-time": "--timeout",
    "-servername": "--servername",
}
UNARY_TIMEOUT_S = 10.0


class UsageError(Exception):
    """Something to say in one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    opts = _parse(sys.argv[1:] if argv is None else argv)
    try:
        return _run(opts)
    except UsageError as error:
        print(f"rpc.py: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpc.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("words", nargs="+", help="[ADDRESS] list [SERVICE] | [ADDRESS] Service/Method [JSON]")
    parser.add_argument(
        "--addr",
        default=os.environ.get("WELLSPRING_ADDR", "127.0.0.1:50051"),
        help="host:port of the server (default: WELLSPRING_ADDR, else 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="speak TLS, trusting the system roots; --tls=CA_FILE trusts that PEM",
    )
    parser.add_argument("--cacert", metavar="CA_FILE", help="TLS, trusting this PEM file (grpcurl's -cacert)")
    parser.add_argument("--plaintext", action="store_true", help="grpcurl's -plaintext (no TLS)")
    parser.add_argument("--servername", help="TLS server name to verify instead of the address's host")
    parser.add_argument(
        "--metadata",
        "-H",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a request header, repeatable (grpcurl's -H 'key: value' works too)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("WELLSPRING_TOKEN") or None,
        help="a bearer token sent as 'authorization: Bearer TOKEN' (default: $WELLSPRING_TOKEN); the server "
        "must offer reflection (WELLSPRING_REFLECTION=1 with authentication on)",
    )
    parser.add_argument("-d", dest="data", help="request JSON, as grpcurl's -d ('@' reads stdin)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"deadline in seconds (default {UNARY_TIMEOUT_S:g} for unary calls, none for streams)",
    )
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = _parser()
    # `--tls=CA` is the one spelling of a CA with --tls: `--tls list` must not read `list` as a file.
    words = ["--cacert=" + w.partition("=")[2] if w.startswith("--tls=") else w for w in argv]
    opts = parser.parse_args([_GRPCURL_FLAGS.get(word, word) for word in words])
    words = opts.words
    # grpcurl's shape puts the address first: anything that is neither `list` nor a method name.
    opts.grpcurl = len(words) >= 2 and words[0] != "list" and "/" not in words[0] and ":" in words[0]
    if opts.grpcurl:
        opts.addr, words = words[0], words[1:]
    if words[0] == "list":
        if len(words) > 2:
            parser.error("list takes at most one service name")
        opts.method, opts.service = "list", words[1] if len(words) == 2 else None
        opts.body = None
    else:
        if len(words) > 2 or (len(words) == 2 and opts.data is not None):
            parser.error("give the request once: as the JSON argument or with -d")
        opts.method = words[0]
        opts.body = words[1] if len(words) == 2 else opts.data
    if opts.body == "@":
        opts.body = sys.stdin.read()
    return opts


def _run(opts: argparse.Namespace) -> int:
    with _channel(opts) as channel:
        reflection_db = ProtoReflectionDescriptorDatabase(channel)
        metadata = _metadata(opts.metadata)
        if opts.token:
            metadata.append(("authorization", f"Bearer {opts.token}"))
        if opts.method == "list":
            names = _reflect(opts, lambda: _list(reflection_db, opts.service))
            print("\n".join(names))
            return 0
        method = _reflect(opts, lambda: _find_method(reflection_db, opts.method))
        return _call(channel, method, opts.body or "{}", metadata, opts.timeout)


def _channel(opts: argparse.Namespace) -> grpc.Channel:
    tls = opts.tls or opts.cacert is not None or (opts.grpcurl and not opts.plaintext)
    if not tls:
        return grpc.insecure_channel(opts.addr)
    root = None
    if opts.cacert:
        try:
            with open(opts.cacert, "rb") as pem:
                root = pem.read()
        except OSError as error:
            raise UsageError(f"cannot read the CA file: {error}") from None
    options = [("grpc.ssl_target_name_override", opts.servername)] if opts.servername else []
    return grpc.secure_channel(opts.addr, grpc.ssl_channel_credentials(root), options)


def _metadata(pairs: list[str]) -> list[tuple[str, str]]:
    """KEY=VALUE or grpcurl's 'key: value'; gRPC wants lower-case keys."""
    result = []
    for pair in pairs:
        key, sep, value = pair.partition(":") if ":" in pair.split("=", 1)[0] else pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"metadata {pair!r}: expected KEY=VALUE or 'key: value'")
        result.append((key.strip().lower(), value.strip()))
    return result


def _reflect(opts: argparse.Namespace, lookup: Any) -> Any:
    """Run a reflection lookup, turning its failures into one line each."""
    try:
        return lookup()
    except grpc.RpcError as error:
        raise UsageError(
            f"cannot reach the reflection service on {opts.addr}: {error.code().name}: {error.details()}"
        ) from None


def _list(reflection_db: ProtoReflectionDescriptorDatabase, service: str | None) -> list[str]:
    if service is None:
        return list(reflection_db.get_services())
    descriptor = _find_service(reflection_db, service)
    return [f"{descriptor.full_name}.{method.name}" for method in descriptor.methods]


def _find_service(reflection_db: ProtoReflectionDescriptorDatabase, name: str) -> Any:
    try:
        return descriptor_pool.DescriptorPool(reflection_db).FindServiceByName(name)
    except KeyError:
        known = ", ".join(s for s in reflection_db.get_services() if not s.startswith("grpc."))
        raise UsageError(f"unknown service {name!r} (the server has: {known})") from None


def _find_method(reflection_db: ProtoReflectionDescriptorDatabase, name: str) -> Any:
    service_name, sep, method_name = name.rpartition("/")
    if not sep:  # grpcurl also accepts package.Service.Method
        service_name, sep, method_name = name.rpartition(".")
    if not sep or not service_name:
        raise UsageError(f"{name!r}: expected Service/Method, e.g. wellspring.v1.UserService/GetUser")
    service = _find_service(reflection_db, service_name)
    method = service.methods_by_name.get(method_name)
    if method is None:
        known = ", ".join(m.name for m in service.methods)
        raise UsageError(f"unknown method {method_name!r} of {service_name} (it has: {known})")
    return method


def _requests(body: str, request_class: Any) -> Iterator[Any]:
    """Every JSON object of ``body`` (a client stream sends them in turn), each parsed as a request."""
    decoder, index, body = json.JSONDecoder(), 0, body.strip()
    while index < len(body):
        try:
            value, index = decoder.raw_decode(body, index)
            yield json_format.ParseDict(value, request_class())
        except (json.JSONDecodeError, json_format.ParseError) as error:
            reason = " ".join(str(error).split())  # ParseError spans lines
            raise UsageError(f"bad request JSON for {request_class.DESCRIPTOR.full_name}: {reason}") from None
        while index < len(body) and body[index].isspace():
            index += 1


def _call(
    channel: grpc.Channel, method: Any, body: str, metadata: list[tuple[str, str]], timeout: float | None
) -> int:
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    requests = list(_requests(body, request_class)) or [request_class()]
    if not method.client_streaming and len(requests) > 1:
        raise UsageError(f"{method.name} takes one request message, got {len(requests)}")
    shape = {False: "unary", True: "stream"}
    kind = f"{shape[method.client_streaming]}_{shape[method.server_streaming]}"
    call = getattr(channel, kind)(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    if timeout is None and kind == "unary_unary":
        timeout = UNARY_TIMEOUT_S
    argument = iter(requests) if method.client_streaming else requests[0]
    try:
        result = call(argument, timeout=timeout, metadata=metadata or None)
        for response in result if method.server_streaming else [result]:
            print(json.dumps(json_format.MessageToDict(response), indent=2, ensure_ascii=False), flush=True)
    except grpc.RpcError as error:
        _print_error(error)
        return 1
    return 0


def _print_error(error: grpc.RpcError) -> None:
    """`CODE: message`, then each google.rpc detail the server sent as one JSON line."""
    print(f"{error.code().name}: {error.details()}", file=sys.stderr)
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    for detail in status.details if status else ():
        try:
            text = json.dumps(json_format.MessageToDict(detail), ensure_ascii=False)
        except (TypeError, KeyError):  # a detail type this script does not know
            text = detail.type_url
        print(f"  {text}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
