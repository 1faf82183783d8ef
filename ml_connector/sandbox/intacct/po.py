"""Purchase orders (PODOCUMENT) in the Intacct sandbox: readable, and seeded directly.

The real gateway creates them only with the legacy ``create_potransaction`` (reference §5.8),
which :mod:`.ap_extra` implements; tests and the demo may also seed purchase orders
with :func:`add_purchase_order`, and the product reads them as it reads any object
(``readByQuery`` by WHENMODIFIED, then ``read`` for the PODOCUMENTENTRIES lines).
Importing this module registers the object with the store's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .store import FIELDS, ID_FIELD, ITEMS, naive_utc

FIELDS.setdefault("PODOCUMENT", (
    "RECORDNO", "DOCID", "DOCNO", "DOCPARID", "VENDORID", "VENDORNAME", "STATE", "WHENCREATED", "WHENDUE",
    "WHENMODIFIED", "PONUMBER", "CURRENCY", "TOTAL", "MESSAGE",
))
ID_FIELD.setdefault("PODOCUMENT", "DOCID")
PODOCUMENT_LINE_FIELDS = ("QUANTITY", "UNIT", "PRICE", "WAREHOUSEID")
ITEMS.setdefault("PODOCUMENT", ("PODOCUMENTENTRIES", "podocumententry"))


def add_purchase_order(emulator, docno: str, vendor_id: str, lines: Iterable[dict[str, Any]], when_created: date,
                       when_modified: datetime | None = None, *, currency: str = "USD", state: str = "Pending") -> str:
    """Add a ``Purchase Order`` transaction for an existing vendor; returns its RECORDNO.
    ``lines`` are mappings with ``item_id``, ``quantity``, ``price`` and optional ``unit``, ``memo``."""
    rows, total = [], Decimal("0")
    for n, line in enumerate(lines, start=1):
        qty, price = Decimal(str(line["quantity"])), Decimal(str(line["price"]))
        total += qty * price
        rows.append({"LINE_NO": str(n), "ITEMID": line["item_id"], "QUANTITY": format(qty, "f"),
                     "UNIT": line.get("unit", "Each"), "PRICE": format(price, "f"),
                     "ENTRYDESCRIPTION": line.get("memo") or "", "AMOUNT": format(qty * price, "f")})
    with emulator.lock:
        store = emulator.store
        store.tables.setdefault("PODOCUMENT", {})
        vendor = store.find("VENDOR", vendor_id)
        if vendor is None:
            raise ValueError(f"unknown vendor {vendor_id!r}: add_vendor first")
        values = {"DOCID": f"Purchase Order-{docno}", "DOCNO": docno, "DOCPARID": "Purchase Order",
                  "VENDORID": vendor_id, "VENDORNAME": vendor["NAME"], "STATE": state, "WHENCREATED": when_created,
                  "WHENDUE": when_created + timedelta(days=14), "PONUMBER": docno, "CURRENCY": currency,
                  "TOTAL": format(total, "f"),
                  "WHENMODIFIED": naive_utc(when_modified) if when_modified else emulator._now()}
        recordno = store.insert("PODOCUMENT", values)
        for row in rows:
            store._recordno += 1
            row["RECORDNO"] = str(store._recordno)
        store.items[("PODOCUMENT", recordno)] = rows
        return recordno
