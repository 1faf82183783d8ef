"""The pure rules of SPS -> Intacct revisions: purpose codes, blockers, closed periods, what a
claimed revision writes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ml_connector.connectors.intacct.models import ApBill, ApBillLine
from ml_connector.ledger.keys import payload_hash
from ml_connector.ledger.schema import QUARANTINED, RECEIVED
from ml_connector.ledger.store import Claimed
from ml_connector.mappings import intacct_bill_revisions as rv
from ml_connector.mappings.sps_rows import claimed_write, sink_effect, unwrap
from ml_connector.mappings.sps_to_intacct import parse_bill_ref
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.sandbox.generator import GeneratedDoc, generate, revise

TENANT = load_tenant(tenant_path("demo"))


def an_order() -> GeneratedDoc:
    return next(d for d in generate(10, seed=21) if d.doc_type == "order")


def claimed(doc: GeneratedDoc, *, effect: str = "create", target_id: str | None = None, resend: bool = False) -> Claimed:
    return Claimed(id=1, doc_type=doc.doc_type, partner=doc.partner_id, natural_key=doc.number,
                   source_ref=f"out/{doc.filename}", raw_payload=doc.content, target_ref=None, idempotency_key="k",
                   attempts=0, revision=2, effect=effect, target_id=target_id, resend=resend)


def bill(*amounts: str) -> ApBill:
    return ApBill(vendor_id="V1", record_id="PO-1", when_created=date(2024, 5, 1), when_due=date(2024, 5, 31),
                  lines=tuple(ApBillLine(account_no="6000", amount=Decimal(a), memo=f"m{n}") for n, a in enumerate(amounts)))


@pytest.mark.parametrize("code, effect", [("00", "create"), ("06", "create"), ("07", "create"), ("04", "update"),
                                          ("05", "replace"), ("01", "cancel"), (None, "create"), (" 04 ", "update")])
def test_purpose_codes_are_effects(code, effect):
    assert rv.purpose_effect("order", "PO1", code) == effect


def test_a_purpose_code_no_rule_applies_needs_a_person_in_one_line():
    with pytest.raises(rv.NeedsPerson) as caught:
        rv.purpose_effect("invoice", "IN9", "CN")
    assert caught.value.classification == "needs_person"
    assert "invoice IN9: purpose code 'CN'" in str(caught.value) and "\n" not in str(caught.value)


def test_rows_carry_the_effect_of_their_purpose_code_and_a_payload_of_their_own_content():
    original = an_order()
    for purpose, effect in (("04", "update"), ("05", "replace"), ("01", "cancel")):
        doc = revise(original, purpose, Decimal(2))
        [row], payloads = unwrap(f"out/{doc.filename}", doc.content, TENANT)
        assert (row.status, row.effect) == (RECEIVED, effect)
        [(digest, write)] = payloads.values()
        assert digest == payload_hash(doc.content) and write.effect == effect
        assert (write.bill is None) == (effect == "cancel")
        assert row.target_ref == f"{write.vendor_id}:{write.record_id}"


def test_a_row_with_an_unknown_purpose_code_is_quarantined_for_a_person():
    doc = revise(an_order(), "CN")
    [row], payloads = unwrap(f"out/{doc.filename}", doc.content, TENANT)
    assert row.status == QUARANTINED and row.error_class == "needs_person" and payloads == {}


def test_a_claimed_revision_uses_the_pages_mapping_only_for_its_own_content():
    original, change = an_order(), revise(an_order(), "04", Decimal(40))
    _, payloads = unwrap(f"out/{original.filename}", original.content, TENANT)
    [stale] = payloads.values()  # the original's mapping, left by a page that also held the change
    write = claimed_write(claimed(change, effect="update", target_id="1001"), stale, TENANT)
    [(_, wanted)] = unwrap(f"out/{change.filename}", change.content, TENANT)[1].values()
    assert write.bill == wanted.bill and write.bill != stale[1].bill and write.effect == "update"


def test_the_sink_effect_of_a_claim():
    doc = an_order()
    assert sink_effect(claimed(doc, effect="update", target_id=None)) == "create"  # nothing there yet
    assert sink_effect(claimed(doc, effect="replace", target_id="9")) == "replace"
    assert sink_effect(claimed(doc, effect="create", target_id="9", resend=True)) == "update"  # never a second bill
    assert sink_effect(claimed(doc, effect="cancel", target_id="9")) == "cancel"


def test_a_cancellation_content_claimed_for_a_write_needs_a_person():
    cancel = revise(an_order(), "01")
    with pytest.raises(rv.NeedsPerson, match="is a cancellation but Intacct must update"):
        claimed_write(claimed(cancel, effect="update", target_id="9"), None, TENANT)
    assert claimed_write(claimed(cancel, effect="cancel", target_id="9"), None, TENANT).bill is None


def test_paid_and_reversed_bills_block_changes_with_the_bill_named():
    unpaid = {"RECORDNO": "12", "STATE": "Posted", "TOTALPAID": "0"}
    assert rv.revision_blocker(unpaid, "V1", "PO-1", "update") is None
    assert rv.revision_blocker(None, "V1", "PO-1", "update") is None
    paid = rv.revision_blocker({**unpaid, "TOTALPAID": "25.00", "STATE": "Partially Paid"}, "V1", "PO-1", "cancel")
    assert paid and paid.startswith("bill PO-1 of vendor V1 (RECORDNO 12) is paid (25.00)") and "cancellation" in paid
    reversed_ = {**unpaid, "STATE": "Reversed"}
    assert "is reversed" in (rv.revision_blocker(reversed_, "V1", "PO-1", "update") or "")
    assert rv.revision_blocker(reversed_, "V1", "PO-1", "cancel") is None
    assert rv.is_cancelled(None) and rv.is_cancelled(reversed_) and not rv.is_cancelled(unpaid)


def test_holds_compares_the_lines_and_total_intacct_returns():
    record = {"TRX_TOTALENTERED": "10.50", "APBILLITEMS": [
        {"ACCOUNTNO": "6000", "TRX_AMOUNT": "7.00", "ENTRYDESCRIPTION": "m0"},
        {"ACCOUNTNO": "6000", "TRX_AMOUNT": "3.50", "ENTRYDESCRIPTION": "m1"}]}
    assert rv.holds(record, bill("7.00", "3.50"))
    assert not rv.holds(record, bill("7.00", "3.51"))
    assert not rv.holds(record, bill("10.50"))
    assert not rv.holds({"TRX_TOTALENTERED": "10.50"}, bill("7.00", "3.50"))


def test_closed_periods_are_read_from_intacct_s_message_and_moved_a_month_at_a_time():
    message = ("Periods are closed. Your transaction date (01/15/2024) is within a period that's been closed. You can "
               "add, modify, or delete a transaction only if the date of the transaction is within a period that's open.")
    assert rv.closed_period_date(message) == date(2024, 1, 15)
    assert rv.closed_period_date("Invalid Vendor 'V9' specified.") is None
    assert rv.next_period_start(date(2024, 1, 15)) == date(2024, 2, 1)
    assert rv.next_period_start(date(2024, 12, 31)) == date(2025, 1, 1)
    assert rv.may_move_to(date(2024, 2, 1), date(2024, 1, 15), today=date(2024, 3, 3))
    assert not rv.may_move_to(date(2024, 4, 1), date(2024, 1, 15), today=date(2024, 3, 3))  # not past this month
    assert not rv.may_move_to(date(2026, 2, 1), date(2024, 1, 15), today=date(2027, 1, 1))  # 25 months on


def test_the_closed_period_reason_names_the_period_and_what_to_do():
    keep = rv.closed_period_reason("PO-1 of vendor V1", date(2024, 1, 15), "keep")
    assert keep.startswith("bill PO-1 of vendor V1: the GL period January 2024 (transaction date 01/15/2024) is closed")
    assert "posting_date: first_open_period" in keep
    moved = rv.closed_period_reason("PO-1 of vendor V1", date(2024, 3, 1), "first_open_period", date(2024, 3, 1))
    assert "no open period was found up to March 2024" in moved


def test_only_orders_of_a_partner_that_is_a_customer_route_to_sales_orders():
    from ml_connector.mappings.tenant import PartnerMapping

    base = TENANT.partners[next(iter(TENANT.partners))].model_dump(by_alias=True)
    with pytest.raises(ValueError, match="only order can go to salesorder"):
        PartnerMapping.model_validate({**base, "routes": {"invoice": "salesorder"}})
    with pytest.raises(ValueError, match="needs the partner's customer_id"):
        PartnerMapping.model_validate({**base, "customer_id": None, "routes": {"order": "salesorder"}})
    assert PartnerMapping.model_validate({**base, "customer_id": "C-1", "routes": {"order": "salesorder"}})


def test_a_routed_order_maps_to_the_sales_order_of_the_partners_customer():
    from ml_connector.mappings.intacct_bill_revisions import SALES_ORDER

    doc = next(d for d in generate(40, seed=21) if d.doc_type == "order" and TENANT.partners[d.partner_id].customer_id)
    partner = TENANT.partners[doc.partner_id]
    routed = TENANT.model_copy(update={"partners": {**TENANT.partners, doc.partner_id: partner.model_copy(
        update={"routes": {**partner.routes, "order": "salesorder"}})}})
    [row], payloads = unwrap(f"out/{doc.filename}", doc.content, routed)
    [(_, write)] = payloads.values()
    assert write.kind == SALES_ORDER and write.bill is None and write.so is not None
    assert (write.so.customer_id, write.so.doc_id, write.so.reference_no) == (
        partner.customer_id, f"Sales Order-{doc.number}", doc.number)
    assert row.target_ref == f"SODOCUMENT:Sales Order-{doc.number}" and row.effect == "create"
    assert parse_bill_ref(row.target_ref) is None  # not a bill: bill lookups and reconciliation leave it be
    [cancel_row], cancel = unwrap("out/c.xml", revise(doc, "01").content, routed)
    assert next(iter(cancel.values()))[1].record_id == write.record_id and cancel_row.effect == "cancel"
