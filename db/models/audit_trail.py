"""The audit trail of staff, admins and partners (domain/audit_trail.py)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """A state-changing operation by the brand's staff, admins or partners: who, what, on
    which records, with which input (secrets left out), when, in which request. Written in the
    operation's own transaction, with its idempotency record (domain/idempotency.py)."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    actor = fields.CharField(max_length=200)  # role:subject, as idempotency records name it
    operation = fields.CharField(max_length=64)
    targets: fields.JSONField[list[str]] = fields.JSONField(default=list)  # the records' global ids
    input: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    request_id = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "audit_entry"
        indexes = (("brand_id", "created_at"), ("brand_id", "actor", "created_at"))
