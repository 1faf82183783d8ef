"""Each integration's resend rule: None where the target takes a document sent again without
doubling it, else one line naming the document and why (mappings/resend.py, docs/resend.md)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ml_connector import integrations
from ml_connector.mappings import resend


def doc(doc_type: str, *, partner: str = "WALMART", key: str = "INV-1", target_id: str | None = "T-1",
        target_ref: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=42, doc_type=doc_type, partner=partner, natural_key=key, target_id=target_id,
                           target_ref=target_ref)


def test_sps_takes_a_resent_invoice_or_ship_notice_as_a_new_file_and_nothing_else():
    assert resend.sps_new_file(doc("invoice")) is None
    assert resend.sps_new_file(doc("shipment")) is None
    reason = resend.sps_new_file(doc("orderack", key="PO-9"))
    assert reason is not None and reason.startswith("document 42 (orderack WALMART PO-9): ")
    assert "file name" in reason


def test_an_intacct_bill_is_resent_in_place_and_refused_without_its_recordno():
    assert resend.intacct_bill_in_place(doc("order", target_id="1234")) is None
    reason = resend.intacct_bill_in_place(doc("order", target_id=None))
    assert reason is not None and "double the payable" in reason


def test_commerce_creates_are_refused_naming_what_would_be_created_again():
    reason = resend.commerce_ap_creates(doc("order", partner="", key="000000042", target_ref="APBILL:CO-42"))
    assert reason == ("document 42 (order 000000042): a resend would create APBILL CO-42 in Intacct a second time: "
                      "not resent")
    assert resend.o2c_transactions(doc("customer", partner="")) is None  # an existing customer is linked again
    assert "second AR payment" in (resend.o2c_transactions(doc("payment", partner="")) or "")


def test_x12_documents_go_again_under_new_controls_and_partners_and_inbound_messages_are_refused():
    assert resend.x12_new_controls(doc("810", partner="NORTHWIND")) is None
    assert resend.x12_new_controls(doc("850", partner="NORTHWIND")) is None
    assert "nothing to resend" in (resend.x12_new_controls(doc("partner", partner="NORTHWIND")) or "")
    assert "nothing to resend" in (resend.nothing_sent(doc("997")) or "")


@pytest.mark.parametrize("name", list(integrations.INTEGRATIONS))
def test_every_integration_says_whether_it_resends_and_refusals_are_one_line(name):
    rule = integrations.get(name).pipeline.resend
    assert rule is not None
    for doc_type in ("invoice", "order", "810", "payment", "orderack"):
        reason = rule(doc(doc_type))
        assert reason is None or ("\n" not in reason and reason.startswith("document 42 ("))
