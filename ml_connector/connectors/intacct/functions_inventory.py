"""Inventory bodies: legacy ``create_item`` (ITEM; the Commerce SKU is the ITEMID) and
``create_ictransaction`` (shipments leaving a warehouse). Reference §5.9 and §5.10, children
in the sheet's (XSD) order.
"""

from __future__ import annotations

from lxml import etree

from ._xml import sub, sub_fields
from .functions import legacy_custom_fields, legacy_date, money, write_function
from .models import Function
from .models_commerce import IcTransaction, Item


def item_function(controlid: str, item: Item) -> Function:
    """``create_item``: itemid, name, status, itemtype."""
    body = etree.Element("create_item")
    sub_fields(body, [("itemid", item.item_id), ("name", item.name), ("status", item.status),
                      ("itemtype", item.item_type)])
    return write_function(controlid, body, "an item")


def ictransaction_function(controlid: str, transaction: IcTransaction) -> Function:
    """``create_ictransaction``: transactiontype, datecreated, documentno, referenceno, message,
    externalid, customfields, ictransitems (itemid, itemdesc, warehouseid, quantity, unit, cost,
    locationid, departmentid)."""
    body = etree.Element("create_ictransaction")
    sub(body, "transactiontype", transaction.transaction_type)
    legacy_date(body, "datecreated", transaction.date_created)
    sub_fields(body, [("documentno", transaction.document_no), ("referenceno", transaction.reference_no),
                      ("message", transaction.message), ("externalid", transaction.external_id)])
    legacy_custom_fields(body, transaction.custom)
    items = sub(body, "ictransitems")
    for line in transaction.lines:
        sub_fields(sub(items, "ictransitem"), [
            ("itemid", line.item_id),
            ("itemdesc", line.item_desc),
            ("warehouseid", line.warehouse_id),
            ("quantity", line.quantity),
            ("unit", line.unit),
            ("cost", money(line.cost) if line.cost is not None else None),
            ("locationid", line.location_id),
            ("departmentid", line.department_id),
        ])
    return write_function(controlid, body, "an inventory transaction")
