"""The sockets' credential checks wait in slots of the process's `Rechecks`
(server/sockets.py): one timer for every socket due in the same slot, none per socket."""

from __future__ import annotations

import asyncio
import gc
import weakref

from server.sockets import RECHECK_GRAIN, Rechecks


class Checked:
    """A socket's handler, as far as `Rechecks` uses one."""

    def __init__(self) -> None:
        self.started = 0

    def start_check(self) -> None:
        self.started += 1


def timers(loop: asyncio.AbstractEventLoop) -> int:
    return sum(1 for timer in loop._scheduled if not timer.cancelled())  # type: ignore[attr-defined]


async def test_sockets_due_together_share_one_timer_and_each_is_checked_once():
    loop = asyncio.get_running_loop()
    rechecks = Rechecks(loop)
    before = timers(loop)
    handlers = [Checked() for _ in range(50)]
    for handler in handlers:
        rechecks.add(handler, 0.2)  # type: ignore[arg-type]
    assert timers(loop) - before <= 2  # the 50 fall in one slot, or straddle two
    await asyncio.sleep(0.2 + 2 * RECHECK_GRAIN)
    assert [handler.started for handler in handlers] == [1] * 50
    assert not rechecks.due


async def test_a_cancelled_check_does_not_start():
    rechecks = Rechecks(asyncio.get_running_loop())
    kept, cancelled = Checked(), Checked()
    rechecks.add(kept, 0.05)  # type: ignore[arg-type]
    slot = rechecks.add(cancelled, 0.05)  # type: ignore[arg-type]
    rechecks.cancel(cancelled, slot)  # type: ignore[arg-type]
    await asyncio.sleep(0.05 + 2 * RECHECK_GRAIN)
    assert (kept.started, cancelled.started) == (1, 0)


def test_a_finished_loop_is_not_kept_by_its_rechecks():
    """The rechecks of each loop are kept under the loop, weakly: once the loop is gone, so are
    they (a loop per test would otherwise pile up for the process's life)."""

    async def rechecks_of_loop() -> None:
        Rechecks.of_loop()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(rechecks_of_loop())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None
