"""Accounts receivable in the Intacct sandbox: ``create_invoice``, ``create_arpayment`` (and the
generic ``<create><ARPYMT>``), ``create_aradjustment`` (reference §5.5-5.7).

A payment is applied to invoices by RECORDNO: each application lowers the invoice's TOTALDUE
and raises its TOTALPAID (STATE ``Partially Paid``/``Paid``). Applying more than an invoice
still owes, to an invoice of another customer or entity, or to an unknown key fails the
function, and so does applying more than the payment amount; the remainder of a payment that
is not applied stays on the payment as unapplied (an advance). Removing a payment (a rolled
back transaction) gives the invoices their due back.

Inferred, not verified: the error wording; ``termname`` only moves the due date by the days
written in it (``N30`` -> 30 days), there is no terms table; AR invoice and adjustment numbers
may repeat (the duplicate-number preference is off); an invoice's total cannot be negative (a
credit memo is an adjustment); an adjustment's ``invoiceno`` is a
reference only (applying a credit memo to an invoice is a payment-side operation Intacct has
and the sandbox does not). ``paymentmethod``, ``datereceived`` and one of ``bankaccountid``,
``undepfundsacct`` or ``batchkey`` are required as the function's documentation says, although
the XSD leaves them optional.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from lxml import etree

from ...connectors.intacct._xml import parse_date, text
from .legacy import Ctx, Made, amount_of, custom_values, date_of, gl_lines, legacy, party, total
from .store import CREATORS, FIELDS, ID_FIELD, ITEMS, LINE_FIELDS, ON_REMOVE, FunctionFailure, Store

_DOC = ("STATE", "WHENCREATED", "WHENMODIFIED", "DOCNUMBER", "DESCRIPTION", "CURRENCY", "TOTALENTERED",
        "TRX_TOTALENTERED", "TOTALDUE", "TRX_TOTALDUE")
FIELDS["ARPYMT"] = ("RECORDNO", "CUSTOMERID", "CUSTOMERNAME", "PAYMENTMETHOD", "RECEIPTDATE", "DOCNUMBER",
                    "FINANCIALENTITY", "STATE", "CURRENCY", "TOTALENTERED", "TRX_TOTALENTERED", "TOTALAPPLIED",
                    "UNAPPLIED", "WHENCREATED", "WHENMODIFIED")
FIELDS["ARADJUSTMENT"] = ("RECORDNO", "RECORDID", "CUSTOMERID", "CUSTOMERNAME") + _DOC
ID_FIELD.update(ARPYMT="RECORDNO", ARADJUSTMENT="RECORDID")
ITEMS.update(ARPYMT=("ARPYMTDETAILS", "arpymtdetail"), ARADJUSTMENT=("ARADJUSTMENTITEMS", "aradjustmentitem"))
LINE_FIELDS.update(ARINVOICE=("ACCOUNTLABEL",), ARADJUSTMENT=("ACCOUNTLABEL",),
                   ARPYMT=("RECORDKEY", "TRX_PAYMENTAMOUNT"))
PAYMENT_METHODS = frozenset({"Printed Check", "Cash", "EFT", "Credit Card", "Online Charge Card", "Online ACH Debit"})


# -- invoices --------------------------------------------------------------------------------


@legacy("create_invoice")
def create_invoice(ctx: Ctx, body: etree._Element) -> Made:
    customer = party(ctx, "CUSTOMER", text(body, "customerid"))
    created = date_of(body, "datecreated")
    due, term = date_of(body, "datedue", required=False), text(body, "termname")
    if due is None and not term:
        raise FunctionFailure("datedue is required if not using termname.", description="Required field missing")
    if due is None:
        days = re.search(r"\d+", term)
        due = created + timedelta(days=int(days.group()) if days else 0)
    custom = custom_values(ctx.store, "ARINVOICE", body)
    rows = gl_lines(ctx, body, "invoiceitems/lineitem")
    amount = total(rows)
    if Decimal(amount) < 0:
        raise FunctionFailure(f"The invoice total ({amount}) cannot be negative.",
                              correction="Use an AR adjustment (credit memo) instead.")
    values = {"RECORDID": text(body, "invoiceno"), "CUSTOMERID": customer["CUSTOMERID"],
              "CUSTOMERNAME": customer["NAME"], "STATE": _state(body, "Posted"), "WHENCREATED": created,
              "WHENDUE": due, "DOCNUMBER": text(body, "ponumber"), "DESCRIPTION": text(body, "description"),
              "CURRENCY": text(body, "currency") or "USD", "TOTALENTERED": amount, "TRX_TOTALENTERED": amount,
              "TOTALDUE": amount, "TRX_TOTALDUE": amount, "TOTALPAID": "0.00", "TRX_TOTALPAID": "0.00",
              **custom, **ctx.owner()}
    recordno = ctx.store.insert("ARINVOICE", values, rows)
    return Made("ARINVOICE", recordno, recordno)


def _state(body: etree._Element, submitted: str) -> str:
    action = text(body, "action") or "Submit"
    if action not in ("Draft", "Submit"):
        raise FunctionFailure(f"action must be Draft or Submit (got '{action}').")
    return "Draft" if action == "Draft" else submitted


# -- adjustments -----------------------------------------------------------------------------


@legacy("create_aradjustment")
def create_aradjustment(ctx: Ctx, body: etree._Element) -> Made:
    """Positive lines are a debit memo (the customer owes more), negative a credit memo."""
    customer = party(ctx, "CUSTOMER", text(body, "customerid"))
    rows = gl_lines(ctx, body, "aradjustmentitems/lineitem")
    amount = total(rows)
    values = {"RECORDID": text(body, "adjustmentno"), "CUSTOMERID": customer["CUSTOMERID"],
              "CUSTOMERNAME": customer["NAME"], "STATE": _state(body, "Posted"),
              "WHENCREATED": date_of(body, "datecreated"), "DOCNUMBER": text(body, "invoiceno"),
              "DESCRIPTION": text(body, "description"), "CURRENCY": text(body, "currency") or "USD",
              "TOTALENTERED": amount, "TRX_TOTALENTERED": amount, "TOTALDUE": amount, "TRX_TOTALDUE": amount,
              **ctx.owner()}
    recordno = ctx.store.insert("ARADJUSTMENT", values, rows)
    return Made("ARADJUSTMENT", recordno, recordno)


# -- payments --------------------------------------------------------------------------------


@legacy("create_arpayment")
def create_arpayment(ctx: Ctx, body: etree._Element) -> Made:
    accounts = [text(body, name) for name in ("bankaccountid", "undepfundsacct", "batchkey")]
    applications = [(text(item, "invoicekey"), text(item, "amount")) for item in body.findall("arpaymentitem")]
    recordno = _post_payment(
        ctx, customer_id=text(body, "customerid"), amount=text(body, "paymentamount"),
        method=text(body, "paymentmethod"), received=date_of(body, "datereceived"),
        account=next((a for a in accounts if a), ""), refid=text(body, "refid"),
        currency=text(body, "currency"), applications=applications)
    return Made("ARPYMT", recordno, recordno)


def _generic_payment(store: Store, element: etree._Element, values: dict, entity: str) -> tuple[dict, list]:
    """``<create><ARPYMT>``: the same rules, through the generic create (reference §5.6)."""
    applications = [(text(d, "RECORDKEY"), text(d, "TRX_PAYMENTAMOUNT"))
                     for d in element.findall("ARPYMTDETAILS/ARPYMTDETAIL")]
    try:
        received = parse_date(values.get("RECEIPTDATE", ""))
    except ValueError:
        raise FunctionFailure(f"RECEIPTDATE is required, as mm/dd/yyyy (got '{values.get('RECEIPTDATE', '')}').",
                              description="Invalid date") from None
    amount = values.get("TRX_AMOUNTTOPAY") or values.get("AMOUNTTOPAY") or _sum_applied(applications)
    account = next((values[n] for n in ("FINANCIALENTITY", "UNDEPOSITEDACCOUNTNO", "PRBATCH") if values.get(n)), "")
    return _payment_values(Ctx(store, None, entity), values.get("CUSTOMERID", ""), amount,
                           values.get("PAYMENTMETHOD", ""), received, account, values.get("DOCNUMBER", ""),
                           values.get("CURRENCY", ""), applications)


def _sum_applied(applications: list[tuple[str, str]]) -> str:
    try:
        return format(sum((Decimal(a) for _, a in applications), Decimal("0")), "f")
    except ArithmeticError:
        return ""


def _post_payment(ctx: Ctx, **fields) -> str:
    values, rows = _payment_values(ctx, **fields)
    values.update(ctx.owner())
    return ctx.store.insert("ARPYMT", values, rows)


def _payment_values(ctx: Ctx, customer_id: str, amount: str, method: str, received, account: str, refid: str,
                    currency: str, applications: list[tuple[str, str]]) -> tuple[dict, list[dict]]:
    """Validate a payment and apply it to its invoices; returns the ARPYMT values and detail rows."""
    customer = party(ctx, "CUSTOMER", customer_id)
    paid = amount_of(amount, "paymentamount")
    if paid <= 0:
        raise FunctionFailure("paymentamount must be greater than zero.")
    if method not in PAYMENT_METHODS:
        raise FunctionFailure(f"Invalid payment method '{method}'.",
                              correction="Use one of: " + ", ".join(sorted(PAYMENT_METHODS)) + ".")
    if not account:
        raise FunctionFailure("A bank account (bankaccountid), an undeposited funds account (undepfundsacct) "
                              "or a batch (batchkey) is required.", description="Required field missing")
    rows, applied = _applications(ctx, customer["CUSTOMERID"], applications)
    if applied > paid:
        raise FunctionFailure(f"The amounts applied ({applied}) exceed the payment amount ({paid}).",
                              description="Over-application")
    for row in rows:  # everything is valid: apply
        _apply(ctx.store, row["RECORDKEY"], Decimal(row["AMOUNT"]))
    values = {"CUSTOMERID": customer["CUSTOMERID"], "CUSTOMERNAME": customer["NAME"], "PAYMENTMETHOD": method,
              "RECEIPTDATE": received, "WHENCREATED": received, "DOCNUMBER": refid, "FINANCIALENTITY": account,
              "STATE": "Posted", "CURRENCY": currency or "USD", "TOTALENTERED": format(paid, "f"),
              "TRX_TOTALENTERED": format(paid, "f"), "TOTALAPPLIED": format(applied, "f"),
              "UNAPPLIED": format(paid - applied, "f")}
    return values, rows


def _applications(ctx: Ctx, customer_id: str, applications: list[tuple[str, str]]) -> tuple[list[dict], Decimal]:
    invoices = {r["RECORDNO"]: r for r in ctx.store.visible("ARINVOICE", ctx.entity)}
    owed: dict[str, Decimal] = {}
    rows = []
    for number, (key, raw) in enumerate(applications, start=1):
        invoice = invoices.get(key)
        if invoice is None or invoice["CUSTOMERID"] != customer_id or invoice["STATE"] == "Draft":
            raise FunctionFailure(f"Payment line {number}: invalid invoice key '{key}' for customer '{customer_id}'.",
                                  correction="Use the RECORDNO of a posted invoice of this customer.")
        amount = amount_of(raw, f"Payment line {number}: amount")
        owed.setdefault(key, Decimal(invoice["TOTALDUE"] or "0"))
        if amount <= 0 or amount > owed[key]:
            raise FunctionFailure(f"Payment line {number}: cannot apply {amount} to invoice {key}, which has "
                                  f"{owed[key]} due.", description="Over-application")
        owed[key] -= amount
        rows.append({"RECORDKEY": key, "TRX_PAYMENTAMOUNT": format(amount, "f"), "AMOUNT": format(amount, "f"),
                     "TRX_AMOUNT": format(amount, "f")})
    return rows, sum((Decimal(r["AMOUNT"]) for r in rows), Decimal("0"))


def _apply(store: Store, invoice_key: str, amount: Decimal) -> None:
    """Move ``amount`` from the invoice's due to its paid (negative to give it back)."""
    invoice = store.tables["ARINVOICE"].get(invoice_key)
    if invoice is None:  # removed meanwhile (a rollback of the same operation)
        return
    due = Decimal(invoice["TOTALDUE"] or "0") - amount
    paid = Decimal(invoice.get("TOTALPAID") or "0") + amount
    for name, value in (("TOTALDUE", due), ("TRX_TOTALDUE", due), ("TOTALPAID", paid), ("TRX_TOTALPAID", paid)):
        invoice[name] = format(value, "f")
    if invoice["STATE"] != "Draft":
        invoice["STATE"] = "Paid" if due == 0 else "Partially Paid" if paid > 0 else "Posted"


def _unapply(store: Store, record: dict, lines: list[dict]) -> None:
    for line in lines:
        _apply(store, line["RECORDKEY"], -Decimal(line["AMOUNT"]))


ON_REMOVE["ARPYMT"] = _unapply
CREATORS["ARPYMT"] = _generic_payment
