"""Reversing AR invoices in the Intacct sandbox: legacy ``<reverse_invoice key="RECORDNO">``
(``datereversed``, ``description?``, the same shape as ``reverse_bill``).

What the sandbox holds to (docs/revisions-commerce.md has the sources): the invoice stays, STATE
``Reversed``, nothing left due, with a reversing entry dated ``datereversed`` (not before the
invoice's GL date, not in a closed period). An invoice with a payment applied (TOTALPAID not
zero) is refused ("Transaction '...' is already paid and can't be reversed": the wording Intacct
uses for bills, inferred for invoices), and so is one already reversed.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from ...connectors.intacct._xml import DATE_FORMAT, DATETIME_FORMAT
from .legacy import Ctx, Made, date_of, legacy
from .legacy_schema import SEQUENCES, _seq
from .store import FunctionFailure, check_open, gl_date

SEQUENCES["reverse_invoice"] = _seq("datereversed, description?")
REVERSED = "Reversed"


@legacy("reverse_invoice")
def reverse_invoice(ctx: Ctx, body: etree._Element) -> Made:
    on = date_of(body, "datereversed")
    key = (body.get("key") or "").strip()
    invoice = next((r for r in ctx.store.visible("ARINVOICE", ctx.entity) if r["RECORDNO"] == key), None)
    if invoice is None:
        raise FunctionFailure(f"Cannot reverse non-existing ARINVOICE with RECORDNO={key}.",
                              correction="Give the RECORDNO of an existing invoice.")
    name = invoice.get("RECORDID") or key
    if invoice["STATE"] == REVERSED:
        raise FunctionFailure(f"Invoice '{name}' is reversed and can't be changed.", description="Invalid state")
    if Decimal(invoice.get("TOTALPAID") or "0") != 0:
        raise FunctionFailure(f"Transaction '{name}' is already paid and can't be reversed.",
                              description="Invalid state", correction="Reverse the payment first.")
    check_open(ctx.store, on)
    if on is not None and (created := gl_date(invoice)) is not None and on < created:
        raise FunctionFailure(f"The reversal date {on.strftime(DATE_FORMAT)} is before the invoice's date "
                              f"{created.strftime(DATE_FORMAT)}.", description="Invalid date")
    invoice.update(STATE=REVERSED, TOTALDUE="0", TRX_TOTALDUE="0",
                   WHENMODIFIED=ctx.now.strftime(DATETIME_FORMAT) if ctx.now else invoice["WHENMODIFIED"])
    return Made("ARINVOICE", invoice["RECORDNO"], invoice["RECORDNO"], new=False)
