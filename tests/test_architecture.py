"""Rules of the code base itself: import direction (DESIGN §1), generated code drift, proto lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_contracts_hold() -> None:
    """api -> handlers -> repository -> domain, and no framework leaks sideways (pyproject's importlinter)."""
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 8 kept, 0 broken" in result.stdout, result.stdout


def test_generated_code_matches_the_protos() -> None:
    result = _run(sys.executable, "scripts/generate.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_protos_are_buf_lint_clean() -> None:
    result = _run(str(BIN / "buf"), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_registered_collection_is_stored_bound_and_served() -> None:
    """A collection in the registry has its table spec, its protobuf binding and its service name; and
    nothing is stored, bound or served that the registry does not declare."""
    from service.api.bindings import BINDINGS
    from service.bootstrap import SERVICE_NAMES
    from service.domain.specs import REGISTRY
    from service.repository.tables import TABLES

    names = set(REGISTRY.names)
    assert set(TABLES) == names and set(BINDINGS) == names
    for spec in REGISTRY:
        assert TABLES[spec.collection].spec is spec and BINDINGS[spec.collection].spec is spec
        assert BINDINGS[spec.collection].service.full_name in SERVICE_NAMES
        table = TABLES[spec.collection].table
        model_fields = ("id", *spec.writable, "create_time_us", "update_time_us", "version")
        assert set(model_fields) <= set(table.c.keys()), spec.collection
        for ref in spec.references:
            assert ref.collection in names
            assert {fk.column.table.name for fk in table.c[ref.field].foreign_keys} == {ref.collection}
