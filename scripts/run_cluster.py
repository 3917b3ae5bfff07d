"""Start N replicas on consecutive ports against one PostgreSQL and one Redis (``make run-cluster``).

    WELLSPRING_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/wellspring \\
    WELLSPRING_REDIS_URL=redis://127.0.0.1:6379/0 python scripts/run_cluster.py --replicas 2 --base-port 50051

Migrates once, then runs the replicas with one shared page-token secret (so a token from one replica
works on the others); SIGTERM/SIGINT is passed to every replica, and the exit status is the worst one.
The banner is printed once every replica's health says SERVING; if one exits first (its port is taken)
or is not SERVING within --start-timeout, every replica is stopped and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "2")))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BASE_PORT", "50051")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="seconds for every replica to be SERVING"
    )
    opts = parser.parse_args(argv)
    env = dict(os.environ)
    if not env.get("WELLSPRING_DATABASE_URL", "").startswith("postgres"):
        print(
            "run-cluster needs WELLSPRING_DATABASE_URL=postgresql://… (replicas share the database)",
            file=sys.stderr,
        )
        return 2
    if not env.get("WELLSPRING_REDIS_URL"):
        print("run-cluster needs WELLSPRING_REDIS_URL=redis://… (replicas share the cache)", file=sys.stderr)
        return 2
    env.setdefault("WELLSPRING_PAGE_TOKEN_SECRET", secrets.token_hex(32))
    migrated = subprocess.run([sys.executable, "-m", "service", "migrate"], env=env, cwd=ROOT)
    if migrated.returncode != 0:
        return migrated.returncode
    addresses = [f"{opts.host}:{opts.base_port + i}" for i in range(opts.replicas)]
    procs = [_start(env, address) for address in addresses]

    signalled = []

    def forward(signum: int, _frame: object) -> None:
        signalled.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed = _first_failure(procs, addresses, opts.start_timeout)
    if failed is not None and not signalled:  # a replica that exits because it was told to is no failure
        print(f"run-cluster: {failed}; stopping every replica", file=sys.stderr, flush=True)
        forward(signal.SIGTERM, None)
        codes = [proc.wait() for proc in procs]
        return max(max(codes), 1)
    if failed is None:
        print(f"{opts.replicas} replicas on {addresses[0]}..{addresses[-1]}", flush=True)
    codes = [proc.wait() for proc in procs]
    return max(codes, default=0)


def _start(env: dict[str, str], address: str) -> subprocess.Popen[bytes]:
    replica_env = {**env, "WELLSPRING_ADDR": address}
    return subprocess.Popen([sys.executable, "-m", "service", "serve"], env=replica_env, cwd=ROOT)


def _first_failure(
    procs: list[subprocess.Popen[bytes]], addresses: list[str], timeout_s: float
) -> str | None:
    """None once every replica's health says SERVING; else what went wrong first (a replica exited, or
    one was not SERVING within ``timeout_s``)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    for proc, address in zip(procs, addresses, strict=True):
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if proc.poll() is not None:
                    return f"the replica on {address} exited with {proc.returncode}"
                if time.monotonic() > deadline:
                    return f"the replica on {address} was not SERVING within {timeout_s:.0f}s"
                try:
                    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                time.sleep(0.1)  # a poll interval, not a wait for an outcome
    return None


if __name__ == "__main__":
    raise SystemExit(main())
