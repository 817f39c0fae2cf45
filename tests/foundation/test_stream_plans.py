"""Which subscription documents a socket renders itself after their first message (schema/plans.py
`stream_plan_of`, kept per document by schema/documents.py): a selection read from plain
attributes is, through fragments, literal directives and keys selected twice alike; anything
that needs execution (a resolver, a directive on a variable, the field twice) is not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from graphql import GraphQLError

from domain.principal import Principal, Role
from schema.build import build_schema
from schema.documents import DocumentRegistry
from schema.safety import GuardedSchema

PLANNED = [
    "subscription { balanceChanged { available version entry { kind points } } }",
    "subscription S($v: Int) { c: balanceChanged(sinceVersion: $v) { __typename v: version } }",
    "subscription { balanceChanged { member { id __typename displayName status email } } }",
    "subscription { balanceChanged { entry { id balanceAfter description pending } } }",
    "subscription { balanceChanged { entry { createdAt expiresAt pendingUntil actor reason } } }",
    "subscription { balanceChanged { ... on BalanceChange { version } } }",
    "subscription { balanceChanged { ...C } } fragment C on BalanceChange { entry { kind } }",
    "subscription { ...S } fragment S on Subscription { balanceChanged { version } }",
    "subscription { balanceChanged { version @include(if: true) entry @skip(if: true) { id } } }",
    "subscription { balanceChanged { version version entry { kind } entry { points } } }",
]
NOT_PLANNED = [
    "subscription { balanceChanged { entry { store { id } } } }",
    "subscription { balanceChanged { entry { breakdown { points } } } }",
    "subscription { balanceChanged { member { points { available } } } }",
    "subscription { balanceChanged { ...M } } fragment M on BalanceChange { member { tags } }",
    "subscription ($v: Boolean!) { balanceChanged { version @include(if: $v) } }",
    "subscription { balanceChanged { version } balanceChanged { available } }",
    'subscription { flashSaleStock(flashSaleId: "1") { remainingStock } }',
    "query { __typename }",
    "subscription { balanceChanged { nothing } }",
]


@pytest.fixture(scope="module")
def plans() -> DocumentRegistry:
    schema = build_schema()
    assert isinstance(schema, GuardedSchema) and schema.documents is not None
    return schema.documents


@pytest.mark.parametrize("document", PLANNED)
def test_a_selection_of_plain_attributes_is_rendered_by_the_socket(plans, document):
    assert plans.stream_plan(document, None) is not None


@pytest.mark.parametrize("document", NOT_PLANNED)
def test_a_selection_that_needs_execution_stays_with_strawberry(plans, document):
    assert plans.stream_plan(document, None) is None


def test_the_operation_named_is_the_one_planned(plans):
    document = "subscription A { balanceChanged { version } } query B { __typename }"
    assert plans.stream_plan(document, "A") is not None
    assert plans.stream_plan(document, "B") is None


def test_a_field_whose_permission_stops_admitting_fails_the_event_as_execution_would(plans):
    """A caller whom a field's permission class no longer admits (say, a key changed at a
    recheck) gets that class's error, with its code, as strawberry's execution reports it."""
    plan = plans.stream_plan("subscription { balanceChanged { member { status } } }", None)
    assert plan is not None and plan.permissions
    partner = SimpleNamespace(principal=Principal(Role.PARTNER, 1, "BRAND", "partner-1"))
    with pytest.raises(GraphQLError) as refused:
        plan.render(SimpleNamespace(member=SimpleNamespace(status="ACTIVE")), partner)
    assert refused.value.extensions == {"code": "FORBIDDEN"}
