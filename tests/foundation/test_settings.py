"""Settings: production refuses to start without its backends and keys; development helps."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from server.app import create_app
from server.settings import Environment, Settings, SettingsError
from tests.support.live import start_live_server, stop_live_server


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


# Origins ------------------------------------------------------------------------------------

DEV_SERVER = "http://localhost:5173"


async def preflight(app: object, origin: str) -> httpx.Response:
    """The browser's CORS preflight for a POST of JSON with a token, from a page on `origin`."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://pointsmall.test") as http:
        return await http.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )


def allows(response: httpx.Response, origin: str) -> bool:
    return (
        response.status_code == 200
        and response.headers.get("access-control-allow-origin") == origin
    )


@pytest.mark.parametrize(
    "origin", [DEV_SERVER, "https://localhost:8443", "http://127.0.0.1:3000", "http://localhost"]
)
async def test_development_lets_pages_of_this_machine_call_the_api(app, origin):
    assert allows(await preflight(app, origin), origin)


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://localhost.evil.example:5173", "http://10.0.0.1:5173"],
)
async def test_development_refuses_other_origins(app, origin):
    response = await preflight(app, origin)
    assert response.status_code == 400 and not allows(response, origin)


async def test_production_allows_only_the_listed_origins(settings):
    production = settings.model_copy(
        update={"env": Environment.PRODUCTION, "allowed_origins": ["https://shop.example"]}
    )
    app = create_app(production, configure_logs=False)
    assert allows(await preflight(app, "https://shop.example"), "https://shop.example")
    refused = await preflight(app, DEV_SERVER)
    assert refused.status_code == 400 and not allows(refused, DEV_SERVER)


def test_metrics_bind_names_a_host_and_a_port():
    assert Settings().metrics_address is None  # on the public port
    assert Settings(metrics_bind="10.0.0.5:9100").metrics_address == ("10.0.0.5", 9100)
    assert Settings(metrics_bind=":9100").metrics_address == ("0.0.0.0", 9100)
    assert Settings(metrics_bind="[::1]:9100").metrics_address == ("::1", 9100)
    for wrong in ("9100", "localhost", "host:port"):
        with pytest.raises(ValidationError):
            Settings(metrics_bind=wrong)
