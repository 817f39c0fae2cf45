"""Settings: production refuses to start without its backends and keys; development helps."""

from __future__ import annotations

import httpx
import pytest

from server.settings import Settings, SettingsError
from tests.conftest import start_live_server, stop_live_server


def test_production_names_every_missing_setting():
    with pytest.raises(SettingsError) as raised:
        Settings(env="production", database_url=None, redis_url=None).check_production()
    for name in ("DATABASE_URL", "REDIS_URL", "POINTSMALL_JWT_SECRET"):
        assert name in str(raised.value)


def test_production_refuses_a_short_secret():
    settings = Settings(env="production", database_url="d", redis_url="r", jwt_secret="s" * 31)
    with pytest.raises(SettingsError, match="at least 32"):
        settings.check_production()
    with pytest.raises(SettingsError):
        Settings(env="production", jwt_secret=None).resolved_jwt_secret()


def test_development_generates_one_secret_and_keeps_it(tmp_path):
    first, notice = Settings(data_dir=tmp_path, jwt_secret=None).resolved_jwt_secret()
    second, _ = Settings(data_dir=tmp_path, jwt_secret=None).resolved_jwt_secret()
    assert first == second and len(first) >= 32
    assert str(tmp_path / "jwt-secret") in notice
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_production_serves_no_graphiql_and_keeps_user_facing_errors(settings):
    server = start_live_server(settings, env={"POINTSMALL_ENV": "production"})
    try:
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404
        assert page.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        validation = httpx.post(f"{server.url}/graphql", json={"query": "{ nope }"})
        assert "nope" in validation.json()["errors"][0]["message"]
    finally:
        stop_live_server(server)
