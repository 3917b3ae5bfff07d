"""A real server process (``python -m service serve``) for tests whose claim is about the process: its
memory, its signals, its behaviour towards raw or hostile clients. The process itself is the harness's
(``harness.ServerProcess``); this adds the tests' defaults.

``ServerProcess`` picks a free port, writes the child's output to a log file in the test's tmp dir, and is
always ended (SIGKILL if SIGTERM does not do it) when the ``with`` block exits.
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness import ROOT, free_port, memory_kb
from harness.processes import wait_serving

__all__ = ["ROOT", "ServerProcess", "free_port", "memory_kb", "server_module", "wait_serving"]


def server_module(env: dict[str, str]) -> str:
    """``service``, or the same server with injected Redis faults when ``env`` asks for them."""
    from tests.faulty_server import FAULT_VARIABLES

    return "tests.faulty_server" if any(env.get(v) for v in FAULT_VARIABLES) else "service"


class ServerProcess(harness.ServerProcess):
    """``with ServerProcess(tmp, database_url, WELLSPRING_X="1") as server: await server.serving()``:
    the access log off and no shutdown drain unless ``env`` says otherwise; ``args`` follow ``serve``
    (e.g. ``("--seed-demo",)``)."""

    def __init__(
        self, tmp: Path, database_url: str, *, name: str = "server", args: tuple[str, ...] = (), **env: str
    ) -> None:
        env = {
            "WELLSPRING_DATABASE_URL": database_url,
            "WELLSPRING_ACCESS_LOG": "0",
            # The drain is for load balancers; it would add a second to every stop. Tests of it set it.
            "WELLSPRING_SHUTDOWN_DRAIN_S": "0",
            **env,
        }
        super().__init__(tmp, env, module=server_module(env), args=args, name=name)

    def rss_kb(self) -> int:
        return memory_kb(self.pid, "VmRSS")
