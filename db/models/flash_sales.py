"""Flash sales of catalog items."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.catalog import CatalogItem


class FlashSale(Model):
    """A time-limited sale of a catalog item with its own stock, decided in Redis first and in
    PostgreSQL last: `sold` never passes `total_stock` (a CHECK, and a conditional update)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="flash_sales", on_delete=fields.CASCADE
    )
    brand_id: int
    item: fields.ForeignKeyRelation[CatalogItem] = fields.ForeignKeyField(
        "models.CatalogItem", related_name="flash_sales", on_delete=fields.RESTRICT
    )
    item_id: int
    points_price = fields.IntField()
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    total_stock = fields.IntField()
    sold = fields.IntField(default=0)
    per_member_limit = fields.IntField(default=1)
    cancelled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "flash_sale"
        indexes = (("brand_id", "starts_at"),)
        constraints = (
            CheckConstraint(
                check="sold >= 0 AND sold <= total_stock", name="flash_sale_sold_within_stock"
            ),
            CheckConstraint(check="total_stock > 0", name="flash_sale_stock_positive"),
            CheckConstraint(check="points_price >= 0", name="flash_sale_points_price"),
            CheckConstraint(check="per_member_limit > 0", name="flash_sale_limit_positive"),
            CheckConstraint(check="starts_at < ends_at", name="flash_sale_window"),
        )
