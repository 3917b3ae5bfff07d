from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, Settings


def test_defaults_are_the_embedded_service() -> None:
    settings = Settings.from_env({})
    assert settings.addr == "127.0.0.1:50051"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.migrate_on_start and settings.redis_url is None


def test_the_libpq_spelling_postgres_means_postgresql() -> None:
    assert Settings.from_env({"WELLSPRING_DATABASE_URL": "postgres://u@h:5432/db"}).database_url == (
        "postgresql://u@h:5432/db"
    )
    redis = Settings.from_env({"WELLSPRING_REDIS_URL": "rediss://h:6380/0"}).redis_url
    assert redis == "rediss://h:6380/0"


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
        ("WELLSPRING_MAX_CONCURRENT_RPCS", "0"),
        ("WELLSPRING_ACCESS_LOG", "maybe"),
        ("WELLSPRING_STREAM_STALL_S", "0"),
        ("WELLSPRING_EXPORT_MAX_S", "-1"),
        ("WELLSPRING_EXPORT_MAX_CONCURRENT", "0"),
        ("WELLSPRING_PAGE_TOKEN_SECRET", "short"),
        ("WELLSPRING_LOG_LEVEL", "LOUD"),
        ("WELLSPRING_CACHE_MAX_BYTES", "1000"),  # below 1 MiB: no useful cache
        ("WELLSPRING_CACHE_LIST_MAX_BYTES", "-1"),
        ("WELLSPRING_ADDR", "nonsense"),
        ("WELLSPRING_ADDR", "127.0.0.1:99999"),
        ("WELLSPRING_DATABASE_URL", "mysql://h/db"),
        ("WELLSPRING_DATABASE_URL", "sqlite+aiosqlite:///x.db"),
        ("WELLSPRING_DATABASE_URL", "sqlite://var/x.db"),  # two slashes: a host, not a path
        ("WELLSPRING_REDIS_URL", "http://x"),
        ("WELLSPRING_SHUTDOWN_GRACE_S", "nan"),
        ("WELLSPRING_SHUTDOWN_DRAIN_S", "inf"),
        ("WELLSPRING_STREAM_STALL_S", "-inf"),
        ("WELLSPRING_TLS_CERT_FILE", "/etc/chain.pem"),  # without its key
        ("WELLSPRING_TLS_KEY_FILE", "/etc/key.pem"),  # without its certificate
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_cache_budgets_are_bytes_with_operator_defaults() -> None:
    assert (Settings.from_env({}).cache_max_bytes, Settings.from_env({}).cache_list_max_bytes) == (
        64 * 1024 * 1024,
        16 * 1024 * 1024,
    )
    env = {"WELLSPRING_CACHE_MAX_BYTES": "8388608", "WELLSPRING_CACHE_LIST_MAX_BYTES": "0"}
    given = Settings.from_env(env)
    assert (given.cache_max_bytes, given.cache_list_max_bytes) == (8 * 1024 * 1024, 0)


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings.from_env({}).addr = "x"  # type: ignore[misc]


def test_export_limits_are_read_with_operator_defaults() -> None:
    def limits(settings: Settings) -> tuple[float, float, int]:
        return settings.stream_stall_s, settings.export_max_s, settings.export_max_concurrent

    assert limits(Settings.from_env({})) == (30.0, 900.0, 4)
    env = {"WELLSPRING_STREAM_STALL_S": "2.5", "WELLSPRING_EXPORT_MAX_S": "60"}
    assert limits(Settings.from_env({**env, "WELLSPRING_EXPORT_MAX_CONCURRENT": "8"})) == (2.5, 60.0, 8)


