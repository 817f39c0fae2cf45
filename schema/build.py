"""The GraphQL schema, assembled: types per area, with its safety configuration in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.audit_trail import AuditTrailQueries
from schema.brands import BrandMutations, BrandQueries
from schema.catalog import CatalogMutations, CatalogQueries, CatalogSubscriptions
from schema.documents import DOCUMENT_CACHE_BYTES, DocumentsMode, build_documents
from schema.errors import UserError
from schema.execution import (
    PlainListsExecutor,
    RememberingNameConverter,
    build_inputs_directly,
    resolve_plain_fields_directly,
)
from schema.flash_sales import FlashSaleMutations, FlashSaleQueries, FlashSaleSubscriptions
from schema.insights import InsightQueries
from schema.ledger import LedgerMutations, LedgerSubscriptions
from schema.members import MemberMutations, MemberQueries
from schema.node import NodeQueries
from schema.notices import NoticeMutations, NoticeQueries, NoticeSubscriptions
from schema.observability import OperationMetrics
from schema.partners import PartnerMutations, PartnerQueries
from schema.prechecks import check_declarations
from schema.relay import PageInfo
from schema.risk import RiskMutations, RiskQueries
from schema.rules import RuleMutations, RuleQueries
from schema.safety import GuardedSchema, build_extensions
from schema.scalars import SCALAR_OVERRIDES
from schema.segments import SegmentMutations, SegmentQueries
from schema.tiers import TierSubscriptions
from schema.verification import VerificationMutations, VerificationQueries
from schema.webhooks import WebhookMutations, WebhookQueries

Query = merge_types(
    "Query",
    (
        NodeQueries,
        MemberQueries,
        BrandQueries,
        RuleQueries,
        CatalogQueries,
        FlashSaleQueries,
        PartnerQueries,
        WebhookQueries,
        NoticeQueries,
        InsightQueries,
        AuditTrailQueries,
        RiskQueries,
        VerificationQueries,
        SegmentQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutations,
        LedgerMutations,
        BrandMutations,
        RuleMutations,
        CatalogMutations,
        FlashSaleMutations,
        PartnerMutations,
        WebhookMutations,
        NoticeMutations,
        RiskMutations,
        VerificationMutations,
        SegmentMutations,
    ),
)
Subscription = merge_types(
    "Subscription",
    (
        LedgerSubscriptions,
        TierSubscriptions,
        FlashSaleSubscriptions,
        NoticeSubscriptions,
        CatalogSubscriptions,
    ),
)


@dataclass(frozen=True)
class SchemaLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_cost: int = 5000
    max_batch_operations: int = 10
    mask_internal_errors: bool = False
    introspection: bool = True
    document_cache_bytes: int = DOCUMENT_CACHE_BYTES  # of ad-hoc and APQ texts kept
    documents: DocumentsMode = DocumentsMode.ANY
    trusted_documents: tuple[Path, ...] = ()  # manifests of trusted documents


def build_schema(
    limits: SchemaLimits = SchemaLimits(),
    metrics: OperationMetrics | None = None,
    tracing: Callable[[], SchemaExtension] | None = None,
) -> strawberry.Schema:
    """The executable schema with its limits, documents, error hygiene, metrics and, given
    its extension's factory, tracing; ManifestError for a trusted-document manifest it cannot
    run."""
    documents = build_documents(
        max_depth=limits.max_depth,
        max_aliases=limits.max_aliases,
        max_tokens=limits.max_tokens,
        max_cost=limits.max_cost,
        introspection=limits.introspection,
        max_bytes=limits.document_cache_bytes,
        mode=limits.documents,
    )
    schema = GuardedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Conventions every area's payloads and connections use.
        types=[UserError, PageInfo],
        scalar_overrides=SCALAR_OVERRIDES,
        config=StrawberryConfig(
            name_converter=RememberingNameConverter(),
            batching_config={"max_operations": limits.max_batch_operations},
        ),
        extensions=build_extensions(
            documents, metrics.observe if metrics is not None else None, tracing
        ),
        documents=documents,
        mask_internal=limits.mask_internal_errors,
        count_error=metrics.count_error if metrics is not None else None,
        execution_context_class=PlainListsExecutor,
    )
    build_inputs_directly(schema)
    resolve_plain_fields_directly(schema)
    check_declarations(schema)
    for manifest in limits.trusted_documents:
        documents.load_manifest(manifest)  # planned with the schema's final resolvers
    return schema


def export_sdl() -> str:
    """The schema's SDL, as `pointsmall export-schema` prints it and schema.graphql holds it."""
    return build_schema().as_str() + "\n"
