"""Legacy purchasing and AP bodies: ``create_potransaction`` (PODOCUMENT) and
``create_apadjustment`` (AP credit/debit memo). Reference §5.8 and §5.4.

Legacy functions are validated as an ``xs:sequence``: every child is written in the sheet's
order, and an element out of place is rejected as if it were missing. Dates are
``<year><month><day>`` objects.
"""

from __future__ import annotations

from lxml import etree

from ._xml import sub, sub_fields
from .functions import legacy_currency, legacy_custom_fields, legacy_date, legacy_gl_line, money, write_function
from .models import Function
from .models_commerce import ApAdjustment, PoTransaction


def potransaction_function(controlid: str, po: PoTransaction) -> Function:
    """``create_potransaction``: transactiontype, datecreated, vendorid, documentno, referenceno,
    vendordocno, datedue, message, returnto, payto, externalid, currency, customfields,
    potransitems. ``returnto``/``payto`` are written even when empty: the XSD requires both."""
    body = etree.Element("create_potransaction")
    sub(body, "transactiontype", po.transaction_type)
    legacy_date(body, "datecreated", po.date_created)
    sub_fields(body, [("vendorid", po.vendor_id), ("documentno", po.document_no),
                      ("referenceno", po.reference_no), ("vendordocno", po.vendor_doc_no)])
    legacy_date(body, "datedue", po.date_due)
    sub_fields(body, [("message", po.message)])
    sub(sub(body, "returnto"), "contactname", "")
    sub(sub(body, "payto"), "contactname", "")
    sub_fields(body, [("externalid", po.external_id)])
    legacy_currency(body, po.currency)
    legacy_custom_fields(body, po.custom)
    items = sub(body, "potransitems")
    for line in po.lines:
        sub_fields(sub(items, "potransitem"), [
            ("itemid", line.item_id),
            ("itemdesc", line.item_desc),
            ("warehouseid", line.warehouse_id),
            ("quantity", line.quantity),
            ("unit", line.unit),
            ("price", money(line.price) if line.price is not None else None),
            ("locationid", line.location_id),
            ("departmentid", line.department_id),
            ("memo", line.memo),
        ])
    return write_function(controlid, body, "a purchase order")


def apadjustment_function(controlid: str, adjustment: ApAdjustment) -> Function:
    """``create_apadjustment``: vendorid, datecreated, adjustmentno, billno (the bill it adjusts),
    description, externalid, currency, customfields, apadjustmentitems."""
    body = etree.Element("create_apadjustment")
    sub(body, "vendorid", adjustment.vendor_id)
    legacy_date(body, "datecreated", adjustment.date_created)
    sub_fields(body, [("adjustmentno", adjustment.adjustment_no), ("billno", adjustment.bill_no),
                      ("description", adjustment.description), ("externalid", adjustment.external_id)])
    legacy_currency(body, adjustment.currency)
    legacy_custom_fields(body, adjustment.custom)
    items = sub(body, "apadjustmentitems")
    for line in adjustment.lines:
        legacy_gl_line(items, account_no=line.account_no, amount=line.amount, memo=line.memo,
                       location_id=line.location_id, department_id=line.department_id,
                       item_id=line.item_id, class_id=line.class_id)
    return write_function(controlid, body, "an AP adjustment")
