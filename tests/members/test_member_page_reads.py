"""The member's page reads its ledger entries in one statement, as arrays of columns
(db/rows.py `ColumnArrays`), and writes their page and cursors itself (domain/ledger/reads.py
`member_page`): each entry as the ORM loads it, each page as `paginate` makes it."""

from __future__ import annotations

from db.models import LedgerKind
from domain.ledger.reads import PAGE_ENTRIES, LedgerRequest, ledger_page, member_page
from domain.pagination import PageRequest
from domain.principal import Principal, Role
from resolvers.ids import decode_id

SETTINGS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) { userErrors { code } }
}
"""


async def pages_agree(brand, runtime, member: dict, kind, request: PageRequest) -> int:
    """Compare the page `member_page` reads with the ORM's (`ledger_page`); its size."""
    member_id = decode_id(member["id"], "Member", "memberId")
    principal = Principal(Role.MEMBER, brand.id, brand.code, member["id"], member_id)
    page = await member_page(
        brand.id, member_id, runtime.clock.now(), ledger=LedgerRequest(request, kind)
    )
    assert page is not None and page.ledger is not None
    read, expected = page.ledger, await ledger_page(principal, member_id, kind, request)
    assert (read.cursors, read.has_next_page, read.has_previous_page, read.total_count) == (
        expected.cursors,
        expected.has_next_page,
        expected.has_previous_page,
        expected.total_count,
    ), request
    assert len(read.items) == len(expected.items)
    for columns, model in zip(read.items, expected.items, strict=True):
        assert repr(columns.pk) == repr(model.pk)
        for name in PAGE_ENTRIES.names:  # values and their types (an enum, a datetime's zone)
            assert repr(getattr(columns, name)) == repr(getattr(model, name)), name
    return len(read.items)


async def test_a_member_page_holds_each_entry_and_cursor_as_the_orm_reads_them(
    brand, staff, member_with_points, runtime
):
    member, _ = await member_with_points(400, "Reads")
    await staff.purchase(member["id"], "12.34", orderRef="READS-1")
    await staff.reverse(member["id"], "READS-1")
    await staff.adjust(member["id"], -5, reason="typo")
    assert (await staff.call(SETTINGS, {"pendingDays": 3}))["userErrors"] == []
    await staff.purchase(member["id"], "50.00", orderRef="READS-2")  # held: pending until
    everything = await pages_agree(brand, runtime, member, None, PageRequest(first=50))
    assert everything == 5

    newest = await member_page(
        brand.id,
        decode_id(member["id"], "Member", "memberId"),
        runtime.clock.now(),
        ledger=LedgerRequest(PageRequest(first=50)),
    )
    assert newest is not None and newest.ledger is not None
    cursors = newest.ledger.cursors
    for request in (
        PageRequest(),
        PageRequest(first=0),
        PageRequest(first=2),
        PageRequest(first=2, after=cursors[1]),
        PageRequest(first=2, after=cursors[-1]),
        PageRequest(last=2),
        PageRequest(last=0),
        PageRequest(last=2, before=cursors[-1]),
        PageRequest(last=3, before=cursors[0]),
        PageRequest(before=cursors[2]),
        PageRequest(first=1, after=cursors[0], before=cursors[3]),
    ):
        await pages_agree(brand, runtime, member, None, request)
    for kind, shown in ((LedgerKind.EARN, 1), (LedgerKind.REVERSAL, 1), (LedgerKind.REFUND, 0)):
        assert await pages_agree(brand, runtime, member, kind, PageRequest(first=1)) == shown

    newcomer, _ = await member_with_points(0, "Newcomer")
    assert await pages_agree(brand, runtime, newcomer, None, PageRequest(first=20)) == 0


async def test_a_member_page_reads_only_the_columns_its_document_shows(
    brand, staff, member_with_points, runtime
):
    member, _ = await member_with_points(400, "Columns")
    await staff.purchase(member["id"], "12.34", orderRef="COLUMNS-1")
    member_id = decode_id(member["id"], "Member", "memberId")

    async def entries(reads: frozenset[str] | None) -> list:
        request = LedgerRequest(PageRequest(first=5), reads=reads)
        page = await member_page(brand.id, member_id, runtime.clock.now(), ledger=request)
        assert page is not None and page.ledger is not None
        return page.ledger.items

    everything = await entries(None)
    assert len(everything) == 2
    for reads, names in (
        (frozenset({"kind", "created_at", "pk"}), {"id", "version", "kind", "created_at"}),
        (frozenset(), {"id", "version"}),
    ):
        shown = await entries(reads)
        for row, full in zip(shown, everything, strict=True):
            assert repr(row.pk) == repr(full.pk)
            for name in names:
                assert repr(getattr(row, name)) == repr(getattr(full, name)), name
            for name in set(PAGE_ENTRIES.names) - names:
                assert not hasattr(row, name), f"{name} was read though the page does not show it"
    # An attribute that is no column (a field's resolver's, say): every column, as for None.
    for row in await entries(frozenset({"kind", "store"})):
        assert all(hasattr(row, name) for name in PAGE_ENTRIES.names)
