"""Many Watch streams in a process of their own, so that the clients' work is not charged to the server
under test: ``python -m tests.e2e.watchers ADDRESS WATCHERS CONNECTIONS [COLLECTION ...]``. Each stream
follows the collections named, by default every registered one (named explicitly, so the server routes a
multi-collection filter rather than "everything").

Prints ``ready`` once every stream had its first (progress) message, then reads until its stdin closes
and prints one JSON line: the events each stream received (the smallest and largest count) and the
errors by status.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

import grpc
from wellspring.v1 import watch_service_pb2, watch_service_pb2_grpc

from service.domain.specs import REGISTRY

WAVE = 250  # streams opened at once: a burst of thousands overruns the server's accept queue
# A channel of its own per connection: channels with equal arguments share one connection by default.
OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.enable_http_proxy", 0)]


async def _follow(
    stub: watch_service_pb2_grpc.WatchServiceStub,
    request: watch_service_pb2.WatchRequest,
    ready: asyncio.Future[None],
    events: list[int],
    n: int,
) -> str:
    try:
        async for message in stub.Watch(request):
            if not ready.done():
                ready.set_result(None)
            events[n] += len(message.events)
    except grpc.aio.AioRpcError as error:
        return error.code().name
    finally:
        if not ready.done():
            ready.set_result(None)
    return "ENDED"


async def _main(address: str, watchers: int, connections: int, collections: list[str]) -> None:
    loop = asyncio.get_running_loop()
    request = watch_service_pb2.WatchRequest(collections=collections)
    channels = [grpc.aio.insecure_channel(address, options=OPTIONS) for _ in range(connections)]
    stubs = [watch_service_pb2_grpc.WatchServiceStub(channel) for channel in channels]
    events = [0] * watchers
    readies = [loop.create_future() for _ in range(watchers)]
    tasks: list[asyncio.Task[str]] = []
    for start in range(0, watchers, WAVE):
        wave = range(start, min(watchers, start + WAVE))
        tasks += [
            asyncio.create_task(_follow(stubs[n % connections], request, readies[n], events, n)) for n in wave
        ]
        await asyncio.gather(*readies[wave.start : wave.stop])
    print("ready", flush=True)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()
    errors = Counter(task.result() for task in tasks if task.done())
    for task in tasks:
        task.cancel()
    print(json.dumps({"min": min(events), "max": max(events), "errors": errors}), flush=True)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] or list(REGISTRY.names)))
