"""What an answering pre-check returns for a planned document to render (schema/prechecks.py):
records with the values of their PLANNED fields beside their own.

Design: docs/architecture.md, "Planned documents".
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def answer_of(record: Any, **planned: Any) -> SimpleNamespace:
    """The record's attributes and `pk`, and `planned` beside them (a record may be shared, as
    the brand's copy is: it is not changed)."""
    return SimpleNamespace(**{**vars(record), "pk": record.pk, **planned})
