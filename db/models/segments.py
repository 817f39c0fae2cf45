"""Members' tags and the brand's saved member filters (domain/segments.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.members import Member


class FilterSpecJson(TypedDict):
    """A saved member filter, as stored (domain/segments.py FilterSpec): moments in ISO 8601."""

    tier_codes: list[str]
    segments: list[str]
    joined_from: str | None
    joined_to: str | None
    tags: list[str]
    search: str | None


class MemberTag(Model):
    """A tag an admin gave a member (domain/segments.py); rules may be limited to tags."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tags", on_delete=fields.CASCADE
    )
    member_id: int
    brand_id = fields.IntField()
    tag = fields.CharField(max_length=40)
    tagged_at = fields.DatetimeField()

    class Meta:
        table = "member_tag"
        indexes = (("brand_id", "tag"),)
        constraints = (UniqueConstraint(fields=("member_id", "tag"), name="member_tag_key"),)


class MemberFilter(Model):
    """A saved filter of the brand's members, by code: what tagMembers may name."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="member_filters", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=40)
    name = fields.CharField(max_length=120)
    spec: fields.JSONField[FilterSpecJson] = fields.JSONField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "member_filter"
        constraints = (UniqueConstraint(fields=("brand_id", "code"), name="member_filter_code"),)
