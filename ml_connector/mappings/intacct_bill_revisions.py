"""What a revision of an SPS document does to its Intacct AP bill. Pure functions: no I/O.

Rules (docs/revisions-sps-intacct.md has the facts and their sources):

* The RSX ``TsetPurposeCode`` says what the source meant (:data:`PURPOSE_EFFECTS`): 00 original,
  06 confirmation and 07 duplicate are the original; 04 change an update of the whole document;
  05 replace a replacement; 01 cancellation a cancel. Any other code is for a person.
* Intacct changes and cancels only unpaid bills: an update or a cancel of a bill with a payment
  applied, or of one already reversed, needs a person (:func:`revision_blocker`).
* A change is an ``update`` of the bill (header and the whole line set) under the same RECORDNO;
  a replacement too, since the bill number stays the document's. A cancel deletes the bill, or
  reverses it on the day of the cancellation when the tenant says ``bill_cancel: reverse``.
* Closed periods (tenant ``posting_date``): ``keep`` fails the bill with the closed period named;
  ``first_open_period`` moves its GL posting date (WHENPOSTED) to the first day of the month after
  each closed one Intacct reports, up to :data:`MAX_PERIODS_AHEAD` months, never past this month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..connectors.errors import BadDocument
from ..connectors.intacct.models import ApBill, SoTransaction
from .rsx_purpose import PURPOSE_EFFECTS

OPERATION = "sps-intacct"
MAX_PERIODS_AHEAD = 24
_CLOSED_DATE = re.compile(r"transaction date \((\d{2})/(\d{2})/(\d{4})\) is within a period that's been closed")


class NeedsPerson(BadDocument):
    """A document or revision Intacct cannot take as it stands (a paid or reversed bill, a purpose
    code no rule applies): quarantined with the reason, for a person to act and replay it."""

    classification = "needs_person"


SALES_ORDER = "salesorder"
SO_REF = "SODOCUMENT:"  # a sales order's target ref prefix, apart from bills' "<vendor>:<bill number>"


@dataclass(frozen=True)
class BillWrite:
    """What the post step writes for one claimed revision: ``bill`` (None for a cancel, which
    needs only the bill's RECORDNO), and the bill number it is known by. An order routed to a
    sales order (``kind`` salesorder) carries ``so`` instead, known by its customer and DOCID."""

    effect: str
    vendor_id: str
    record_id: str
    bill: ApBill | None = None
    so: SoTransaction | None = None
    kind: str = "apbill"


def sales_order_ref(doc_id: str) -> str:
    """How the ledger remembers where a sales order went (its target_ref)."""
    return f"{SO_REF}{doc_id}"


def parse_sales_order_ref(ref: str | None) -> str | None:
    """The DOCID of a sales order's target_ref; None for a bill's."""
    return ref[len(SO_REF):] if ref and ref.startswith(SO_REF) else None


def sales_order_revision(w: BillWrite) -> str:
    """Why a change or cancellation of an order routed to a sales order is left to a person."""
    what = "cancellation" if w.effect == "cancel" else "change"
    return (f"sales order {w.record_id} of customer {w.vendor_id}: the order's {what} is not applied to Order Entry "
            f"transactions automatically: apply it in Intacct by hand, then replay")


def purpose_effect(doc_type: str, number: str, purpose: str | None) -> str:
    """The ledger effect of an RSX document's purpose code; another code raises NeedsPerson."""
    code = (purpose or "00").strip()
    effect = PURPOSE_EFFECTS.get(code)
    if effect is None:
        raise NeedsPerson(f"{doc_type} {number}: purpose code {code!r} is none this integration applies (00, 06, 07 "
                          "original; 04 change; 05 replace; 01 cancellation): apply it in Intacct by hand",
                          system="mapping", operation=OPERATION, code="unknown-purpose")
    return effect


def revision_blocker(state: dict | None, vendor_id: str, record_id: str, effect: str) -> str | None:
    """Why the bill in Intacct (``state``: its STATE and TOTALPAID) cannot take a change or a
    cancellation automatically, in one line naming the bill and what to do; None when it can."""
    if state is None:
        return None
    what = "cancellation" if effect == "cancel" else "change"
    paid = Decimal(state.get("TOTALPAID") or "0")
    name = f"bill {record_id} of vendor {vendor_id} (RECORDNO {state.get('RECORDNO', '?')})"
    if paid != 0:
        return (f"{name} is paid ({paid:f}): void the payment in Intacct, or apply the {what} there by hand, "
                "then replay it")
    if (state.get("STATE") or "").lower() == "reversed":
        if effect == "cancel":
            return None
        return f"{name} is reversed: create the changed bill in Intacct by hand, or replay after deleting it"
    return None


def is_cancelled(state: dict | None) -> bool:
    """Whether a cancel has taken effect: the bill is gone (deleted) or reversed."""
    return state is None or (state.get("STATE") or "").lower() == "reversed"


def holds(record: dict, bill: ApBill) -> bool:
    """Whether the bill Intacct holds (``record`` as ``read`` returns it, with its lines) is
    ``bill``: same total, same lines (account, amount, memo) in order. How a lost update is told
    from one that never landed."""
    items = record.get("APBILLITEMS")
    rows: list[dict] = items if isinstance(items, list) else []
    held = [(r.get("ACCOUNTNO"), Decimal(r.get("TRX_AMOUNT") or "0"), r.get("ENTRYDESCRIPTION") or None) for r in rows]
    wanted = [(line.account_no, line.amount, line.memo) for line in bill.lines]
    return held == wanted and Decimal(record.get("TRX_TOTALENTERED") or "0") == bill.total


def closed_period_date(message: str) -> date | None:
    """The transaction date Intacct names in its closed-period failure, or None for another failure."""
    found = _CLOSED_DATE.search(message or "")
    if not found:
        return None
    month, day, year = (int(g) for g in found.groups())
    return date(year, month, day)


def next_period_start(day: date) -> date:
    """The first day of the month after ``day``'s: the first candidate open period."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def may_move_to(candidate: date, original: date, today: date) -> bool:
    """Whether ``first_open_period`` may still try ``candidate``: within MAX_PERIODS_AHEAD months
    of the bill's date and not after the current month."""
    months = (candidate.year - original.year) * 12 + candidate.month - original.month
    return months <= MAX_PERIODS_AHEAD and (candidate.year, candidate.month) <= (today.year, today.month)


def closed_period_reason(bill_ref: str, closed: date, policy: str, tried_until: date | None = None) -> str:
    """The one-line failure of a bill Intacct refused for a closed period, naming the period."""
    period = closed.strftime("%B %Y")
    if policy == "first_open_period":
        last = (tried_until or closed).strftime("%B %Y")
        return (f"bill {bill_ref}: the GL period {period} (transaction date {closed:%m/%d/%Y}) is closed and no open "
                f"period was found up to {last}: open a period in Intacct, then replay")
    return (f"bill {bill_ref}: the GL period {period} (transaction date {closed:%m/%d/%Y}) is closed: reopen it in "
            "Intacct, or set posting_date: first_open_period in the tenant file, then replay")
