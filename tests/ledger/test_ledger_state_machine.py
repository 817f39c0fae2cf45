"""The ledger as a state machine: random movements through the API, checked after every step.

Hypothesis registers members, records purchases, reverses them in part or in full, adjusts
points up and down, redeems catalog items and cancels redemptions, moves the clock forward and
runs the expiry and release jobs, in any order. After every step the books must pass the audit,
and each member's balance and ledger must match a pure model of lots: expiry dates in the
brand's timezone, FIFO consumption, proportional reversal (the purchase's own lot first) with
the shortfall paid off by later credits and returns, and cancelled redemptions giving points
back to the lots they came from (or, for lots that expired meanwhile, to a new lot of the grace
period). It runs for a brand that makes points available at once, and for one that holds a
purchase's points as pending for its return window: held lots neither spend nor expire, a
refund cancels them first, and they are released (paying off any shortfall) once it closes.

Hypothesis runs rules synchronously, while the app lives on the session's event loop: the
machine runs in a worker thread and hands each coroutine to that loop.
"""

from __future__ import annotations

import asyncio
import calendar
import copy
import math
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from db.models import Brand
from domain.brands import create_brand
from domain.ledger.audit import audit
from domain.ledger.expiry import expire_member, run_expiry, run_release
from resolvers.ids import parse_id
from tests.support.factories import Staff

ZONE = "Asia/Shanghai"
EXPIRY_MONTHS = 1  # short, so a few weeks of clock show lots expiring
MAX_ADVANCE = timedelta(days=50)  # per example: the session's clock only ever moves forward
MIDNIGHT_MARGIN = timedelta(minutes=1)
STEP_TIMEOUT = 30
MAX_MEMBERS = 3
GRACE_DAYS = 30  # the brand's default
ITEM_PRICE = 40

MEMBER_LEDGER = """
query ($id: ID!) {
  member(id: $id) {
    points {
      available pending version lifetimeEarned
      expiring(withinDays: 400) { points expiresAt }
    }
    ledger(first: 100) {
      edges { node { kind points balanceAfter version shortfall pending } }
      pageInfo { hasNextPage }
    }
  }
}
"""

REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) {
    redemption { id }
    member { points { available version } }
    userErrors { field message code }
  }
}
"""

CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) {
    redemption { id status }
    member { points { available version } }
    userErrors { field message code }
  }
}
"""

CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { field message code } }
}
"""

MACHINE_SETTINGS = settings(
    deadline=None,
    max_examples=20,
    stateful_step_count=50,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# The model ---------------------------------------------------------------------------------


def model_expiry(earned_at: datetime) -> datetime:
    """Rolling expiry: through the same local day EXPIRY_MONTHS later (or the month's last)."""
    zone = ZoneInfo(ZONE)
    day = earned_at.astimezone(zone).date()
    month_index = day.month - 1 + EXPIRY_MONTHS
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)


def model_grace_expiry(now: datetime) -> datetime:
    """Returned points of an expired lot last through the local day GRACE_DAYS from now."""
    zone = ZoneInfo(ZONE)
    day = now.astimezone(zone).date() + timedelta(days=GRACE_DAYS + 1)
    return datetime.combine(day, time.min, tzinfo=zone)


