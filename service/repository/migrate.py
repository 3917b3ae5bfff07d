"""Apply Alembic migrations programmatically (``make migrate``, and at start-up on the embedded default)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from service.repository.database import async_url, prepare_sqlite_path, problem

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would eat a '%' in a password.
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision ``upgrade`` leads to: what a server needs its database at."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations"
    return head


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this build's migrations (else a newer build migrated past them)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return any(known.revision == revision for known in script.walk_revisions())


def upgrade(url: str, revision: str = "head", *, create_dirs: bool = False) -> None:
    """Migrate; a database that cannot be reached or used raises ``DatabaseProblem`` (one line, with
    the driver's message) instead of the driver's traceback. A SQLite file's missing directory is
    created inside ./var, elsewhere only with ``create_dirs``."""
    if make_url(url).get_backend_name() == "sqlite":
        prepare_sqlite_path(url, create_dirs=create_dirs)
    try:
        command.upgrade(alembic_config(url), revision)
    except (sa_exc.DBAPIError, OSError) as error:
        raise problem(error, url) from None
    except CommandError as error:  # e.g. the database is at a revision these migrations do not know
        raise problem(error, url, permanent=True) from None
