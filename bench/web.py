"""The browser path's figures (``python -m bench --only web``), against a server (the embedded default, demo
data, access log on) and the real Envoy of their own:

* ``grpcweb_get_vs_grpc_get``: the same Node client (``@connectrpc/connect-node``, web/bench/grpcweb.ts)
  calling GetUser through Envoy's grpc-web (HTTP/1.1, as browsers speak it) and over gRPC straight to the
  server, in alternating rounds; the median of the per-round ratios;
* ``web_live_update_p50_ms`` / ``_p99_ms``: from the Python SDK's acknowledgement of a new comment to the
  moment the demo app's page in Chromium shows it (a MutationObserver's ``Date.now()``, the same clock),
  over ``LIVE_UPDATES`` comments written one after another;
* ``web_search_requests_per_word``: ListUsers calls the server logged per word typed into the app's
  search box at a realistic speed (``KEY_DELAY_MS`` a key, a pause between words).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.run import progress
from bench.server import BenchError
from harness import HarnessError, ServerProcess
from harness import web as harness_web
from harness.envoy import EnvoyProcess

LIVE_UPDATES = 40
WORDS = ("Reader", "Grace", "Edsger", "Barbara", "Ada", "Reader 1")
KEY_DELAY_MS = 140  # ~7 keys a second
WORD_PAUSE_MS = 900

GRPCWEB = "grpcweb_get_vs_grpc_get"
LIVE_P50, LIVE_P99 = "web_live_update_p50_ms", "web_live_update_p99_ms"
SEARCH = "web_search_requests_per_word"


@dataclass
class WebOutcome:
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def measure_web(workdir: Path) -> WebOutcome:
    outcome = WebOutcome()
    try:
        harness_web.build("build")
        harness_web.build("build:bench")
    except HarnessError as error:
        raise BenchError(str(error)) from None
    httpd = harness_web.serve_static(harness_web.WEB / "dist")
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    env = {"WELLSPRING_DATABASE_URL": f"sqlite:///{workdir / 'web.sqlite3'}", "WELLSPRING_ACCESS_LOG": "1"}
    try:
        with ServerProcess(workdir, env, args=("--seed-demo",), name="web") as server:
            server.wait_serving()
            _readers(server.address, 60)
            with EnvoyProcess(workdir, [server.address], origins=[origin]) as envoy:
                progress(f"web: server {server.address}, Envoy {envoy.url}, app {origin}")
                _grpcweb(outcome, envoy, server)
                asyncio.run(_browser(outcome, server, f"{origin}/?api={envoy.url}"))
    except HarnessError as error:
        raise BenchError(str(error)) from None
    finally:
        httpd.shutdown()
    return outcome


def _readers(address: str, count: int) -> None:
    import grpc
    from wellspring.v1 import resources_pb2, user_service_pb2, user_service_pb2_grpc

    users = [
        resources_pb2.User(id=f"reader-{n:02d}", email=f"r{n}@x.test", display_name=f"Reader {n:02d}")
        for n in range(count)
    ]
    with grpc.insecure_channel(address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        stub.ImportUsers(iter([user_service_pb2.ImportUsersRequest(users=users)]), timeout=30)


def _grpcweb(outcome: WebOutcome, envoy: EnvoyProcess, server: ServerProcess) -> None:
    progress("web: GetUser through Envoy's grpc-web vs gRPC direct (Node, connect-node), 20 rounds x 300")
    script = harness_web.WEB / "dist-bench" / "grpcweb.js"
    done = subprocess.run(
        ["node", str(script), envoy.url, f"http://{server.address}", "ada", "20", "300"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise BenchError(f"web/bench/grpcweb.ts failed: {done.stderr.strip()[-500:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    outcome.figures[GRPCWEB] = float(found["ratio"])
    outcome.notes.append(
        f"GetUser: {found['web_us']:.0f} us through Envoy's grpc-web, {found['grpc_via_envoy_us']:.0f} us "
        f"native gRPC through the same Envoy, {found['grpc_us']:.0f} us gRPC direct (medians of rounds)"
    )


def _calls(server: ServerProcess) -> Counter[str]:
    return Counter(
        line["method"].rpartition("/")[2] for line in server.log_lines() if line.get("message") == "rpc"
    )


async def _browser(outcome: WebOutcome, server: ServerProcess, url: str) -> None:
    from playwright.async_api import async_playwright

    from wellspring_client import Comment, WellspringClient

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=harness_web.CHROMIUM, args=harness_web.CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{url}#/posts/moth")
            await page.wait_for_selector('[data-testid="status"]:text("live")', timeout=20_000)
            await page.wait_for_selector('[data-testid="comments"] li')
            await page.evaluate(harness_web.FIRST_SEEN_JS, "comments")
            progress(f"web: {LIVE_UPDATES} comments written by the SDK, each timed to the page's DOM")
            delays = []
            async with WellspringClient(server.address) as sdk:
                for n in range(LIVE_UPDATES):
                    written = await sdk.comments.create(
                        Comment(post_id="moth", author_id="ada", body=f"live {n}")
                    )
                    acknowledged = time.time() * 1000
                    await page.wait_for_selector(f'[data-testid="comments"] li[data-id="{written.id}"]')
                    delays.append(await page.evaluate(f"window.__seen[{written.id!r}]") - acknowledged)
            delays.sort()
            outcome.figures[LIVE_P50] = statistics.median(delays)
            outcome.figures[LIVE_P99] = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
            progress(f"web: {len(WORDS)} words typed at {KEY_DELAY_MS} ms a key into the search box")
            await page.goto(f"{url}#/")
            box = page.get_by_label("Search users")
            await box.wait_for()
            before = _calls(server)["ListUsers"]
            for word in WORDS:
                await box.fill("")
                await box.press_sequentially(word, delay=KEY_DELAY_MS)
                await page.wait_for_timeout(WORD_PAUSE_MS)  # the typist's pause: it is what debouncing sees
            await page.wait_for_timeout(500)
            sent = _calls(server)["ListUsers"] - before
            outcome.figures[SEARCH] = sent / len(WORDS)
            outcome.notes.append(
                f"search: {sent} ListUsers for {len(WORDS)} words (clearing the box counts too)"
            )
        finally:
            await browser.close()


def web_lines(outcome: WebOutcome) -> list[str]:
    targets = {GRPCWEB: "<= 1.3", LIVE_P50: "-", LIVE_P99: "<= 100", SEARCH: "<= 1"}
    lines = [f"  {name:<32} {value:>9.3f}  {targets[name]}" for name, value in outcome.figures.items()]
    return lines + [f"  {note}" for note in outcome.notes]


def web_final_lines(outcome: WebOutcome) -> list[str]:
    return [f"{name} = {value:.3f}" for name, value in outcome.figures.items()]