class Refused(Exception):
    """The model's prediction that the service refuses a movement with this code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class ModelLot:
    points: int
    expires_at: datetime
    order_ref: str | None
    held_until: datetime | None = None  # pending until then
    remaining: int = 0
    expired: bool = False
    expired_points: int = 0  # what was left of it when it expired

    def __post_init__(self) -> None:
        self.remaining = self.points


@dataclass
class ModelPurchase:
    total: Decimal
    points: int
    refunded: Decimal = Decimal(0)
    reversed: int = 0


@dataclass
class ModelRedemption:
    taken: list[tuple[ModelLot, int]]  # what the REDEEM took from which lot, in that order
    cancelled: bool = False


@dataclass(frozen=True)
class ModelEntry:
    kind: str
    points: int
    balance_after: int
    version: int
    shortfall: int = 0
    pending: int = 0


@dataclass
class ModelMember:
    """One member's points as the design describes them, in plain Python."""

    pending_days: int = 0  # the brand's

    lots: list[ModelLot] = field(default_factory=list)  # in creation order
    entries: list[ModelEntry] = field(default_factory=list)
    purchases: dict[str, ModelPurchase] = field(default_factory=dict)
    redemptions: dict[str, ModelRedemption] = field(default_factory=dict)
    shortfall: int = 0
    lifetime_earned: int = 0

    @property
    def available(self) -> int:
        return self.entries[-1].balance_after if self.entries else 0

    @property
    def version(self) -> int:
        return len(self.entries)

    @property
    def pending(self) -> int:
        return sum(entry.pending for entry in self.entries)

    def shown(self, now: datetime) -> ModelMember:
        """What a read shows: the member as if what is due were settled, even before the jobs
        or their next movement settle it."""
        settled = copy.deepcopy(self)
        settled.settle_due(now)
        return settled

    def expiring(self, now: datetime) -> list[tuple[int, datetime]]:
        """Points left per expiry moment, soonest first: which lots FIFO has consumed shows.
        Held lots count once their release time has come."""
        left: dict[datetime, int] = {}
        for lot in self.lots:
            if self.spendable(lot, now, released_by=now):
                left[lot.expires_at] = left.get(lot.expires_at, 0) + lot.remaining
        return [(points, moment) for moment, points in sorted(left.items())]

    @staticmethod
    def spendable(lot: ModelLot, now: datetime, released_by: datetime | None = None) -> bool:
        held = lot.held_until is not None and (released_by is None or lot.held_until > released_by)
        return not lot.expired and lot.remaining > 0 and lot.expires_at > now and not held

    def due(self, now: datetime) -> list[ModelLot]:
        """Lots past their expiry (a held lot never expires while held)."""
        return [
            lot
            for lot in self.lots
            if not lot.expired and lot.remaining > 0 and lot.expires_at <= now
            and lot.held_until is None
        ]  # fmt: skip

    def releasable(self, now: datetime) -> list[ModelLot]:
        return [
            lot
            for lot in self.lots
            if not lot.expired and lot.remaining > 0
            and lot.held_until is not None and lot.held_until <= now
        ]  # fmt: skip

    def append(self, kind: str, points: int, shortfall: int = 0, pending: int = 0) -> ModelEntry:
        entry = ModelEntry(
            kind, points, self.available + points, self.version + 1, shortfall, pending
        )
        self.entries.append(entry)
        return entry

    def settle_due(self, now: datetime) -> tuple[int, int]:
        """Release what is due (paying off a shortfall from the live lots, soonest expiry
        first), then expire what is due; returns (points released, points expired)."""
        released = self.releasable(now)
        total = sum(lot.remaining for lot in released)
        if released:
            live = sorted((lot for lot in released if lot.expires_at > now),
                          key=lambda lot: lot.expires_at)  # fmt: skip
            paid = min(self.shortfall, sum(lot.remaining for lot in live))
            self.shortfall -= paid
            still_to_pay = paid
            for lot in live:
                part = min(lot.remaining, still_to_pay)
                lot.remaining -= part
                still_to_pay -= part
            for lot in released:
                lot.held_until = None
            self.append("EARN", total - paid, pending=-total)
            self.lifetime_earned += total - paid
        return total, self.expire_due(now)

    def expire_due(self, now: datetime) -> int:
        due = self.due(now)
        total = sum(lot.remaining for lot in due)
        for lot in due:
            lot.expired_points, lot.remaining, lot.expired = lot.remaining, 0, True
        if due:
            self.append("EXPIRE", -total)
        return total

    def credit(
        self, kind: str, points: int, now: datetime, order_ref: str | None, held: bool = False
    ) -> ModelEntry:
        if held and self.pending_days:
            entry = self.append(kind, 0, pending=points)
            if points:
                held_until = now + timedelta(days=self.pending_days)
                self.lots.append(ModelLot(points, model_expiry(now), order_ref, held_until))
            return entry
        paid = min(self.shortfall, points)
        self.shortfall -= paid
        net = points - paid
        entry = self.append(kind, net)
        if net:
            self.lots.append(ModelLot(net, model_expiry(now), order_ref))
            self.lifetime_earned += net
        return entry

    def debit(
        self,
        kind: str,
        points: int,
        now: datetime,
        *,
        owe_the_rest: bool = False,
        first_order: str | None = None,
    ) -> ModelEntry:
        self.last_taken = []
        cancelled = 0
        if kind == "REVERSAL":  # the purchase's pending points go first, owing nothing
            for lot in self.lots:
                if lot.order_ref == first_order and lot.held_until and lot.remaining > 0:
                    part = min(lot.remaining, points - cancelled)
                    lot.remaining -= part
                    cancelled += part
            points -= cancelled
        lots = sorted(  # soonest expiry first; stable, so the oldest first among equals
            (lot for lot in self.lots if self.spendable(lot, now)),
            key=lambda lot: lot.expires_at,
        )
        lots.sort(key=lambda lot: first_order is None or lot.order_ref != first_order)
        available = sum(lot.remaining for lot in lots)
        if available < points and not owe_the_rest:
            raise Refused("INSUFFICIENT_POINTS")
        taken = min(points, available)
        self.shortfall += points - taken
        entry = self.append(kind, -taken, points - taken, -cancelled)
        if kind == "REVERSAL":
            self.lifetime_earned -= taken
        for lot in lots:
            part = min(lot.remaining, taken)
            if part:
                self.last_taken.append((lot, part))
            lot.remaining -= part
            taken -= part
        return entry

    # Movements: each starts by settling what is due, in its own transaction.

    def purchase(self, order_ref: str, total: Decimal, now: datetime) -> ModelEntry:
        self.settle_due(now)
        points = math.floor(total)  # the brand's base rate: 1 point per unit, rounded down
        self.purchases[order_ref] = ModelPurchase(total, points)
        return self.credit("EARN", points, now, order_ref, held=True)

    def reverse(self, order_ref: str, amount: Decimal | None, now: datetime) -> ModelEntry | None:
        self.settle_due(now)
        purchase = self.purchases[order_ref]
        refundable = purchase.total - purchase.refunded
        refund = refundable if amount is None else amount
        if refund <= 0 or refund > refundable:
            raise Refused("INVALID_INPUT")
        purchase.refunded += refund
        proportional = math.floor(
            Fraction(purchase.points) * Fraction(purchase.refunded) / Fraction(purchase.total)
        )
        # Points of this purchase that expired are gone already: they are not taken again.
        expired = sum(lot.expired_points for lot in self.lots if lot.order_ref == order_ref)
        claw = max(min(proportional, purchase.points - expired) - purchase.reversed, 0)
        purchase.reversed += claw
        if claw == 0:
            return None
        return self.debit("REVERSAL", claw, now, owe_the_rest=True, first_order=order_ref)

    def adjust(self, points: int, now: datetime) -> ModelEntry:
        self.settle_due(now)
        if points > 0:
            return self.credit("ADJUST", points, now, None)
        return self.debit("ADJUST", -points, now)

    def redeem(self, redemption_key: str, quantity: int, now: datetime) -> ModelEntry:
        self.settle_due(now)
        entry = self.debit("REDEEM", ITEM_PRICE * quantity, now)
        self.redemptions[redemption_key] = ModelRedemption(self.last_taken)
        return entry

    def cancel(self, redemption_key: str, now: datetime) -> ModelEntry:
        """Give back what the redemption took: to its lots while they live, the rest to one new
        lot of the grace period; a shortfall owed is paid off first."""
        self.settle_due(now)
        redemption = self.redemptions[redemption_key]
        if redemption.cancelled:
            raise Refused("ALREADY_CANCELLED")
        redemption.cancelled = True
        total = sum(part for _, part in redemption.taken)
        paid = min(self.shortfall, total)
        self.shortfall -= paid
        self.lifetime_earned -= paid  # the debt the reversal could not claw back, now clawed
        still_to_pay, grace = paid, 0
        for lot, part in redemption.taken:
            kept = part - min(still_to_pay, part)
            still_to_pay -= part - kept
            if not lot.expired and lot.expires_at > now:
                lot.remaining += kept
            else:
                grace += kept
        entry = self.append("REFUND", total - paid)
        if grace:
            self.lots.append(ModelLot(grace, model_grace_expiry(now), None))
        return entry


