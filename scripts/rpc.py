"""Call any RPC of a running server by name, with JSON in and out, using server reflection only.

    python scripts/rpc.py list
    python scripts/rpc.py wellspring.v1.UserService/GetUser '{"id": "ada"}'

Nothing of Wellspring is imported: the descriptors come from the server (grpcio-reflection's
ProtoReflectionDescriptorDatabase), like grpcurl does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("method", help="`list`, or Service/Method (e.g. wellspring.v1.UserService/GetUser)")
    parser.add_argument("body", nargs="?", default="{}", help="request as JSON (proto3 JSON mapping)")
    parser.add_argument("--addr", default=os.environ.get("WELLSPRING_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--timeout", type=float, default=10.0)
    opts = parser.parse_args(argv)
    try:
        return _run(opts)
    except grpc.RpcError as error:  # reflection itself failed: server down, or reflection disabled
        print(
            f"{error.code().name}: {error.details()} (is a server listening on {opts.addr}?)", file=sys.stderr
        )
        return 1


def _run(opts: argparse.Namespace) -> int:
    with grpc.insecure_channel(opts.addr) as channel:
        reflection_db = ProtoReflectionDescriptorDatabase(channel)
        if opts.method == "list":
            print("\n".join(reflection_db.get_services()))
            return 0
        service_name, _, method_name = opts.method.rpartition("/")
        pool = descriptor_pool.DescriptorPool(reflection_db)
        method = pool.FindServiceByName(service_name).FindMethodByName(method_name)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        request = json_format.Parse(opts.body, request_class())
        call = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        try:
            response = call(request, timeout=opts.timeout)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        print(json.dumps(json_format.MessageToDict(response), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
