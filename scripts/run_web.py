"""The browser path in one command (``make run-web``): the server on the embedded default with demo data,
the real Envoy in front of it (grpc-web + CORS for browsers, native gRPC for everyone else, rendered from
deploy/envoy/envoy.yaml), and the demo app (web/, built with npm) served on --app-port. Prints the URL to
open; Ctrl-C stops everything.

    python scripts/run_web.py [--port 8080] [--app-port 5173] [--upstream HOST:PORT ...]

With ``--upstream`` (repeatable) it starts no server and puts Envoy in front of those replicas instead,
e.g. the ones ``make run-cluster`` started (``--upstream 127.0.0.1:50051 --upstream 127.0.0.1:50052``).
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import HarnessError, ServerProcess  # noqa: E402
from harness import web as harness_web  # noqa: E402
from harness.envoy import EnvoyProcess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8080")))
    parser.add_argument("--admin-port", type=int, default=9901)
    parser.add_argument("--app-port", type=int, default=int(os.environ.get("APP_PORT", "5173")))
    parser.add_argument("--origin", action="append", default=[], help="an allowed CORS origin (repeatable)")
    parser.add_argument("--upstream", action="append", default=[], help="HOST:PORT of a running replica")
    opts = parser.parse_args(argv)
    origins = opts.origin or [f"http://localhost:{opts.app_port}", f"http://127.0.0.1:{opts.app_port}"]
    work = Path(tempfile.mkdtemp(prefix="wellspring-web-"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = None
    app = None
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
        app = _serve_app(opts.app_port)
        with EnvoyProcess(
            work, upstreams, origins=origins, port=opts.port, admin_port=opts.admin_port
        ) as envoy:
            print(
                f"Envoy on {envoy.url}: grpc-web (origins {', '.join(origins)}) and native gRPC", flush=True
            )
            print(f"The demo app: http://127.0.0.1:{opts.app_port}/?api={envoy.url}", flush=True)
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
    if app is not None:
        app.shutdown()
    return 0


def _serve_app(port: int) -> http.server.ThreadingHTTPServer:
    """Build the demo app (npm ci once per lockfile, vite build) and serve web/dist on ``port``."""
    harness_web.build("build")
    return harness_web.serve_static(harness_web.WEB / "dist", port)


if __name__ == "__main__":
    sys.exit(main())
