"""Legacy AR bodies: ``create_invoice`` (ARINVOICE), ``create_arpayment`` and
``create_aradjustment``. Reference §5.5, §5.6 and §5.7; children in the sheet's (XSD) order.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from ._xml import sub, sub_fields
from .functions import legacy_currency, legacy_custom_fields, legacy_date, legacy_gl_line, money, write_function
from .models import Function
from .models_commerce import ArAdjustment, ArLine, ArPayment, NewArInvoice


def _lines(parent: etree._Element, tag: str, lines: tuple[ArLine, ...]) -> None:
    items = sub(parent, tag)
    for line in lines:
        legacy_gl_line(items, account_no=line.account_no, amount=line.amount, memo=line.memo,
                       location_id=line.location_id, department_id=line.department_id,
                       item_id=line.item_id, class_id=line.class_id)


def invoice_function(controlid: str, invoice: NewArInvoice) -> Function:
    """``create_invoice``: customerid, datecreated, datedue, termname, invoiceno, ponumber,
    description, externalid, currency, customfields (e.g. the Commerce entity_id), invoiceitems."""
    body = etree.Element("create_invoice")
    sub(body, "customerid", invoice.customer_id)
    legacy_date(body, "datecreated", invoice.date_created)
    legacy_date(body, "datedue", invoice.date_due)
    sub_fields(body, [("termname", invoice.term_name), ("invoiceno", invoice.invoice_no),
                      ("ponumber", invoice.po_number), ("description", invoice.description),
                      ("externalid", invoice.external_id)])
    legacy_currency(body, invoice.currency)
    legacy_custom_fields(body, invoice.custom)
    _lines(body, "invoiceitems", invoice.lines)
    return write_function(controlid, body, "an AR invoice")


def arpayment_function(controlid: str, payment: ArPayment) -> Function:
    """``create_arpayment``: customerid, paymentamount, bankaccountid | undepfundsacct, refid,
    datereceived, paymentmethod, currency, then one ``arpaymentitem`` (invoicekey, amount) per
    invoice it pays."""
    body = etree.Element("create_arpayment")
    sub_fields(body, [("customerid", payment.customer_id), ("paymentamount", money(payment.amount)),
                      ("bankaccountid", payment.bank_account_id), ("undepfundsacct", payment.undeposited_account),
                      ("refid", payment.ref_id)])
    legacy_date(body, "datereceived", payment.date_received)
    sub_fields(body, [("paymentmethod", payment.payment_method)])
    legacy_currency(body, payment.currency)
    for application in payment.applications:
        sub_fields(sub(body, "arpaymentitem"), [("invoicekey", application.invoice_key),
                                                ("amount", money(application.amount))])
    return write_function(controlid, body, "an AR payment")


def aradjustment_function(controlid: str, adjustment: ArAdjustment) -> Function:
    """``create_aradjustment``: customerid, datecreated, adjustmentno, invoiceno (the invoice it
    adjusts), description, externalid, currency, aradjustmentitems (negative = credit memo)."""
    body = etree.Element("create_aradjustment")
    sub(body, "customerid", adjustment.customer_id)
    legacy_date(body, "datecreated", adjustment.date_created)
    sub_fields(body, [("adjustmentno", adjustment.adjustment_no), ("invoiceno", adjustment.invoice_no),
                      ("description", adjustment.description), ("externalid", adjustment.external_id)])
    legacy_currency(body, adjustment.currency)
    _lines(body, "aradjustmentitems", adjustment.lines)
    return write_function(controlid, body, "an AR adjustment")


def reverse_invoice_function(controlid: str, recordno: str, reversed_on: date, description: str | None = None) -> Function:
    """The legacy ``<reverse_invoice key="RECORDNO">`` (``datereversed``, ``description?``, as
    ``reverse_bill``): Intacct posts the reversing entry on ``reversed_on``; the invoice stays, reversed."""
    body = etree.Element("reverse_invoice", key=recordno)
    legacy_date(body, "datereversed", reversed_on)
    sub_fields(body, [("description", description)])
    return write_function(controlid, body, "an AR invoice reversal")
