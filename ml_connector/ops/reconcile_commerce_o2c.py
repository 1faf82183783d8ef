"""Reconciliation for Adobe Commerce -> Sage Intacct order to cash.

* :func:`o2c_frames` (``ml-connector reconcile``): every document the ledger says should be in
  Intacct (read, not quarantined or skipped) against what Intacct holds, by (kind, number): AR
  invoices by RECORDID, payments by their reference (DOCNUMBER), adjustments by RECORDID,
  inventory transactions by DOCID, items by ITEMID.
* :func:`check_o2c` (the demo and the tests, with both sandboxes at hand): the same documents
  from Commerce's side, in the right entity, plus the facts that must hold afterwards: payments
  fully applied, on-hand = opening stock - shipped, each customer's balance = Commerce's
  (invoiced - paid - refunded), and no transaction at the top level.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pandas as pd

from ..ledger.schema import POSTED, QUARANTINED, SKIPPED
from .reconcile import Frames

INTEGRATION = "commerce-intacct-o2c"
# ledger doc type -> (Intacct object, field that carries our number)
TARGETS = {"order": ("ARINVOICE", "RECORDID"), "payment": ("ARPYMT", "DOCNUMBER"),
           "creditmemo": ("ARADJUSTMENT", "RECORDID"), "shipment": ("INVDOCUMENT", "DOCID"), "item": ("ITEM", "ITEMID")}
MINE = ("ARINVOICE", "ARPYMT", "ARADJUSTMENT", "INVDOCUMENT")


def o2c_frames(res) -> Frames:
    from ..tasks.commerce_o2c_post import query

    rows = [r for r in res.ledger.documents(INTEGRATION) if r.doc_type in TARGETS
            and r.status not in (QUARANTINED, SKIPPED) and r.target_ref]
    source = pd.DataFrame([{"kind": r.doc_type, "number": r.target_ref} for r in rows], columns=["kind", "number"])
    found = []
    client = res.intacct()
    for kind, (object_name, field) in TARGETS.items():
        numbers = sorted({r.target_ref for r in rows if r.doc_type == kind})
        for start in range(0, len(numbers), 1000):
            for record in query(client, object_name, ("RECORDNO", field), ("in", field, numbers[start:start + 1000]), None):
                found.append({"kind": kind, "number": record[field]})
    return Frames(source, pd.DataFrame(found, columns=["kind", "number"]), ["kind", "number"])


# -- with both sandboxes ---------------------------------------------------------------------


def _commerce(adobe) -> dict[str, list[dict]]:
    with adobe.lock:
        return {k: [dict(r) for r in adobe.store.rows(k)] for k in ("order", "invoice", "creditmemo", "shipment", "product")}


def _customer_ids(ledger, commerce) -> dict[str, str]:
    """Commerce customer id -> CUSTOMERID, from the ledger's links."""
    return {r.natural_key: r.target_id for r in ledger.documents(INTEGRATION, doc_type="customer", status=POSTED)}


def expected_documents(data: dict, commerce) -> set[tuple]:
    o2c, expected = commerce.o2c, set()
    route = {s.store_id: commerce.route(s.store_id) for s in commerce.stores.values()}
    for o in data["order"]:
        if o["store_id"] in route and Decimal(str(o.get("total_invoiced") or 0)) > 0:
            expected.add(("invoice", f"{o2c.invoice_prefix}{o['increment_id']}", route[o["store_id"]].entity))
    for i in data["invoice"]:
        if i["state"] == 2 and i["store_id"] in route:
            expected.add(("payment", i["increment_id"], route[i["store_id"]].entity))
    for m in data["creditmemo"]:
        if m["state"] == 2 and m["store_id"] in route:
            expected.add(("adjustment", f"{o2c.adjustment_prefix}{m['increment_id']}", route[m["store_id"]].entity))
    for s in data["shipment"]:
        if s["store_id"] in route:
            expected.add(("shipment", f"{o2c.shipment.ictransaction_type}-{s['increment_id']}", route[s["store_id"]].entity))
    expected |= {("item", p["sku"]) for p in data["product"] if p["type_id"] in o2c.item_types}
    return expected


def present_documents(intacct, skus: set[str]) -> Counter:
    present: Counter = Counter()
    for r in intacct.ar_invoices():
        present[("invoice", r["RECORDID"], r["entity"])] += 1
    for r in intacct.ar_payments():
        applied = Decimal(r.get("TOTALAPPLIED") or "0") == r["total"]
        present[("payment", r["DOCNUMBER"], r["entity"]) if applied else ("payment-not-applied", r["DOCNUMBER"])] += 1
    for r in intacct.ar_adjustments():
        present[("adjustment", r["RECORDID"], r["entity"])] += 1
    for r in intacct.ic_documents():
        present[("shipment", r["DOCID"], r["entity"])] += 1
    for r in intacct.items():
        if r["ITEMID"] in skus:
            present[("item", r["ITEMID"])] += 1
    return present


def expected_balances(data: dict, commerce, links: dict[str, str]) -> dict[str, Decimal]:
    """CUSTOMERID -> invoiced - paid - refunded, from Commerce (the orders that are AR invoices)."""
    orders = {o["entity_id"]: o for o in data["order"] if Decimal(str(o.get("total_invoiced") or 0)) > 0
              and commerce.route(o["store_id"]) is not None}
    guest = commerce.o2c.guest_customer_id

    def customer(order) -> str | None:
        return guest if order.get("customer_id") in (None, "") else links.get(str(order["customer_id"]))

    out: dict[str, Decimal] = {}
    for o in orders.values():
        out.setdefault(customer(o), Decimal(0))
        out[customer(o)] += Decimal(str(o["grand_total"]))
    for i in data["invoice"]:
        if i["state"] == 2 and i["order_id"] in orders:
            out[customer(orders[i["order_id"]])] -= Decimal(str(i["grand_total"]))
    for m in data["creditmemo"]:
        if m["state"] == 2 and m["order_id"] in orders:
            out[customer(orders[m["order_id"]])] -= Decimal(str(m["grand_total"]))
    return out


def check_o2c(adobe, intacct, commerce, opening: dict, ledger) -> tuple[set, Counter, dict]:
    """(expected keys, keys present in Intacct, extra figures) for ``demo.world.recon``."""
    data = _commerce(adobe)
    expected = expected_documents(data, commerce)
    present = present_documents(intacct, {p["sku"] for p in data["product"]})
    shipped: Counter = Counter()
    for s in data["shipment"]:
        route = commerce.route(s["store_id"])
        if route is not None:
            for item in s["items"]:
                shipped[(item["sku"], route.warehouse or commerce.o2c.shipment.warehouse)] += Decimal(str(item["qty"]))
    for (sku, wh), quantity in opening.items():
        expected.add(("on-hand", sku, wh))
        if intacct.on_hand(sku, wh) == quantity - shipped[(sku, wh)]:
            present[("on-hand", sku, wh)] += 1
    balances, actual = expected_balances(data, commerce, _customer_ids(ledger, commerce)), intacct.customer_balances()
    for customer_id, amount in balances.items():
        expected.add(("balance", customer_id))
        if customer_id is not None and actual.get(customer_id, Decimal(0)) == amount:
            present[("balance", customer_id)] += 1
    top = [w for w in intacct.top_level_writes() if w[0] in MINE]
    expected.add(("top-level", "none"))
    if not top:
        present[("top-level", "none")] += 1
    extra = {"customers_balanced": sum(1 for k in present if k[0] == "balance"), "top_level_writes": len(top),
             "units_shipped": int(sum(shipped.values()))}
    return expected, present, extra
