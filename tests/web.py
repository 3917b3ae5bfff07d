"""web/'s npm dependencies and its demo app built (harness/web.py), for tests/test_web_client.py and the
browser tests: npm missing fails the run under REQUIRE_SERVICES, else skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import HarnessError
from harness import web as harness_web

WEB = harness_web.WEB


def ensure_node_modules() -> str:
    try:
        return harness_web.ensure_node_modules()
    except HarnessError as error:
        if "npm not found" in str(error) and os.environ.get("REQUIRE_SERVICES") != "1":
            pytest.skip(str(error))
        pytest.fail(str(error))


def built_app() -> Path:
    ensure_node_modules()
    harness_web.build("build")
    return WEB / "dist"
