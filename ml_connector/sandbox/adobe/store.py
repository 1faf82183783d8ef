"""The Adobe Commerce emulator's data: stores, catalogue, customers and the sales documents.

Sales documents move as Magento moves them (reference §A.6): an order is placed ``new`` /
``pending``; a paid (captured) invoice sets ``payment.amount_paid`` and ``total_paid`` and moves
it to ``processing``, or ``complete`` once it is also fully shipped; an open invoice (state 1,
authorised only) is invoiced but not paid; a credit memo (state 2, refunded) adds to
``total_refunded`` and a full refund closes the order. Increment ids carry the store's prefix
(``000000001`` on store 1, ``200000001`` on store 2) as a multi-store Magento numbers them.
Every change is stamped ``updated_at`` from the clock and logged as an :class:`Event` (what
webhooks report).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import docs
from .errors import DUPLICATE_EMAIL, AdobeError, entity_not_found, no_such_entity, required_input

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Event:
    """One change: ``kind`` (order, invoice, creditmemo, shipment, customer, ...), id, event name, time."""

    kind: str
    id: int
    name: str
    time: str


class AdobeStore:
    """One Magento instance's data. Not thread-safe: the emulator holds its lock around calls."""

    def __init__(self, clock: Callable[[], float], customer_attributes: set[str] | None = None) -> None:
        self.clock = clock
        self.websites: dict[int, dict] = {}
        self.stores: dict[int, dict] = {}
        self.customer_attributes = set(customer_attributes or {"intacct_customer_id"})
        self.tables: dict[str, dict[int, dict]] = {k: {} for k in (
            "order", "invoice", "creditmemo", "shipment", "customer", "product", "company", "credit", "credit_history")}
        self.events: list[Event] = []
        self._ids: dict[str, int] = {}
        self._increments: dict[tuple[str, int], int] = {}
        self.add_website(1, "base", "Main Website")
        self.add_store(1, "default", "Default Store View", 1)

    # -- plumbing -------------------------------------------------------------------------

    def now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime(TIME_FORMAT)

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def increment_id(self, kind: str, store_id: int) -> str:
        key = (kind, store_id)
        self._increments[key] = self._increments.get(key, 0) + 1
        prefix = str(store_id) if store_id > 1 else "0"
        return f"{prefix}{self._increments[key]:08d}"

    def rows(self, kind: str) -> list[dict]:
        return list(self.tables[kind].values())

    def get(self, kind: str, entity_id: Any) -> dict:
        try:
            return self.tables[kind][int(entity_id)]
        except (KeyError, ValueError, TypeError):
            if kind in ("customer", "company"):
                raise no_such_entity(f"{kind}Id", entity_id) from None
            raise entity_not_found() from None

    def record(self, kind: str, entity_id: int, name: str, when: str | None = None) -> None:
        self.events.append(Event(kind, entity_id, name, when or self.now()))

    # -- stores and catalogue -------------------------------------------------------------

    def add_website(self, website_id: int, code: str, name: str) -> dict:
        self.websites[website_id] = {"id": website_id, "code": code, "name": name, "default_group_id": website_id}
        return self.websites[website_id]

    def add_store(self, store_id: int, code: str, name: str, website_id: int, currency: str = "USD") -> dict:
        self.stores[store_id] = {"id": store_id, "code": code, "name": name, "website_id": website_id,
                                 "store_group_id": website_id, "is_active": 1, "currency": currency}
        return self.stores[store_id]

    def store_by_code(self, code: str) -> dict | None:
        return next((s for s in self.stores.values() if s["code"] == code), None)

    def add_product(self, sku: str, name: str, price: Any, *, type_id: str = "simple",
                    website_ids: list[int] | None = None, created_at: str | None = None, **custom: Any) -> dict:
        pid, when = self.next_id("product"), created_at or self.now()
        product = {"id": pid, "sku": sku, "name": name, "attribute_set_id": 4, "price": docs.money(price),
                   "status": 1, "visibility": 4, "type_id": type_id, "created_at": when, "updated_at": when,
                   "weight": Decimal(1), "extension_attributes": {"website_ids": website_ids or [1]},
                   "custom_attributes": docs.custom_attributes({"tax_class_id": "2", **custom})}
        self.tables["product"][pid] = product
        return product

    def product_by_sku(self, sku: str) -> dict:
        found = next((p for p in self.tables["product"].values() if p["sku"] == sku), None)
        if found is None:
            raise AdobeError(404, "The product that was requested doesn't exist. Verify the product and try again.")
        return found

    # -- customers ------------------------------------------------------------------------

    def create_customer(self, body: dict, *, website_id: int = 1, store_id: int = 1,
                        created_at: str | None = None, company_id: int | None = None) -> dict:
        """POST /V1/customers: ``body`` is the ``customer`` object."""
        for name in ("email", "firstname", "lastname"):
            if not body.get(name):
                raise required_input(name)
        website = int(body.get("website_id") or website_id)
        if any(c["email"].casefold() == str(body["email"]).casefold() and c["website_id"] == website
               for c in self.tables["customer"].values()):
            raise AdobeError(400, DUPLICATE_EMAIL)
        cid, when = self.next_id("customer"), created_at or self.now()
        store = int(body.get("store_id") or store_id)
        customer = {
            "id": cid, "group_id": int(body.get("group_id") or 1), "created_at": when, "updated_at": when,
            "created_in": self.stores.get(store, {}).get("name", "Default Store View"), "email": body["email"],
            "firstname": body["firstname"], "lastname": body["lastname"], "store_id": store, "website_id": website,
            "default_billing": None, "default_shipping": None, "gender": body.get("gender"), "dob": body.get("dob"),
            "taxvat": body.get("taxvat"), "addresses": list(body.get("addresses") or []),
            "disable_auto_group_change": 0,
            "extension_attributes": {"is_subscribed": False, "company_attributes": {
                "customer_id": cid, "company_id": company_id or 0, "status": 1, "job_title": None}},
            "custom_attributes": self._known_attributes(body.get("custom_attributes") or []),
        }
        self.tables["customer"][cid] = customer
        self.record("customer", cid, "customer_save_after", when)
        return customer

    def update_customer(self, customer_id: Any, body: dict) -> dict:
        """PUT /V1/customers/{id}: the given fields replace the stored ones; custom attributes merge
        by code; attributes this store does not define are dropped silently, as Magento does."""
        customer = self.get("customer", customer_id)
        for name in ("email", "firstname", "lastname"):
            if not body.get(name):
                raise required_input(name)
        for name in ("email", "firstname", "lastname", "group_id", "store_id", "website_id", "gender", "dob", "taxvat"):
            if name in body:
                customer[name] = body[name]
        if "addresses" in body:
            customer["addresses"] = list(body["addresses"] or [])
        merged = {a["attribute_code"]: a["value"] for a in customer["custom_attributes"]}
        merged.update({a["attribute_code"]: a["value"] for a in self._known_attributes(body.get("custom_attributes") or [])})
        customer["custom_attributes"] = docs.custom_attributes(merged)
        customer["updated_at"] = self.now()
        self.record("customer", customer["id"], "customer_save_after")
        return customer

    def _known_attributes(self, values: list) -> list[dict]:
        if not isinstance(values, list):
            raise AdobeError(400, "The custom_attributes value must be a list.")
        return [{"attribute_code": a["attribute_code"], "value": a.get("value")} for a in values
                if isinstance(a, dict) and a.get("attribute_code") in self.customer_attributes]

    # -- orders ---------------------------------------------------------------------------

    def place_order(self, *, store_id: int, lines: list[dict], customer: dict | None = None,
                    guest: dict | None = None, method: str = "checkmo", po_number: str | None = None,
                    shipping: Any = "5.00", created_at: str | None = None, company: dict | None = None) -> dict:
        """A placed order (``new``/``pending``). ``lines``: sku, name, product_id, qty, price
        [, type="configurable", child_product_id, child_name, tax_percent]."""
        oid, when = self.next_id("order"), created_at or self.now()
        person = customer or guest or {}
        items = docs.order_items(oid, self._ids.get("order_item", 0) + 1, lines, when)
        self._ids["order_item"] = self._ids.get("order_item", 0) + len(items)
        total = docs.totals(docs.billable({"items": items}), docs.money(shipping))
        currency = self.stores.get(store_id, {}).get("currency", "USD")
        bill_id = self.next_id("order_address")
        billing = docs.address("billing", bill_id, oid, person)
        shipping_address = docs.address("shipping", self.next_id("order_address"), oid, person)
        order = {
            "entity_id": oid, "increment_id": self.increment_id("order", store_id), "state": "new",
            "status": "pending", "created_at": when, "updated_at": when,
            "customer_id": customer["id"] if customer else None, "customer_is_guest": 0 if customer else 1,
            "customer_email": person.get("email"), "customer_firstname": person.get("firstname"),
            "customer_lastname": person.get("lastname"), "customer_group_id": customer.get("group_id", 1) if customer else 0,
            "store_id": store_id, "store_name": self.stores.get(store_id, {}).get("name"),
            "base_currency_code": currency, "order_currency_code": currency, "global_currency_code": currency,
            "store_currency_code": currency, **total, "discount_amount": Decimal(0),
            "total_paid": None, "base_total_paid": None, "total_invoiced": None, "total_refunded": None,
            "total_due": total["grand_total"], "base_total_due": total["grand_total"],
            "total_qty_ordered": sum((i["qty_ordered"] for i in docs.billable({"items": items})), Decimal(0)),
            "total_item_count": len(items), "quote_id": oid + 100, "billing_address_id": bill_id,
            "shipping_description": "Flat Rate - Fixed", "remote_ip": "203.0.113.7", "items": items,
            "billing_address": billing,
            "payment": {"entity_id": oid, "parent_id": oid, "method": method, "po_number": po_number,
                        "amount_ordered": total["grand_total"], "base_amount_ordered": total["grand_total"],
                        "amount_paid": None, "base_amount_paid": None, "amount_refunded": None,
                        "additional_information": [method]},
            "status_histories": [],
            "extension_attributes": {"shipping_assignments": [{"shipping": {
                "address": shipping_address, "method": "flatrate_flatrate",
                "total": {"shipping_amount": total["shipping_amount"], "base_shipping_amount": total["shipping_amount"],
                          "shipping_incl_tax": total["shipping_amount"], "shipping_tax_amount": Decimal(0)}},
                "items": copy.deepcopy(items)}]},
        }
        if company is not None:  # B2B: Magento_Company adds the buyer's company to the order
            order["extension_attributes"]["company_order_attributes"] = {
                "order_id": oid, "company_id": company["id"], "company_name": company["company_name"]}
        self.tables["order"][oid] = order
        self.record("order", oid, "sales_order_place_after", when)
        return order

    def _touch(self, order: dict, when: str) -> None:
        order["updated_at"] = max(order["updated_at"], when)
        items = docs.billable(order)
        invoiced = all(i["qty_invoiced"] >= i["qty_ordered"] for i in items)
        shipped = all(i["qty_shipped"] >= i["qty_ordered"] for i in items)
        refunded = all(i["qty_refunded"] >= i["qty_ordered"] for i in items)
        if order["state"] in ("canceled", "closed"):
            pass
        elif refunded:
            order["state"] = order["status"] = "closed"
        elif invoiced and shipped:
            order["state"] = order["status"] = "complete"
        elif any(i["qty_invoiced"] or i["qty_shipped"] for i in items):
            order["state"] = order["status"] = "processing"

    def invoice(self, order_id: Any, *, capture: bool = True, created_at: str | None = None) -> dict:
        """Invoice every billable item not yet invoiced; ``capture`` makes it paid (state 2)."""
        order, when = self.get("order", order_id), created_at or self.now()
        if (order["state"] in ("canceled", "closed")
                or all(i["qty_invoiced"] >= i["qty_ordered"] for i in docs.billable(order))):
            raise AdobeError(400, "The order does not allow an invoice to be created.")
        iid = self.next_id("invoice")
        rows = docs.child_items(order, iid, iid * 100, lambda i: i["qty_ordered"] - i["qty_invoiced"])
        shipping = order["shipping_amount"] if not order.get("total_invoiced") else Decimal(0)
        total = docs.totals(rows, shipping)
        invoice = {"entity_id": iid, "order_id": order["entity_id"],
                   "increment_id": self.increment_id("invoice", order["store_id"]),
                   "state": 2 if capture else 1, **total, "total_qty": sum((r["qty"] for r in rows), Decimal(0)),
                   "created_at": when, "updated_at": when, "billing_address_id": order["billing_address_id"],
                   "store_id": order["store_id"], "order_currency_code": order["order_currency_code"],
                   "base_currency_code": order["base_currency_code"], "email_sent": 0,
                   "transaction_id": f"txn-{iid}" if capture else None, "items": rows, "comments": []}
        for row in rows:
            item = next(i for i in order["items"] if i["item_id"] == row["order_item_id"])
            item["qty_invoiced"] += row["qty"]
        order["total_invoiced"] = (order.get("total_invoiced") or Decimal(0)) + total["grand_total"]
        if capture:
            self._paid(order, total["grand_total"])
        self.tables["invoice"][iid] = invoice
        self._touch(order, when)
        self.record("invoice", iid, "sales_order_invoice_save_after", when)
        return invoice

    def capture(self, invoice_id: Any, when: str | None = None) -> dict:
        """Capture an open invoice (state 1 -> 2), as ``POST /V1/invoices/{id}/capture`` does."""
        invoice, when = self.get("invoice", invoice_id), when or self.now()
        if invoice["state"] != 1:
            raise AdobeError(400, "The capture action is not available.")
        invoice.update(state=2, updated_at=when, transaction_id=f"txn-{invoice['entity_id']}")
        order = self.get("order", invoice["order_id"])
        self._paid(order, invoice["grand_total"])
        self._touch(order, when)
        self.record("invoice", invoice["entity_id"], "sales_order_invoice_pay", when)
        return invoice

    def _paid(self, order: dict, amount: Decimal) -> None:
        paid = (order.get("total_paid") or Decimal(0)) + amount
        order.update(total_paid=paid, base_total_paid=paid, total_due=order["grand_total"] - paid,
                     base_total_due=order["grand_total"] - paid)
        order["payment"].update(amount_paid=paid, base_amount_paid=paid)

    def refund(self, order_id: Any, *, items: dict[int, Any] | None = None, shipping: Any = None,
               adjustment_positive: Any = 0, adjustment_negative: Any = 0, invoice_id: Any = None,
               created_at: str | None = None) -> dict:
        """A refunded credit memo (state 2) for ``items`` (order item id -> qty; default: all invoiced)."""
        order, when = self.get("order", order_id), created_at or self.now()
        refundable = {i["item_id"]: i["qty_invoiced"] - i["qty_refunded"] for i in docs.billable(order)}
        wanted = {int(k): Decimal(str(v)) for k, v in (items or refundable).items()}
        if not any(wanted.values()) or any(q > refundable.get(k, Decimal(0)) for k, q in wanted.items()):
            raise AdobeError(400, "The most money available to refund is %1.", [str(order.get("total_paid") or 0)])
        mid = self.next_id("creditmemo")
        rows = docs.child_items(order, mid, mid * 100, lambda i: wanted.get(i["item_id"], 0))
        ship = docs.money(shipping if shipping is not None else (order["shipping_amount"] if items is None else 0))
        total = docs.totals(rows, ship)
        plus, minus = docs.money(adjustment_positive), docs.money(adjustment_negative)
        grand = total["grand_total"] + plus - minus
        memo = {"entity_id": mid, "increment_id": self.increment_id("creditmemo", order["store_id"]),
                "order_id": order["entity_id"], "invoice_id": int(invoice_id) if invoice_id else None,
                "transaction_id": None, "store_id": order["store_id"], "billing_address_id": order["billing_address_id"],
                "state": 2, "creditmemo_status": None, "email_sent": 0, "adjustment": plus - minus,
                "adjustment_positive": plus, "adjustment_negative": minus, **total, "grand_total": grand,
                "base_grand_total": grand, "discount_amount": Decimal(0),
                "order_currency_code": order["order_currency_code"],
                "base_currency_code": order["base_currency_code"], "created_at": when, "updated_at": when,
                "items": rows, "comments": []}
        for row in rows:
            item = next(i for i in order["items"] if i["item_id"] == row["order_item_id"])
            item["qty_refunded"] += row["qty"]
        order["total_refunded"] = (order.get("total_refunded") or Decimal(0)) + grand
        order["payment"]["amount_refunded"] = order["total_refunded"]
        self.tables["creditmemo"][mid] = memo
        self._touch(order, when)
        self.record("creditmemo", mid, "sales_order_creditmemo_save_after", when)
        return memo

    def ship(self, order_id: Any, *, tracks: list[dict] | None = None, created_at: str | None = None) -> dict:
        """Ship every billable item not yet shipped."""
        order, when = self.get("order", order_id), created_at or self.now()
        sid = self.next_id("shipment")
        rows = docs.child_items(order, sid, sid * 100, lambda i: i["qty_ordered"] - i["qty_shipped"], with_price=False)
        if not rows:
            raise AdobeError(400, "Shipment Document Validation Error(s):\n"
                                  "The order does not allow a shipment to be created.")
        shipment = {"entity_id": sid, "order_id": order["entity_id"],
                    "increment_id": self.increment_id("shipment", order["store_id"]),
                    "store_id": order["store_id"], "total_qty": sum((r["qty"] for r in rows), Decimal(0)),
                    "customer_id": order["customer_id"], "billing_address_id": order["billing_address_id"],
                    "shipping_address_id": order["billing_address_id"] + 1, "created_at": when, "updated_at": when,
                    "items": rows, "comments": [],
                    "tracks": [{"entity_id": sid * 10 + n, "parent_id": sid, "order_id": order["entity_id"],
                                "track_number": t["track_number"], "carrier_code": t.get("carrier_code", "ups"),
                                "title": t.get("title", "United Parcel Service"), "created_at": when}
                               for n, t in enumerate(tracks or [])]}
        for row in rows:
            item = next(i for i in order["items"] if i["item_id"] == row["order_item_id"])
            item["qty_shipped"] += row["qty"]
        self.tables["shipment"][sid] = shipment
        self._touch(order, when)
        self.record("shipment", sid, "sales_order_shipment_save_after", when)
        return shipment

    @staticmethod
    def can_cancel(order: dict) -> bool:
        """Magento's ``Order::canCancel``: not once canceled, complete, closed, on hold or in
        payment review, nor once every item is invoiced (the invoice must be refunded instead)."""
        if order["state"] in ("canceled", "complete", "closed", "holded", "payment_review"):
            return False
        return not all(i["qty_invoiced"] >= i["qty_ordered"] for i in docs.billable(order))

    def cancel(self, order_id: Any, when: str | None = None) -> dict | None:
        """``POST /V1/orders/{id}/cancel``: the order canceled, or None (the API's ``false``)
        when Magento would not cancel it."""
        order, when = self.get("order", order_id), when or self.now()
        if not self.can_cancel(order):
            return None
        order["state"] = order["status"] = "canceled"
        for item in order["items"]:
            item["qty_canceled"] = item["qty_ordered"] - item["qty_invoiced"]
        order["updated_at"] = max(order["updated_at"], when)
        self.record("order", order["entity_id"], "order_cancel_after", when)
        return order

    def hold(self, order_id: Any, when: str | None = None) -> dict | None:
        """``POST /V1/orders/{id}/hold``: state and status ``holded``, the ones before kept for
        unhold; None (``false``) when Magento would not hold it (canceled, closed, complete, on hold)."""
        order, when = self.get("order", order_id), when or self.now()
        if order["state"] in ("canceled", "closed", "complete", "holded", "payment_review"):
            return None
        order.update(hold_before_state=order["state"], hold_before_status=order["status"], state="holded",
                     status="holded", updated_at=max(order["updated_at"], when))
        self.record("order", order["entity_id"], "sales_order_save_after", when)
        return order

    def unhold(self, order_id: Any, when: str | None = None) -> dict | None:
        """``POST /V1/orders/{id}/unhold``: back to the state and status it had; None unless held."""
        order, when = self.get("order", order_id), when or self.now()
        if order["state"] != "holded":
            return None
        order.update(state=order.pop("hold_before_state"), status=order.pop("hold_before_status"),
                     updated_at=max(order["updated_at"], when))
        self.record("order", order["entity_id"], "sales_order_save_after", when)
        return order

    def edit_order(self, order_id: Any, qty: dict[int, Any], when: str | None = None) -> dict:
        """An order edited in place (same ``entity_id`` and ``increment_id``), as order editing
        does before anything is invoiced: item quantities (order item id -> qty) and the totals
        follow, ``updated_at`` moves. An invoiced, canceled or closed order cannot be edited."""
        order, when = self.get("order", order_id), when or self.now()
        if order["state"] in ("canceled", "closed", "complete") or any(
                i["qty_invoiced"] or i["qty_shipped"] for i in docs.billable(order)):
            raise AdobeError(400, "The order cannot be edited once invoiced, shipped, canceled or closed.")
        for item in docs.billable(order):
            if item["item_id"] in qty:
                item["qty_ordered"] = Decimal(str(qty[item["item_id"]]))
                row_total = docs.money(item["qty_ordered"] * item["price"])
                item["tax_amount"] = docs.money(row_total * item["tax_percent"] / 100)
                item.update(row_total=row_total, base_row_total=row_total,
                            row_total_incl_tax=row_total + item["tax_amount"], updated_at=when)
        total = docs.totals(docs.billable(order), order["shipping_amount"])
        order.update(total, total_due=total["grand_total"], base_total_due=total["grand_total"],
                     total_qty_ordered=sum((i["qty_ordered"] for i in docs.billable(order)), Decimal(0)),
                     updated_at=max(order["updated_at"], when))
        order["payment"].update(amount_ordered=total["grand_total"], base_amount_ordered=total["grand_total"])
        self.record("order", order["entity_id"], "sales_order_save_after", when)
        return order

    def edit_by_reorder(self, order_id: Any, lines: list[dict], when: str | None = None) -> dict:
        """Magento's admin "Edit" of an order: the original is canceled and a new order placed
        with the edited lines, numbered ``<increment_id>-1`` (``-2``...), linked both ways
        (``relation_parent_id`` / ``relation_child_id`` and their ``_real_id``)."""
        old, when = self.get("order", order_id), when or self.now()
        if self.cancel(old["entity_id"], when) is None:
            raise AdobeError(400, "This order cannot be edited.")
        customer = self.tables["customer"].get(old["customer_id"]) if old.get("customer_id") else None
        guest = None if customer else {"email": old["customer_email"], "firstname": old["customer_firstname"],
                                        "lastname": old["customer_lastname"]}
        new = self.place_order(store_id=old["store_id"], lines=lines, customer=customer, guest=guest,
                               method=old["payment"]["method"], po_number=old["payment"].get("po_number"),
                               shipping=old["shipping_amount"], created_at=when)
        base = old.get("original_increment_id") or old["increment_id"]
        edit = int(old.get("edit_increment") or 0) + 1
        new.update(increment_id=f"{base}-{edit}", original_increment_id=base, edit_increment=edit,
                   relation_parent_id=old["entity_id"], relation_parent_real_id=old["increment_id"])
        old.update(relation_child_id=new["entity_id"], relation_child_real_id=new["increment_id"])
        return new

    def add_comment(self, order_id: Any, history: dict, when: str | None = None) -> dict:
        """POST /V1/orders/{id}/comments: a status history entry; ``status`` may change the status."""
        order, when = self.get("order", order_id), when or self.now()
        entry = docs.comment(self.next_id("comment"), order["entity_id"], "order", str(history.get("comment") or ""),
                             when, history.get("status") or order["status"], int(history.get("is_customer_notified") or 0),
                             int(history.get("is_visible_on_front") or 0))
        order["status_histories"].insert(0, entry)  # newest first, as Magento lists them
        if history.get("status"):
            order["status"] = history["status"]
        order["updated_at"] = when
        self.record("order", order["entity_id"], "sales_order_save_after", when)
        return entry
