"""What every benchmark's command shares: its run, stopped cleanly, and its load options."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None]) -> None:
    """asyncio.run, where SIGTERM cancels like Ctrl-C does, so every cleanup still runs."""

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await main

    try:
        asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted: servers stopped, database and Redis keys removed")


def add_load_arguments(parser: argparse.ArgumentParser, seconds: float = 10.0) -> None:
    """The options every benchmark takes: how long, how many workers and connections."""
    parser.add_argument("--seconds", type=float, default=seconds, help="load per scenario")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
