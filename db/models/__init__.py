"""Tortoise models: PostgreSQL is the record of everything the points mall knows.

One module per area; every model (with its enums and stored JSON shapes) is re-exported here:
`db.models` is the Tortoise app's models module (db/database.py), which Tortoise searches for
models, and the migrations import from it. A relation to another area's model names it as
Tortoise does ("models.Brand"); its class is imported for type checking only.

Design: docs/architecture.md, "Areas, and where each lives".
"""

from __future__ import annotations

from db.models.audit_trail import AuditEntry
from db.models.brands import (
    Brand,
    ExpiryPolicy,
    JwtAlgorithm,
    StepUpJson,
    Store,
    TierMetric,
    VelocityLimitJson,
)
from db.models.catalog import (
    CatalogItem,
    Coupon,
    GiftJson,
    ItemKind,
    ItemStatus,
    Redemption,
    RedemptionStatus,
)
from db.models.flash_sales import FlashSale
from db.models.idempotency import IdempotencyRecord
from db.models.insights import (
    ActiveDay,
    BitStringField,
    ExpiryRollup,
    LedgerRollup,
    MemberDay,
    MemberNumber,
    MemberSegment,
    RollupWatermark,
)
from db.models.ledger import (
    Balance,
    LedgerEntry,
    LedgerKind,
    Lot,
    LotConsumption,
    Purchase,
)
from db.models.members import Member, MemberStatus, MemberStatusChange
from db.models.notices import (
    FlashSaleReminder,
    LotReminder,
    Notice,
    NoticeChannel,
    NoticeDelivery,
    NoticeGateway,
    NoticeKind,
    NoticeSwitch,
    NoticeTemplate,
)
from db.models.partners import ApiKey, Partner
from db.models.risk import RiskFlag, RiskFlagStatus
from db.models.rules import (
    Award,
    AwardKind,
    EarningRule,
    Rounding,
    RuleKind,
    TaskProof,
)
from db.models.segments import FilterSpecJson, MemberFilter, MemberTag
from db.models.tiers import Tier, TierChange
from db.models.webhooks import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "ActiveDay",
    "ApiKey",
    "AuditEntry",
    "Award",
    "AwardKind",
    "Balance",
    "BitStringField",
    "Brand",
    "CatalogItem",
    "Coupon",
    "DeliveryStatus",
    "EarningRule",
    "ExpiryPolicy",
    "ExpiryRollup",
    "FilterSpecJson",
    "FlashSale",
    "FlashSaleReminder",
    "GiftJson",
    "IdempotencyRecord",
    "ItemKind",
    "ItemStatus",
    "JwtAlgorithm",
    "LedgerEntry",
    "LedgerKind",
    "LedgerRollup",
    "Lot",
    "LotConsumption",
    "LotReminder",
    "Member",
    "MemberDay",
    "MemberFilter",
    "MemberNumber",
    "MemberSegment",
    "MemberStatus",
    "MemberStatusChange",
    "MemberTag",
    "Notice",
    "NoticeChannel",
    "NoticeDelivery",
    "NoticeGateway",
    "NoticeKind",
    "NoticeSwitch",
    "NoticeTemplate",
    "Partner",
    "Purchase",
    "Redemption",
    "RedemptionStatus",
    "RiskFlag",
    "RiskFlagStatus",
    "RollupWatermark",
    "Rounding",
    "RuleKind",
    "StepUpJson",
    "Store",
    "TaskProof",
    "Tier",
    "TierChange",
    "TierMetric",
    "VelocityLimitJson",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
