"""Subscriptions whose events a socket renders itself, after strawberry has sent the first.

A `balanceChanged` subscriber waits for hours between two changes of its balance, and while it
waits strawberry's pipeline keeps its operation's state alive: graphql-core's executor, the
extensions' contexts, the generators of the map from events to results, some 10 KB a subscriber.
For a document whose selection is read from plain attributes (`available`, `version`, the
entry's and the member's fields without a resolver, Node ids, `__typename`, fields guarded only
by permission classes, through fragments, literal @include/@skip and keys selected twice alike),
the socket takes the stream over once strawberry has sent the first message: the field's
permission checks, the resolver's refusals and the first result are strawberry's, as for any
operation. strawberry's pipeline then ends without a `complete` and what it kept is freed at
once (`release_executor` breaks the executor's reference cycle: left to the collector, an
executor old enough to be in its oldest generation would hold its memory long after, where no
later subscriber can use it). Each later event is rendered from the resolver's value as
execution renders it, by the document's stream plan (schema/plans.py `StreamPlan`, kept with the
document by schema/documents.py), and sent as strawberry sends a `next` (server/sockets.py
`continue_results`), by a task of the operation's own only while it has events to send: a
stream that `WaitsForEvents` waits for the next with no task at all (the operation is parked,
schema/strawberry_internals.py). Its end, a failure of its stream, a `complete` from the client
and the socket's close are those of strawberry's pipeline. Permission classes that refuse
with an error are asked before the takeover and before each event; those that `fail_silently`
make their field null, as strawberry's do. A null for a non-null field ends the stream as a
failure of the stream does, with its error.

Any other selection (a field with a resolver, an abstract type, a directive on a variable)
stays in strawberry's pipeline for the subscription's whole life.
tests/clients/test_taken_over_streams.py compares both, byte for byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

from schema.plans import StreamPlan
from schema.strawberry_internals import release_executor


class Takeover:
    """One operation's stream, handed over by its resolver (`after_first`) once strawberry has
    had its first value; `rest` is what is left of it then."""

    __slots__ = ("info", "plan", "rest", "value_of")

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        self.info: Any = None  # the resolver's, until the stream is handed over
        self.rest: AsyncIterator[Any] | None = None
        self.value_of: Callable[[Any], Any] = _itself

    def after_first(
        self, values: AsyncIterator[Any], value_of: Callable[[Any], Any], info: Any
    ) -> AsyncIterator[Any]:
        """What strawberry iterates: the field's value of the first of `values`, then the
        end, leaving the rest here."""
        self.value_of = value_of
        self.info = info
        return _FirstOnly(values, self)

    def hand_over(self, rest: AsyncIterator[Any]) -> None:
        self.rest = rest
        info, self.info = self.info, None
        release_executor(info)


@runtime_checkable
class WaitsForEvents(Protocol):
    """A stream that can tell when its next value waits for an event, and call back when one
    comes: its socket then keeps no task waiting on it (domain/ledger/live.py `EntryWatch`)."""

    def idle(self) -> bool: ...

    def on_event(self, callback: Callable[[], None]) -> None: ...


async def aclose(values: AsyncIterator[Any]) -> None:
    """Close an async iterator that can be closed (a generator, say)."""
    close = getattr(values, "aclose", None)
    if close is not None:
        await close()


def _itself(value: Any) -> Any:
    return value


class _FirstOnly:
    """An async iterator of the first of `values` alone; its second step hands `values` to the
    takeover instead of taking one."""

    __slots__ = ("_first_taken", "_takeover", "_values")

    def __init__(self, values: AsyncIterator[Any], takeover: Takeover) -> None:
        self._values: AsyncIterator[Any] | None = values
        self._takeover = takeover
        self._first_taken = False

    def __aiter__(self) -> _FirstOnly:
        return self

    async def __anext__(self) -> Any:
        if self._values is None:
            raise StopAsyncIteration
        if self._first_taken:
            values, self._values = self._values, None
            self._takeover.hand_over(values)
            raise StopAsyncIteration
        value = await anext(self._values)
        self._first_taken = True
        return self._takeover.value_of(value)

    async def aclose(self) -> None:
        if self._values is not None:  # not handed over
            await aclose(self._values)
