"""Intacct inventory shipper -> RSX Shipment (856). Pure functions.

An Intacct "Inventory Shipper" (an inventory transaction, ``INVDOCUMENT`` with ``DOCPARID``
"Inventory Shipper", created with ``create_ictransaction``) records goods leaving a warehouse;
its lines name the item, the quantity, the warehouse and the customer shipped to
(``ictransitem/customerid``), its ``referenceno`` (``PONUMBER``) the buyer's PO. That customer's
trading partner receives one RSX Shipment per shipper:

* ``ShipmentIdentification`` = the shipper's DOCID, ``ShipDate`` = its WHENCREATED;
* one ``OrderLevel`` for the PO, items hanging off it (no pack level: the shipper knows no
  cartons), ``ShipQty`` = the line quantity, the partner's buyer part and UPC from the
  cross-reference, ``ASNStructureCode`` 0001 as the other ASNs we send.

A shipper whose lines name no customer, or several, or a customer no partner claims, is
rejected (quarantined) with the reason, never sent to a guessed partner.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..connectors.errors import BadDocument
from ..connectors.intacct._xml import DATE_FORMAT, DATETIME_FORMAT
from ..connectors.sps.models import (
    ItemLevel,
    OrderLevel,
    RsxShipment,
    ShipmentDocHeader,
    ShipmentHeader,
    ShipmentLine,
    ShipmentOrderHeader,
    Summary,
)
from .identifiers import identifier
from .tenant import TenantMapping

SHIPPER = "Inventory Shipper"
OPERATION = "intacct-sps"


class ShipperLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_id: str
    quantity: Decimal
    warehouse_id: str | None = None
    customer_id: str | None = None


class Shipper(BaseModel):
    """One Intacct inventory shipper as read back (header and lines)."""

    model_config = ConfigDict(frozen=True)

    record_no: str
    doc_id: str
    state: str | None = None
    when_created: date
    when_modified: datetime
    po_number: str | None = None
    lines: tuple[ShipperLine, ...] = ()


def _bad(message: str, code: str) -> BadDocument:
    return BadDocument(message, system="mapping", operation=OPERATION, code=code)


def _when(value: str, fmt: str) -> datetime:
    return datetime.strptime(value.strip(), fmt)


def shipper_from_record(record: dict[str, Any]) -> Shipper:
    """A :class:`Shipper` from an INVDOCUMENT record read with its INVDOCUMENTENTRIES."""
    try:
        items = record.get("INVDOCUMENTENTRIES") or []
        rows = items if isinstance(items, list) else [items]
        lines = tuple(ShipperLine(item_id=r["ITEMID"], quantity=Decimal(r["QUANTITY"]),
                                  warehouse_id=r.get("WAREHOUSEID") or None, customer_id=r.get("CUSTOMERID") or None)
                      for r in rows)
        return Shipper(record_no=record["RECORDNO"], doc_id=record["DOCID"], state=record.get("STATE") or None,
                       when_created=_when(record["WHENCREATED"], DATE_FORMAT).date(),
                       when_modified=_when(record["WHENMODIFIED"], DATETIME_FORMAT),
                       po_number=record.get("PONUMBER") or None, lines=lines)
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise _bad(f"unreadable INVDOCUMENT {record.get('RECORDNO', '?')}: {type(exc).__name__}: {exc}".splitlines()[0],
                   "INVDOCUMENT") from None


def shipper_customer(ship: Shipper) -> str:
    """The one customer a shipper's lines ship to, or BadDocument."""
    customers = {line.customer_id for line in ship.lines if line.customer_id}
    if len(customers) != 1:
        named = ", ".join(sorted(customers)) or "none"
        raise _bad(f"Intacct shipper {ship.doc_id}: its lines name {named} as customer; one is needed to know the "
                   "trading partner", "customer")
    return customers.pop()


def partner_for_shipper(ship: Shipper, tenant: TenantMapping) -> str:
    customer = shipper_customer(ship)
    partner = tenant.partner_for_customer(customer)
    if partner is None:
        raise _bad(f"Intacct shipper {ship.doc_id}: customer {customer!r} is not mapped to a trading partner",
                   "unknown-customer")
    return partner


def shipper_to_rsx(ship: Shipper, tenant: TenantMapping) -> RsxShipment:
    """The RSX Shipment (ASN) of one Intacct inventory shipper, or BadDocument saying why not."""
    partner = partner_for_shipper(ship, tenant)
    number = identifier(ship.doc_id, "Intacct shipper DOCID")
    identifier(ship.po_number or "", "Intacct shipper PO number")
    by_item = {x.item_id: x for x in tenant.items}
    items = []
    for n, line in enumerate(ship.lines, start=1):
        xref = by_item.get(line.item_id)
        items.append(ItemLevel(shipment_line=ShipmentLine(
            line_sequence_number=str(n), vendor_part_number=line.item_id,
            buyer_part_number=xref.buyer_part if xref else None, consumer_package_code=xref.upc if xref else None,
            ship_qty=line.quantity)))
    if not items:
        raise _bad(f"Intacct shipper {ship.doc_id} has no lines", "empty")
    header = ShipmentHeader(trading_partner_id=partner, shipment_identification=number, ship_date=ship.when_created,
                            ship_notice_date=ship.when_created, a_s_n_structure_code="0001")
    order = OrderLevel(order_header=ShipmentOrderHeader(purchase_order_number=ship.po_number or number),
                       item_level=items)
    return RsxShipment(header=ShipmentDocHeader(shipment_header=header), order_level=[order],
                       summary=Summary(total_line_item_number=len(items)))


def shipper_version(ship: Shipper) -> str:
    """WHENMODIFIED as one sortable text (UTC, microseconds), as for AR invoices."""
    stamp = ship.when_modified
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