# The machine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Harness:
    """What the machine needs from the test: the loop the app runs on, and the app's parts
    (`backends`: the domain's runtime, whose clock the service reads)."""

    loop: asyncio.AbstractEventLoop
    gql: Any
    make_token: Any
    backends: Any

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the app's loop from the machine's thread, and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(STEP_TIMEOUT)


@dataclass(frozen=True)
class MemberRef:
    global_id: str

    @property
    def pk(self) -> int:
        parsed = parse_id(self.global_id)
        assert parsed is not None
        return parsed[1]


@dataclass(frozen=True)
class PurchaseRef:
    member: MemberRef
    order_ref: str


@dataclass(frozen=True)
class RedemptionRef:
    member: MemberRef
    key: str  # names it in the model
    global_id: str


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def codes(payload: dict) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


class LedgerMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    members = Bundle("members")
    purchases = Bundle("purchases")
    redemptions = Bundle("redemptions")

    def __init__(self) -> None:
        super().__init__()
        self.clock = self.harness.backends.clock
        code = f"sm{uuid.uuid4().hex[:12]}"
        self.brand = self.harness.run(
            create_brand(code, "State machine", timezone=ZONE, expiry_months=EXPIRY_MONTHS)
        )
        self.pending_days = 0  # the brand's, drawn with the first member
        self.staff = Staff(self.harness.gql, self.harness.make_token(self.brand, "ADMIN", "sm"))
        created = self.harness.run(
            self.staff.call(
                CREATE_ITEM,
                {"sku": "MUG", "name": "Mug", "kind": "PARTNER_OFFER", "category": "home",
                 "pointsPrice": ITEM_PRICE},
            )
        )  # fmt: skip
        assert created["userErrors"] == [], created
        self.item_id = created["item"]["id"]
        self.model: dict[MemberRef, ModelMember] = {}
        self.advanced = timedelta(0)

    async def hold_points(self, days: int) -> None:
        """The brand's pending days (set as its admin would, on its row)."""
        await Brand.filter(id=self.brand.id).update(pending_days=days)

    def now(self) -> datetime:
        """The clock's now, kept a minute clear of the brand's midnight.

        Lots expire and days turn at local midnight; the service reads the clock a few
        milliseconds after the model does, so a step never runs right at that boundary.
        """
        now = self.clock.now()
        local = now.astimezone(ZoneInfo(ZONE))
        since_midnight = local - datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
        if since_midnight < MIDNIGHT_MARGIN or since_midnight > timedelta(days=1) - MIDNIGHT_MARGIN:
            self.clock.advance(3 * MIDNIGHT_MARGIN)
            now = self.clock.now()
        return now

    def check_entry(self, got: dict | None, expected: ModelEntry | None) -> None:
        if expected is None:
            assert got is None
            return
        assert got is not None
        assert (got["kind"], got["points"], got["balanceAfter"], got["version"]) == (
            expected.kind,
            expected.points,
            expected.balance_after,
            expected.version,
        )
        if "shortfall" in got:
            assert got["shortfall"] == expected.shortfall

    def move(self, member: MemberRef, predict, call) -> tuple[dict, ModelEntry | None]:
        """Make one movement through the API and in a copy of the model; keep the copy if it
        went through (a refused movement rolls back, due expiry included)."""
        now = self.now()
        trial = copy.deepcopy(self.model[member])
        try:
            expected, refused = predict(trial, now), None
        except Refused as refusal:
            expected, refused = None, refusal.code
        payload = self.harness.run(call())
        if refused is not None:
            assert codes(payload) == [refused], payload
            assert payload.get("entry") is None and payload.get("redemption") is None
            return payload, None
        assert codes(payload) == [], payload
        if "entry" in payload:  # redemptions show their entries in the ledger the model checks
            self.check_entry(payload["entry"], expected)
        assert payload["member"]["points"]["version"] == trial.version
        self.model[member] = trial
        return payload, expected

    @initialize(target=members, pending_days=st.sampled_from([0, 5]))
    def first_member(self, pending_days: int) -> MemberRef:
        """The brand's points available at once, or pending for 5 days, and its first member."""
        self.pending_days = pending_days
        self.harness.run(self.hold_points(pending_days))
        return self.register()

    @precondition(lambda self: len(self.model) < MAX_MEMBERS)
    @rule(target=members)
    def register(self) -> MemberRef:
        created = self.harness.run(self.staff.register(f"Member {len(self.model) + 1}"))
        member = MemberRef(created["id"])
        self.model[member] = ModelMember(pending_days=self.pending_days)
        return member

    @rule(
        target=purchases,
        member=members,
        total=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400"), places=2),
    )
    def purchase(self, member: MemberRef, total: Decimal) -> PurchaseRef:
        order_ref = f"o-{uuid.uuid4().hex[:10]}"
        self.move(
            member,
            lambda model, now: model.purchase(order_ref, total, now),
            lambda: self.staff.purchase(member.global_id, money(total), orderRef=order_ref),
        )
        return PurchaseRef(member, order_ref)

    @rule(
        purchase=purchases,
        how=st.sampled_from(["rest", "part", "part", "too much"]),
        data=st.data(),
    )
    def reverse(self, purchase: PurchaseRef, how: str, data: st.DataObject) -> None:
        record = self.model[purchase.member].purchases[purchase.order_ref]
        refundable = record.total - record.refunded
        amount: Decimal | None = None
        if how == "too much":
            amount = refundable + Decimal("0.01")
        elif how == "part" and refundable > 0:
            amount = data.draw(
                st.decimals(min_value=Decimal("0.01"), max_value=refundable, places=2),
                label="amount",
            )
        self.move(
            purchase.member,
            lambda model, now: model.reverse(purchase.order_ref, amount, now),
            lambda: self.staff.reverse(
                purchase.member.global_id,
                purchase.order_ref,
                money(amount) if amount is not None else None,
            ),
        )

    @rule(
        member=members,
        points=st.integers(min_value=-300, max_value=300).filter(lambda points: points != 0),
    )
    def adjust(self, member: MemberRef, points: int) -> None:
        self.move(
            member,
            lambda model, now: model.adjust(points, now),
            lambda: self.staff.adjust(member.global_id, points),
        )

    @rule(member=members)
    def spend_everything(self, member: MemberRef) -> None:
        """Take every point: what a later reversal claws back then becomes a shortfall."""
        points = -self.model[member].shown(self.now()).available
        if points:
            self.adjust(member, points)

    @rule(target=redemptions, member=members, quantity=st.integers(min_value=1, max_value=3))
    def redeem(self, member: MemberRef, quantity: int) -> RedemptionRef:
        key = uuid.uuid4().hex
        token = self.harness.make_token(self.brand, "MEMBER", member.global_id)

        async def call() -> dict:
            variables = {"input": {"itemId": self.item_id, "quantity": quantity,
                                   "idempotencyKey": key}}  # fmt: skip
            body = await self.harness.gql(REDEEM, variables, token=token)
            assert "errors" not in body, body
            return body["data"]["redeem"]

        payload, _ = self.move(member, lambda model, now: model.redeem(key, quantity, now), call)
        redemption = payload["redemption"]
        if redemption is None:
            return multiple()
        return RedemptionRef(member, key, redemption["id"])

    @rule(redemption=redemptions)
    def cancel(self, redemption: RedemptionRef) -> None:
        def call():
            return self.staff.call(
                CANCEL,
                {"redemptionId": redemption.global_id, "reason": "changed their mind",
                 "idempotencyKey": uuid.uuid4().hex},
            )  # fmt: skip

        self.move(redemption.member, lambda model, now: model.cancel(redemption.key, now), call)

    @precondition(lambda self: self.advanced < MAX_ADVANCE)
    @rule(days=st.sampled_from([0, 1, 3, 12, 31]), hours=st.integers(min_value=0, max_value=23))
    def advance_clock(self, days: int, hours: int) -> None:
        self.advance(timedelta(days=days, hours=hours))

    @rule()
    def advance_past_the_next_expiry(self) -> None:
        """Move to just after the soonest expiry of a lot with points left (a local midnight)."""
        now = self.now()
        soonest = min(
            (
                lot.expires_at
                for model in self.model.values()
                for lot in model.lots
                if not lot.expired and lot.remaining > 0 and lot.expires_at > now
            ),
            default=None,
        )
        if soonest is not None:
            self.advance(soonest - now + 5 * MIDNIGHT_MARGIN)

    @rule()
    def advance_past_the_next_release(self) -> None:
        """Move to just after the soonest release of a held lot."""
        now = self.now()
        soonest = min(
            (
                lot.held_until
                for model in self.model.values()
                for lot in model.lots
                if lot.held_until is not None and lot.held_until > now
            ),
            default=None,
        )
        if soonest is not None:
            self.advance(soonest - now + MIDNIGHT_MARGIN)

    def advance(self, step: timedelta) -> None:
        step = min(step, MAX_ADVANCE - self.advanced)
        if step > timedelta(0):
            self.clock.advance(step)
            self.advanced += step

    @rule()
    def run_expiry_job(self) -> None:
        """The job settles every member with a lot past its expiry (releasing first)."""
        now = self.now()
        due = [model for model in self.model.values() if model.due(now)]
        points_due = sum(model.settle_due(now)[1] for model in due)
        outcome = self.harness.run(run_expiry(self.harness.backends, brand_code=self.brand.code))
        assert outcome == (len(due), points_due)

    @rule()
    def run_release_job(self) -> None:
        """The job settles every member with held lots whose release time has come."""
        now = self.now()
        due = [model for model in self.model.values() if model.releasable(now)]
        points_due = sum(model.settle_due(now)[0] for model in due)
        outcome = self.harness.run(run_release(self.harness.backends, brand_code=self.brand.code))
        assert outcome == (len(due), points_due)

    @rule(member=members)
    def expire_one_member(self, member: MemberRef) -> None:
        now = self.now()
        expected = self.model[member].settle_due(now)[1]
        assert self.harness.run(expire_member(self.harness.backends, member.pk, now)) == expected

    @invariant()
    def the_books_pass_the_audit(self) -> None:
        findings = self.harness.run(audit(brand_id=self.brand.id))
        assert findings == [], [finding.describe() for finding in findings]

    @invariant()
    def balances_and_ledgers_match_the_model(self) -> None:
        now = self.now()
        for member, model in self.model.items():
            body = self.harness.run(
                self.harness.gql(MEMBER_LEDGER, {"id": member.global_id}, token=self.staff.token)
            )
            assert "errors" not in body, body
            found = body["data"]["member"]
            points = found["points"]
            expiring = [
                (row["points"], datetime.fromisoformat(row["expiresAt"]))
                for row in points.pop("expiring")
            ]
            shown = model.shown(now)
            assert points == {
                "available": shown.available,
                "pending": shown.pending,
                "version": model.version,
                "lifetimeEarned": model.lifetime_earned,
            }
            assert points["available"] >= 0
            assert expiring == model.expiring(now)
            assert not found["ledger"]["pageInfo"]["hasNextPage"]
            ledger = [
                ModelEntry(
                    node["kind"],
                    node["points"],
                    node["balanceAfter"],
                    node["version"],
                    node["shortfall"],
                    node["pending"],
                )
                for node in (edge["node"] for edge in reversed(found["ledger"]["edges"]))
            ]
            assert ledger == model.entries
            assert [entry.version for entry in ledger] == list(range(1, len(ledger) + 1))


# Passing takes seconds; a failure is shrunk to a short program, which may take minutes.
@pytest.mark.timeout(600)
async def test_the_ledger_matches_its_model_whatever_happens(runtime, gql, make_token):
    harness = Harness(asyncio.get_running_loop(), gql, make_token, runtime)
    machine = type("BoundLedgerMachine", (LedgerMachine,), {"harness": harness})
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=MACHINE_SETTINGS)
