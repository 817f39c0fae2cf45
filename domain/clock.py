"""The time the business runs on: UTC now, which tests move forward to see points expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC now, plus an offset that only tests change (through `advance`)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def offset_ms(self) -> int:
        """How far ahead of real time this clock runs, in ms (0 outside tests): Redis scripts
        add it to Redis TIME so they and the domain agree on what time it is."""
        return int(self._offset.total_seconds() * 1000)

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
