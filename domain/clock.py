"""The time the business runs on: UTC now, which tests move forward to see points expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC now, plus an offset that only tests change (through `advance`)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
