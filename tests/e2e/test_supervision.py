"""The background loops (readiness, the change feed's tailer, cache coherence) are supervised: one that
fails unexpectedly ends the others and ``App.until`` raises its error, so ``serve`` stops the process
instead of serving on without a change feed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from service.bootstrap import bootstrap
from service.config import Settings
from tests.conftest import sqlite_url_for


class TailerBroke(Exception):
    pass


async def test_a_failing_tailer_ends_the_app_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(addr="127.0.0.1:0", database_url=sqlite_url_for(tmp_path), access_log=False)
    app = await bootstrap(settings)

    async def broken_run() -> None:
        await app.ready.wait()
        raise TailerBroke("the tailer's database vanished")

    monkeypatch.setattr(app.feed, "run", broken_run)
    await app.start()
    try:
        with pytest.raises(TailerBroke):
            await asyncio.wait_for(app.until(asyncio.Event()), 10)
        assert app._readiness is not None and app._readiness.cancelled()  # ended with it
    finally:
        await app.stop(0)
