"""The browser path in one command (``make run-web``): the server on the embedded default with demo data,
and the real Envoy in front of it (grpc-web + CORS for browsers, native gRPC for everyone else), rendered
from deploy/envoy/envoy.yaml. Prints where to point a browser or a client; Ctrl-C stops both.

    python scripts/run_web.py [--port 8080] [--origin http://localhost:5173] [--upstream HOST:PORT ...]

With ``--upstream`` (repeatable) it starts no server and puts Envoy in front of those replicas instead,
e.g. the ones ``make run-cluster`` started (``--upstream 127.0.0.1:50051 --upstream 127.0.0.1:50052``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import HarnessError, ServerProcess  # noqa: E402
from harness.envoy import EnvoyProcess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8080")))
    parser.add_argument("--admin-port", type=int, default=9901)
    parser.add_argument("--origin", action="append", default=[], help="an allowed CORS origin (repeatable)")
    parser.add_argument("--upstream", action="append", default=[], help="HOST:PORT of a running replica")
    opts = parser.parse_args(argv)
    origins = opts.origin or ["http://localhost:5173", "http://127.0.0.1:5173"]
    work = Path(tempfile.mkdtemp(prefix="wellspring-web-"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = None
    try:
        if opts.upstream:
            upstreams = opts.upstream
        else:
            database = (
                os.environ.get("WELLSPRING_DATABASE_URL")
                or f"sqlite:///{ROOT / 'var' / 'wellspring.sqlite3'}"
            )
            (ROOT / "var").mkdir(exist_ok=True)
            server = ServerProcess(work, {"WELLSPRING_DATABASE_URL": database}, args=("--seed-demo",))
            server.start()
            server.wait_serving()
            upstreams = [server.address]
        with EnvoyProcess(
            work, upstreams, origins=origins, port=opts.port, admin_port=opts.admin_port
        ) as envoy:
            print(
                f"Envoy on {envoy.url}: grpc-web (origins {', '.join(origins)}) and native gRPC", flush=True
            )
            print(
                f"  in front of {', '.join(upstreams)}; admin on 127.0.0.1:{opts.admin_port}; Ctrl-C stops",
                flush=True,
            )
            stop.wait()
    except HarnessError as error:
        print(f"run-web: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
