from __future__ import annotations

import pytest

from service.config import ConfigError, Settings


def test_defaults_are_the_embedded_service() -> None:
    settings = Settings.from_env({})
    assert settings.addr == "127.0.0.1:50051"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.migrate_on_start and settings.redis_url is None


def test_postgres_does_not_migrate_on_start_unless_asked() -> None:
    settings = Settings.from_env({"WELLSPRING_DATABASE_URL": "postgresql://h/db"})
    assert not settings.migrate_on_start
    assert Settings.from_env(
        {"WELLSPRING_DATABASE_URL": "postgresql://h/db", "WELLSPRING_MIGRATE_ON_START": "1"}
    ).migrate_on_start


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WELLSPRING_SHUTDOWN_GRACE_S", "soon"),
        ("WELLSPRING_DB_POOL_SIZE", "0"),
        ("WELLSPRING_ACCESS_LOG", "maybe"),
        ("WELLSPRING_PAGE_TOKEN_SECRET", "short"),
        ("WELLSPRING_LOG_LEVEL", "LOUD"),
        ("WELLSPRING_ADDR", "nonsense"),
        ("WELLSPRING_ADDR", "127.0.0.1:99999"),
        ("WELLSPRING_DATABASE_URL", "mysql://h/db"),
        ("WELLSPRING_DATABASE_URL", "sqlite+aiosqlite:///x.db"),
        ("WELLSPRING_TLS_CERT_FILE", "/etc/chain.pem"),  # without its key
        ("WELLSPRING_TLS_KEY_FILE", "/etc/key.pem"),  # without its certificate
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings.from_env({}).addr = "x"  # type: ignore[misc]
