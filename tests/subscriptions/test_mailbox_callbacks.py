"""A bus mailbox that no task waits on calls its consumer back when the next event comes
(subscriptions/bus.py `Mailbox.on_put`), once."""

from __future__ import annotations

from subscriptions.bus import Mailbox


async def test_the_next_event_calls_back_once_and_is_then_taken_in_order():
    mailbox = Mailbox(10)
    calls: list[bool] = []
    assert mailbox.empty()
    mailbox.on_put(lambda: calls.append(mailbox.empty()))
    mailbox.put({"version": 1})
    mailbox.put({"version": 2})
    assert calls == [False]  # called once, with the event already there
    assert not mailbox.empty()
    assert [await anext(mailbox), await anext(mailbox)] == [{"version": 1}, {"version": 2}]
    assert mailbox.empty()


async def test_the_end_calls_back_too():
    mailbox = Mailbox(10)
    calls: list[str] = []
    mailbox.on_put(lambda: calls.append("called"))
    mailbox.put(None)
    assert calls == ["called"]
    assert not mailbox.empty()
    assert await anext(mailbox, "ended") == "ended"
