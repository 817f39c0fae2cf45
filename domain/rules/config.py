"""A brand's earning rules and tiers, as every earn reads them: kept in-process per version.

Every change to a brand's rules or tiers raises `brand.earning_version` in its own transaction
(`earning_changed`). An earn reads the brand row first (its book does), so it knows the version
it must use: a copy of that version or a newer one is as good as reading the tables then, and
an older one is never used. Nothing expires by time and no process misses a change.

Design: docs/decisions.md, "A brand's rules cached per version, not per TTL".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Brand, EarningRule, Tier
from db.rows import model_of
from domain.rules.engine import Rule

LIVE_RULES_SQL = "SELECT * FROM earning_rule WHERE brand_id = $1 AND archived_at IS NULL"
TIERS_SQL = "SELECT * FROM tier WHERE brand_id = $1 ORDER BY rank"
RAISE_VERSION_SQL = "UPDATE brand SET earning_version = earning_version + 1 WHERE id = $1"


@dataclass(frozen=True, slots=True)
class EarningConfig:
    """The brand's live rules and its tiers (lowest rank first) at one version. Shared by
    every request of the process: read-only."""

    brand_created_at: datetime  # with the id, tells the brand from another database's
    version: int
    rules: tuple[Rule, ...]
    tiers: tuple[Tier, ...]

    def tier(self, tier_id: int) -> Tier:
        return next(tier for tier in self.tiers if tier.id == tier_id)


_configs: dict[int, EarningConfig] = {}


def rule_of(stored: EarningRule) -> Rule:
    """The engine's copy of a stored rule."""
    return Rule(
        id=stored.id,
        code=stored.code,
        name=stored.name,
        kind=stored.kind,
        priority=stored.priority,
        rate=stored.rate,
        rounding=stored.rounding,
        multiplier=stored.multiplier,
        category=stored.category,
        threshold=stored.threshold,
        points=stored.points,
        referrer_points=stored.referrer_points,
        referrer_monthly_cap=stored.referrer_monthly_cap,
        task_code=stored.task_code,
        proof=stored.proof,
        daily_limit=stored.daily_limit,
        lifetime_limit=stored.lifetime_limit,
        starts_at=stored.starts_at,
        ends_at=stored.ends_at,
        weekdays=frozenset(stored.weekdays),
        store_codes=frozenset(stored.store_codes),
        partner_codes=frozenset(stored.partner_codes),
        tier_codes=frozenset(stored.tier_codes),
        cap_points=stored.cap_points,
        expiry_days=stored.expiry_days,
        nth_purchase=stored.nth_purchase,
        repeats=stored.repeats,
        tag_codes=frozenset(stored.tag_codes),
    )


async def earning_config(connection: BaseDBAsyncClient, brand: Brand) -> EarningConfig:
    """The brand's rules and tiers as of `brand.earning_version` or later."""
    config = _configs.get(brand.id)
    if (
        config is not None
        and config.brand_created_at == brand.created_at
        and config.version >= brand.earning_version
    ):
        return config
    rules = await connection.execute_query_dict(LIVE_RULES_SQL, [brand.id])
    tiers = await connection.execute_query_dict(TIERS_SQL, [brand.id])
    config = EarningConfig(
        brand.created_at,
        brand.earning_version,
        tuple(rule_of(model_of(EarningRule, row)) for row in rules),
        tuple(model_of(Tier, row) for row in tiers),
    )
    _configs[brand.id] = config
    return config


async def earning_changed(connection: BaseDBAsyncClient, brand_id: int) -> None:
    """Say, in the transaction that changes the brand's rules or tiers, that they changed."""
    await connection.execute_query(RAISE_VERSION_SQL, [brand_id])
