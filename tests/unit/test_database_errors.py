"""How database failures are told (service.repository.database.problem): the driver's words, where
(never the password), and whether a retry can help."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from service.repository.database import (
    DatabaseProblem,
    MissingDirectory,
    describe,
    open_database,
    prepare_sqlite_path,
    problem,
)

URL = "postgresql://app:sekrit@db.internal:6543/shop"


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _wrapped(driver: BaseException) -> Exception:
    """As SQLAlchemy raises it: a DBAPIError whose ``orig`` is the driver's error, chained both ways."""
    error = sa_exc.DBAPIError("connect", None, driver)  # type: ignore[arg-type]
    error.__cause__ = driver
    driver.__context__ = error  # chains may loop
    return error


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("3D000", 'database "shop" does not exist'),
        ("28000", 'role "app" does not exist'),
        ("28P01", 'password authentication failed for user "app"'),
    ],
)
def test_refusals_no_retry_can_fix_are_permanent(sqlstate: str, message: str) -> None:
    found = problem(_wrapped(_DriverError(message, sqlstate)), URL)
    assert found.permanent
    assert str(found) == f"PostgreSQL at db.internal:6543, database 'shop' as 'app': {message}"


@pytest.mark.parametrize(
    "driver",
    [
        ConnectionRefusedError(111, "Connect call failed ('10.0.0.1', 6543)"),
        socket.gaierror(-2, "Name or service not known"),
        _DriverError("the database system is starting up", "57P03"),
    ],
)
def test_unreachable_is_transient_and_says_why(driver: BaseException) -> None:
    found = problem(_wrapped(driver), URL)
    assert not found.permanent
    assert "db.internal:6543" in str(found) and "sekrit" not in str(found)
    assert str(driver) in str(found)
    if isinstance(driver, socket.gaierror):
        assert "cannot resolve the host" in str(found)


def test_describe_never_shows_the_password() -> None:
    assert "sekrit" not in describe(URL)
    assert describe("sqlite:////var/lib/x.db") == "SQLite at /var/lib/x.db"


def test_a_missing_directory_outside_var_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingDirectory, match="sqlite:////x is absolute") as refused:
        prepare_sqlite_path("sqlite:///tmp/x.db")  # three slashes: ./tmp, which does not exist
    assert str(tmp_path / "tmp") in str(refused.value) and refused.value.permanent
    assert not (tmp_path / "tmp").exists()
    prepare_sqlite_path("sqlite:///var/deep/x.db")  # the data folder: created
    assert (tmp_path / "var" / "deep").is_dir()
    prepare_sqlite_path("sqlite:///tmp/x.db", create_dirs=True)
    assert (tmp_path / "tmp").is_dir()


def test_an_unopenable_sqlite_file_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(DatabaseProblem, match="unable to open database file") as refused:
        open_database(f"sqlite:///{tmp_path}")  # a directory, not a file
    assert refused.value.permanent
