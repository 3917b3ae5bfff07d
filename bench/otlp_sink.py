"""An OTLP/gRPC trace collector that only counts (``python -m bench.otlp_sink PORT``): what the traced
server exports to during ``--only tracing``, in a process of its own so that receiving costs neither the
server nor the bench client. On SIGTERM it prints ``spans=N``, then ``name=N`` per span name, and exits
0. Hand-written because a real
collector (otelcol) is a Go binary from GitHub, which this machine cannot download."""

from __future__ import annotations

import signal
import sys
import threading
from collections import Counter
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as rpc


class Sink(rpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0
        self.names: Counter[str] = Counter()
        self._lock = threading.Lock()

    def Export(
        self, request: pb.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> pb.ExportTraceServiceResponse:
        names = [
            span.name for rs in request.resource_spans for scope in rs.scope_spans for span in scope.spans
        ]
        with self._lock:
            self.spans += len(names)
            self.names.update(names)
        return pb.ExportTraceServiceResponse()


def main(port: int) -> int:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    sink = Sink()
    rpc.add_TraceServiceServicer_to_server(sink, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("listening", flush=True)
    done.wait()
    server.stop(1).wait()
    print(f"spans={sink.spans}", flush=True)
    for name, count in sorted(sink.names.items()):
        print(f"{name}={count}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1])))
