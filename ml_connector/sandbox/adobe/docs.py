"""Document shapes of the Adobe Commerce emulator: pure builders of Magento's REST payloads (§A.6).

Amounts are ``Decimal`` here and JSON numbers on the wire, as Magento sends them. ``None``
values are kept in the store (they are searchable columns, ``null``/``notnull``) and dropped on
the wire, because Magento's output processor omits null fields: a guest order has no
``customer_id`` key at all.

Order items follow the tutorial payload: a configurable product is two rows, the parent
(``product_type`` configurable, carrying the price) and its simple child (price 0, same SKU,
``parent_item_id``). Invoices, credit memos and shipments list the billable rows only.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")

# Top-level columns per list endpoint: what ``searchCriteria`` may filter and sort on.
COLUMNS = {
    "order": frozenset((
        "entity_id", "increment_id", "state", "status", "created_at", "updated_at", "customer_id", "customer_is_guest",
        "customer_email", "customer_firstname", "customer_lastname", "customer_group_id", "store_id", "store_name",
        "base_currency_code", "order_currency_code", "global_currency_code", "store_currency_code", "subtotal",
        "base_subtotal", "shipping_amount", "base_shipping_amount", "tax_amount", "base_tax_amount",
        "discount_amount", "grand_total", "base_grand_total", "total_paid", "base_total_paid", "total_invoiced",
        "total_refunded", "total_due", "base_total_due", "total_qty_ordered", "total_item_count", "quote_id",
        "billing_address_id", "shipping_description", "remote_ip")),
    "invoice": frozenset((
        "entity_id", "order_id", "increment_id", "state", "grand_total", "base_grand_total", "subtotal",
        "base_subtotal", "tax_amount", "shipping_amount", "total_qty", "created_at", "updated_at",
        "billing_address_id", "store_id", "order_currency_code", "base_currency_code", "transaction_id", "email_sent")),
    "creditmemo": frozenset((
        "entity_id", "increment_id", "order_id", "invoice_id", "transaction_id", "store_id", "billing_address_id",
        "state", "creditmemo_status", "email_sent", "adjustment", "adjustment_positive", "adjustment_negative",
        "subtotal", "shipping_amount", "tax_amount", "discount_amount", "grand_total", "base_grand_total",
        "order_currency_code", "base_currency_code", "created_at", "updated_at")),
    "shipment": frozenset((
        "entity_id", "order_id", "increment_id", "store_id", "total_qty", "customer_id", "billing_address_id",
        "shipping_address_id", "created_at", "updated_at")),
    "customer": frozenset((
        "id", "entity_id", "group_id", "email", "firstname", "lastname", "store_id", "website_id", "created_at",
        "updated_at", "created_in", "default_billing", "default_shipping", "gender", "dob", "taxvat")),
    "product": frozenset((
        "id", "entity_id", "sku", "name", "attribute_set_id", "price", "status", "visibility", "type_id", "created_at",
        "updated_at", "weight")),
    "company": frozenset((
        "id", "entity_id", "status", "company_name", "legal_name", "company_email", "vat_tax_id", "reseller_id", "city",
        "country_id", "region_id", "postcode", "telephone", "customer_group_id", "sales_representative_id",
        "super_user_id")),
    "credit": frozenset(("id", "entity_id", "company_id", "credit_limit", "balance", "currency_code", "exceed_limit",
                         "available_limit")),
    "credit_history": frozenset(("id", "entity_id", "company_credit_id", "user_id", "user_type", "currency_credit", "amount",
                                 "balance", "credit_limit", "available_limit", "type", "datetime", "purchase_order")),
}


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def wire(value: Any) -> Any:
    """A stored document as Magento serialises it: nulls dropped, Decimals as numbers."""
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [wire(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def encode(value: Any) -> bytes:
    return json.dumps(wire(value)).encode("utf-8")


def address(kind: str, entity_id: int, parent_id: int, person: dict) -> dict:
    return {
        "address_type": kind, "entity_id": entity_id, "parent_id": parent_id,
        "firstname": person.get("firstname"), "lastname": person.get("lastname"), "email": person.get("email"),
        "company": person.get("company"), "street": list(person.get("street") or ["1 Main St"]),
        "city": person.get("city", "Austin"), "region": person.get("region", "Texas"),
        "region_code": person.get("region_code", "TX"), "region_id": person.get("region_id", 57),
        "postcode": person.get("postcode", "78701"), "country_id": person.get("country_id", "US"),
        "telephone": person.get("telephone", "512-555-0100"),
    }


def order_items(order_id: int, first_item_id: int, lines: list[dict], created_at: str) -> list[dict]:
    """Order rows: one per simple line, two (parent + child) per configurable line."""
    rows: list[dict] = []
    item_id = first_item_id
    for line in lines:
        qty, price = Decimal(line["qty"]), money(line["price"])
        row_total = money(qty * price)
        tax = money(row_total * Decimal(line.get("tax_percent", 0)) / 100)
        parent = {
            "item_id": item_id, "order_id": order_id, "quote_item_id": item_id + 1000, "sku": line["sku"],
            "name": line["name"], "product_id": line["product_id"], "product_type": line.get("type", "simple"),
            "qty_ordered": qty, "qty_invoiced": Decimal(0), "qty_shipped": Decimal(0), "qty_refunded": Decimal(0),
            "qty_canceled": Decimal(0), "price": price, "base_price": price, "original_price": price,
            "row_total": row_total, "base_row_total": row_total, "row_total_incl_tax": row_total + tax,
            "tax_amount": tax, "tax_percent": Decimal(line.get("tax_percent", 0)), "discount_amount": Decimal(0),
            "parent_item_id": None, "created_at": created_at, "updated_at": created_at,
        }
        rows.append(parent)
        item_id += 1
        if line.get("type") == "configurable":
            rows.append({**parent, "item_id": item_id, "quote_item_id": item_id + 1000, "product_type": "simple",
                         "product_id": line["child_product_id"], "name": line["child_name"], "price": Decimal(0),
                         "base_price": Decimal(0), "original_price": Decimal(0), "row_total": Decimal(0),
                         "base_row_total": Decimal(0), "row_total_incl_tax": Decimal(0), "tax_amount": Decimal(0),
                         "parent_item_id": parent["item_id"],
                         "parent_item": {"item_id": parent["item_id"], "product_type": "configurable",
                                         "sku": parent["sku"], "price": price}})
            item_id += 1
    return rows


def billable(order: dict) -> list[dict]:
    return [item for item in order["items"] if item.get("parent_item_id") is None]


def child_items(order: dict, entity_id: int, first_id: int, qty_of, with_price: bool = True) -> list[dict]:
    """Invoice / credit memo / shipment rows for the billable order items (``qty_of(item)``)."""
    rows = []
    for n, item in enumerate(billable(order)):
        qty = Decimal(qty_of(item))
        if qty <= 0:
            continue
        row = {"entity_id": first_id + n, "parent_id": entity_id, "order_item_id": item["item_id"],
               "sku": item["sku"], "name": item["name"], "qty": qty, "price": item["price"],
               "product_id": item["product_id"]}
        if with_price:
            row_total = money(qty * item["price"])
            row.update(base_price=item["price"], row_total=row_total, base_row_total=row_total,
                       tax_amount=money(row_total * item["tax_percent"] / 100))
        rows.append(row)
    return rows


def totals(rows: list[dict], shipping: Decimal) -> dict:
    subtotal = sum((r["row_total"] for r in rows), Decimal(0))
    tax = sum((r["tax_amount"] for r in rows), Decimal(0))
    grand = money(subtotal + tax + shipping)
    return {"subtotal": subtotal, "base_subtotal": subtotal, "tax_amount": tax, "base_tax_amount": tax,
            "shipping_amount": shipping, "base_shipping_amount": shipping, "grand_total": grand,
            "base_grand_total": grand}


def comment(entity_id: int, parent_id: int, entity_name: str, text: str, created_at: str,
            status: str | None = None, notified: int = 0, visible: int = 0) -> dict:
    return {"entity_id": entity_id, "parent_id": parent_id, "entity_name": entity_name, "comment": text,
            "created_at": created_at, "status": status, "is_customer_notified": notified,
            "is_visible_on_front": visible}


def custom_attributes(values: dict[str, Any]) -> list[dict]:
    return [{"attribute_code": code, "value": value} for code, value in values.items()]
