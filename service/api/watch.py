"""WatchService: declared in the contract; served from the streaming milestone on."""

from __future__ import annotations

from typing import Any

import grpc
from wellspring.v1 import watch_service_pb2 as api
from wellspring.v1 import watch_service_pb2_grpc as rpc

from service.domain.errors import NotImplementedYet


class WatchServicer(rpc.WatchServiceServicer):
    async def Watch(self, request: api.WatchRequest, context: grpc.aio.ServicerContext) -> Any:
        raise NotImplementedYet("Watch arrives with the streaming milestone")
