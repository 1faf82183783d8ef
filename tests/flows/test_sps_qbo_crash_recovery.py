"""sps-qbo after a crash: an intent without outcome is settled by a PO of its own vendor and
number, never by another vendor's PO that happens to carry the same number."""

from __future__ import annotations

from ml_connector.demo.parts.sps_qbo import TENANT
from ml_connector.engine import Page, Run
from ml_connector.engine.pages import record_page
from ml_connector.flows.sps_to_qbo import sps_to_qbo
from ml_connector.ledger.schema import POSTED
from ml_connector.pipelines.sps_qbo import PIPELINE
from ml_connector.tasks.sps import fetch_page
from tests.flows.test_sps_qbo_flows import IN, qworld_factory  # noqa: F401


def test_a_dead_runs_intent_is_not_settled_by_another_vendors_po_with_the_same_number(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.add_documents(4)
    page = fetch_page.fn(TENANT, None)
    ids = record_page.fn(PIPELINE, Run(TENANT, IN, "dead-run"), Page(page)).new_ids
    [claimed] = w.ledger.claim(IN, ids[:1], "dead-run")  # the intent; the kill came before the write
    partner = next(p for p, n in w.seeded.orders if n == claimed.target_ref)
    ours = w.mapping.qbo.partners[partner].vendor_ref
    other = next(p.vendor_ref for p in w.mapping.qbo.partners.values() if p.vendor_ref != ours)
    theirs = w.qbo.add("PurchaseOrder", {"VendorRef": {"value": other}, "DocNumber": claimed.target_ref, "Line": [
        {"DetailType": "AccountBasedExpenseLineDetail", "Amount": 1,
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": w.mapping.qbo.expense_account}}}]})
    sps_to_qbo(tenant=TENANT, return_state=True)
    row = w.ledger.documents(IN, ids=[claimed.id])[0]
    assert not (row.status == POSTED and row.target_id == theirs["Id"])
    ours_in_qbo = [p for p in w.qbo.entities("PurchaseOrder")
                   if p["DocNumber"] == claimed.target_ref and p["VendorRef"]["value"] == ours]
    # what the post step then does with the taken number is its own rule: posted on our vendor,
    # or failed with the reason; never reported posted with the other vendor's PO
    assert row.status == POSTED and row.target_id == ours_in_qbo[0]["Id"] or \
        (row.status == "failed" and "another QBO vendor" in (row.last_error or ""))
