"""Legacy Order Entry body: ``create_sotransaction`` (SODOCUMENT), in the v3.0 XSD's order:
``transactiontype, datecreated, dateposted?, createdfrom?, customerid, documentno?, origdocdate?,
referenceno?, termname?, datedue?, message?, …, currency…, …, sotransitems``; a ``sotransitem``
is ``itemid, itemdesc?, …, warehouseid?, quantity, unit?, …, price?, …, locationid?,
departmentid?, memo?, …`` (intacct/intacct_dtd ``v3.0/api.xsd``)."""

from __future__ import annotations

from lxml import etree

from ._xml import sub, sub_fields
from .functions import legacy_currency, legacy_date, money, write_function
from .models import Function, SoTransaction


def sotransaction_function(controlid: str, so: SoTransaction) -> Function:
    """``create_sotransaction`` for one sales order; ``controlid`` is its idempotency key."""
    body = etree.Element("create_sotransaction")
    sub(body, "transactiontype", so.transaction_type)
    legacy_date(body, "datecreated", so.date_created)
    sub_fields(body, [("customerid", so.customer_id), ("documentno", so.document_no),
                      ("referenceno", so.reference_no)])
    legacy_date(body, "datedue", so.date_due)
    sub_fields(body, [("message", so.message)])
    legacy_currency(body, so.currency)
    items = sub(body, "sotransitems")
    for line in so.lines:
        sub_fields(sub(items, "sotransitem"), [
            ("itemid", line.item_id),
            ("quantity", line.quantity),
            ("unit", line.unit),
            ("price", money(line.price) if line.price is not None else None),
            ("locationid", line.location_id),
            ("departmentid", line.department_id),
            ("memo", line.memo),
        ])
    return write_function(controlid, body, "a sales order")