def test_connection_and_watch_limits_are_read_with_operator_defaults() -> None:
    def limits(settings: Settings) -> tuple[object, ...]:
        return (
            settings.max_concurrent_streams,
            settings.max_metadata_bytes,
            settings.watch_max_watchers,
            settings.watch_max_per_connection,
            settings.keepalive_time_s,
            settings.keepalive_permit_without_calls,
            settings.max_connection_idle_s,
            settings.max_connection_age_s,
            settings.max_connection_age_grace_s,
        )

    assert limits(Settings.from_env({})) == (100, 16384, 1000, 0, 60.0, True, 300.0, 1800.0, 900.0)
    env = {
        "WELLSPRING_MAX_CONCURRENT_STREAMS": "20",
        "WELLSPRING_MAX_METADATA_BYTES": "4096",
        "WELLSPRING_WATCH_MAX_WATCHERS": "10",
        "WELLSPRING_WATCH_MAX_PER_CONNECTION": "0",
        "WELLSPRING_KEEPALIVE_TIME_S": "30",
        "WELLSPRING_KEEPALIVE_PERMIT_WITHOUT_CALLS": "0",
        "WELLSPRING_MAX_CONNECTION_IDLE_S": "0",
        "WELLSPRING_MAX_CONNECTION_AGE_S": "0",
        "WELLSPRING_MAX_CONNECTION_AGE_GRACE_S": "5",
    }
    assert limits(Settings.from_env(env)) == (20, 4096, 10, 0, 30.0, False, 0.0, 0.0, 5.0)
    for name, value in (
        ("WELLSPRING_MAX_CONCURRENT_STREAMS", "0"),
        ("WELLSPRING_MAX_METADATA_BYTES", "100"),
        ("WELLSPRING_WATCH_MAX_WATCHERS", "0"),
        ("WELLSPRING_KEEPALIVE_TIME_S", "0"),
        ("WELLSPRING_KEEPALIVE_TIMEOUT_S", "0"),
        ("WELLSPRING_MAX_CONNECTION_AGE_S", "-1"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


def test_shutdown_drains_for_a_second_by_default_and_the_value_is_one_default() -> None:
    assert Settings.from_env({}).shutdown_drain_s == 1.0 == Settings().shutdown_drain_s
    assert Settings.from_env({"WELLSPRING_SHUTDOWN_DRAIN_S": "0"}).shutdown_drain_s == 0.0


def test_creating_sqlite_directories_outside_var_must_be_asked_for() -> None:
    assert not Settings.from_env({}).sqlite_create_dirs
    assert Settings.from_env({"WELLSPRING_SQLITE_CREATE_DIRS": "1"}).sqlite_create_dirs
    with pytest.raises(ConfigError, match="WELLSPRING_SQLITE_CREATE_DIRS"):
        Settings.from_env({"WELLSPRING_SQLITE_CREATE_DIRS": "sometimes"})


@pytest.mark.parametrize("port", ["abc", ""])
def test_a_bad_database_port_is_refused_without_echoing_the_password(port: str) -> None:
    with pytest.raises(ConfigError, match="WELLSPRING_DATABASE_URL") as refused:
        Settings.from_env({"WELLSPRING_DATABASE_URL": f"postgresql://u:s3cret@host:{port}/db"})
    assert "s3cret" not in str(refused.value) and "port" in str(refused.value)


def test_a_refused_redis_scheme_is_named_without_the_password() -> None:
    with pytest.raises(ConfigError, match="WELLSPRING_REDIS_URL") as refused:
        Settings.from_env({"WELLSPRING_REDIS_URL": "http://:s3cret@x"})
    assert "s3cret" not in str(refused.value) and "'http'" in str(refused.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WELLSPRING_AUTH": "maybe"}, "WELLSPRING_AUTH"),
        ({"WELLSPRING_AUTH": "jwt"}, "WELLSPRING_AUTH_HS256_SECRET"),
        ({"WELLSPRING_AUTH_HS256_SECRET": "short"}, "WELLSPRING_AUTH_HS256_SECRET"),
        ({"WELLSPRING_AUTH_JWKS": "/no/such/jwks.json"}, "WELLSPRING_AUTH_JWKS"),
        ({"WELLSPRING_AUTH_HS256_SECRET": "s" * 32, "WELLSPRING_AUTH_JWKS": "https://x/jwks"}, "(one)"),
        ({"WELLSPRING_REFLECTION": "sometimes"}, "WELLSPRING_REFLECTION"),
    ],
)
def test_auth_mistakes_are_one_line_naming_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_auth_is_on_with_a_secret_and_reflection_follows_it() -> None:
    off = Settings.from_env({})
    assert not off.auth_on and off.reflection_on and off.auth == ""
    on = Settings.from_env({"WELLSPRING_AUTH_HS256_SECRET": "s" * 32})
    assert on.auth_on and not on.reflection_on and "s" * 32 not in repr(on)
    assert Settings.from_env(
        {"WELLSPRING_AUTH_HS256_SECRET": "s" * 32, "WELLSPRING_REFLECTION": "1"}
    ).reflection_on


@pytest.mark.parametrize(
    ("addr", "auth", "refused"),
    [
        ("127.0.0.1:50051", "", False),
        ("localhost:50051", "", False),
        ("[::1]:50051", "", False),
        ("0.0.0.0:50051", "", True),
        ("[::]:50051", "", True),
        ("10.1.2.3:50051", "", True),
        ("0.0.0.0:50051", "none", False),
    ],
)
def test_serving_beyond_loopback_needs_auth_or_an_explicit_none(addr: str, auth: str, refused: bool) -> None:
    settings = Settings.from_env({"WELLSPRING_ADDR": addr, "WELLSPRING_AUTH": auth})
    if refused:
        with pytest.raises(ConfigError, match="WELLSPRING_AUTH"):
            settings.check_exposure()
    else:
        settings.check_exposure()


def test_rate_limits_are_on_with_authentication_unless_said_off() -> None:
    secret = {"WELLSPRING_AUTH_HS256_SECRET": "s" * 32}
    assert Settings.from_env({}).effective_rate_limit is None
    assert Settings.from_env(secret).effective_rate_limit == "1000/second"
    assert Settings.from_env(secret | {"WELLSPRING_RATE_LIMIT": "off"}).effective_rate_limit is None
    assert Settings.from_env({"WELLSPRING_RATE_LIMIT": "50/minute"}).effective_rate_limit == "50/minute"
    exempt = Settings.from_env({"WELLSPRING_RATE_LIMIT_EXEMPT": "sub:svc, peer:ipv4:10.0.0.5"})
    assert exempt.rate_limit_exempt == {"sub:svc", "peer:ipv4:10.0.0.5"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WELLSPRING_RATE_LIMIT", "plenty"),
        ("WELLSPRING_RATE_LIMIT_EXEMPT", "svc"),
        ("WELLSPRING_RATE_LIMIT_EXEMPT", "sub:"),
    ],
)
def test_a_bad_rate_limit_setting_names_itself(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_client_certificate_port_needs_its_ca_and_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    tls = {"WELLSPRING_TLS_CERT_FILE": str(ca), "WELLSPRING_TLS_KEY_FILE": str(ca)}
    mtls = {"WELLSPRING_MTLS_ADDR": "0.0.0.0:50052", "WELLSPRING_TLS_CLIENT_CA_FILE": str(ca)}
    settings = Settings.from_env(tls | mtls | {"WELLSPRING_AUTH_CLIENT_CERT_SCOPES": "read,admin"})
    assert settings.auth_on and settings.mtls_addr == "0.0.0.0:50052"
    assert settings.auth_client_cert_scopes == {"read", "admin"}
    for env, named in (
        ({"WELLSPRING_MTLS_ADDR": "0.0.0.0:50052"}, "WELLSPRING_TLS_CLIENT_CA_FILE"),
        (mtls, "WELLSPRING_TLS_CERT_FILE"),
        (tls | mtls | {"WELLSPRING_TLS_CLIENT_CA_FILE": str(tmp_path / "missing.pem")}, "CLIENT_CA_FILE"),
    ):
        with pytest.raises(ConfigError, match=named):
            Settings.from_env(env)


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert Settings.from_env({}).traces_exporter is None
    assert Settings.from_env({"OTEL_TRACES_EXPORTER": "none"}).traces_exporter is None
    on = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
    assert Settings.from_env({**on, "OTEL_TRACES_SAMPLER_ARG": "0.25"}).traces_exporter == "otlp"
    assert Settings.from_env({**on, "OTEL_SDK_DISABLED": "true"}).traces_exporter is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "OTLP_PROTOCOL"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_TRACES_SAMPLER": "traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "2",
            },
            "OTEL_TRACES_SAMPLER_ARG",
        ),
    ],
)
def test_a_tracing_setting_the_sdk_would_ignore_is_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named) as refused:
        Settings.from_env(env)
    assert "\n" not in str(refused.value)
