"""Webhook endpoints: public addresses only in production, resolved once, never redirected."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address

import pytest

from db.models import DeliveryStatus, Partner, WebhookDelivery, WebhookEndpoint, WebhookEvent
from domain.errors import DomainError
from domain.runtime import WebhookPolicy
from domain.webhooks import deliver_due, resolve_url
from tests.support.live import free_port

PRODUCTION = WebhookPolicy(require_https=True, allow_private=False)
NOT_PUBLIC = [
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # a cloud's metadata service
    "169.254.169.254",  # another's
    "10.1.2.3",
    "127.0.0.1",
    "0.0.0.0",
    "[::1]",
    "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[fc00::1]",
]


@pytest.mark.parametrize("host", NOT_PUBLIC)
async def test_production_refuses_every_address_that_is_not_public(host):
    with pytest.raises(DomainError, match="public internet addresses"):
        await resolve_url(f"https://{host}/hooks", PRODUCTION)


async def test_a_name_with_one_private_address_is_refused():
    async def resolve(host: str):
        return [ip_address("93.184.216.34"), ip_address("10.0.0.7")]

    with pytest.raises(DomainError):
        await resolve_url("https://hooks.partner.test/", replace(PRODUCTION, resolve=resolve))


async def test_a_public_address_goes_to_that_address_under_its_name():
    async def resolve(host: str):
        return [ip_address("93.184.216.34")]

    target = await resolve_url(
        "https://hooks.partner.test:8443/in?x=1", replace(PRODUCTION, resolve=resolve)
    )
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert (target.host_header, target.server_name) == (
        "hooks.partner.test:8443",
        "hooks.partner.test",
    )


class Recorder(BaseHTTPRequestHandler):
    """Records each POST's Host header; answers 302 to /elsewhere when asked to redirect."""

    hosts: list[str]
    redirect = False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.hosts.append(self.headers["Host"])
        self.send_response(302 if self.redirect else 200)
        if self.redirect:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[type[Recorder]]:
    handler = type("Handler", (Recorder,), {"hosts": []})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    handler.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


async def queued_delivery(brand, url: str, now: datetime) -> WebhookDelivery:
    partner = await Partner.create(
        brand=brand, code=f"p{uuid.uuid4().hex[:8]}", name="P", created_at=now
    )
    endpoint = await WebhookEndpoint.create(
        brand=brand, partner=partner, url=url, events=["offer.approved"], secret="s" * 32,
        created_at=now,
    )  # fmt: skip
    event = await WebhookEvent.create(
        brand=brand,
        partner=partner,
        event_id=uuid.uuid4().hex,
        type="offer.approved",
        payload={},
        created_at=now,
    )
    return await WebhookDelivery.create(
        event=event, endpoint=endpoint, next_attempt_at=now, created_at=now
    )


async def delivered_or_tried(rt, delivery: WebhookDelivery, rounds: int = 20) -> None:
    """Run the delivery job until it has tried `delivery` (it claims every test's due
    deliveries, a batch at a time, so others may come first)."""
    for _ in range(rounds):
        await deliver_due(rt)
        await delivery.refresh_from_db()
        if delivery.attempts:
            return
    raise AssertionError("The delivery job never tried the delivery.")


async def test_a_delivery_resolves_its_host_once_and_posts_to_that_address(
    runtime, brand, receiver
):
    """DNS rebinding: the name was resolved for the check and again by the HTTP client, whose
    answer (127.0.0.1) was never checked. Now the client is handed the checked address."""
    answers = iter([[ip_address("127.0.0.1")]])
    calls = []

    async def resolve(host: str):
        calls.append(host)
        return next(answers)  # a second resolution would raise StopIteration

    delivery = await queued_delivery(
        brand, f"http://hooks.partner.test:{receiver.port}/in", runtime.clock.now()
    )
    policy = WebhookPolicy(require_https=False, allow_private=True, resolve=resolve)
    await delivered_or_tried(replace(runtime, webhooks=policy), delivery)
    assert delivery.status is DeliveryStatus.DELIVERED, delivery.last_error
    assert calls == ["hooks.partner.test"]
    assert receiver.hosts == [f"hooks.partner.test:{receiver.port}"]


async def test_a_redirect_is_never_followed(runtime, brand, receiver):
    receiver.redirect = True
    delivery = await queued_delivery(
        brand, f"http://127.0.0.1:{receiver.port}/in", runtime.clock.now()
    )
    await delivered_or_tried(replace(runtime, webhooks=WebhookPolicy(False, True)), delivery)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.last_error == "HTTP 302"
    assert len(receiver.hosts) == 1
