"""Start N replicas on consecutive ports against one PostgreSQL and one Redis (``make run-cluster``).

    WELLSPRING_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/wellspring \\
    WELLSPRING_REDIS_URL=redis://127.0.0.1:6379/0 python scripts/run_cluster.py --replicas 2 --base-port 50051

Migrates once, then runs the replicas with one shared page-token secret (so a token from one replica
works on the others); SIGTERM/SIGINT is passed to every replica, and the exit status is the worst one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "2")))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BASE_PORT", "50051")))
    parser.add_argument("--host", default="127.0.0.1")
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
    procs = []
    for i in range(opts.replicas):
        replica_env = {**env, "WELLSPRING_ADDR": f"{opts.host}:{opts.base_port + i}"}
        procs.append(subprocess.Popen([sys.executable, "-m", "service", "serve"], env=replica_env, cwd=ROOT))
    print(
        f"{opts.replicas} replicas on {opts.host}:{opts.base_port}..{opts.base_port + opts.replicas - 1}",
        flush=True,
    )

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [proc.wait() for proc in procs]
    return max(codes, default=0)


if __name__ == "__main__":
    raise SystemExit(main())
