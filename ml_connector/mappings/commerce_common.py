"""Reading Adobe Commerce REST JSON (reference A.6) for the Intacct mappings: typed field access
that turns any bad value into :class:`BadDocument` with a one-line reason, store -> entity
routing, and the billable lines of an order.

The mappings take the dicts exactly as ``GET /V1/orders``, ``/V1/invoices``, ``/V1/creditmemos``,
``/V1/customers/search``, ``/V1/products`` and ``/V1/shipments`` return them. Magento sends
money as JSON numbers (sometimes strings); both become ``Decimal`` through ``str`` so a float's
binary noise never reaches an amount. Timestamps are ``YYYY-MM-DD HH:MM:SS`` in UTC.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..connectors.errors import BadDocument
from ..connectors.intacct._xml import strip_forbidden
from .commerce_tenant import CommerceSettings, StoreRoute
from .identifiers import identifier

CENT = Decimal("0.01")
# Deliberately simple: one @, no spaces or quotes, a dot in the domain. It rejects the
# injection-looking values a real address never has; deliverability is not our question.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")


def bad(reason: str, code: str, operation: str = "commerce-intacct") -> BadDocument:
    """A :class:`BadDocument` with a one-line reason."""
    return BadDocument(" ".join(reason.split())[:300], system="mapping", operation=operation, code=code)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def need_dict(doc: Any, what: str) -> dict:
    if not isinstance(doc, dict):
        raise bad(f"{what} must be a JSON object, got {type(doc).__name__}", "wrong-type")
    return doc


def label(doc: dict, what: str) -> str:
    """How a document is named in reasons: its increment_id, else its entity_id/id."""
    ident = doc.get("increment_id") or doc.get("entity_id") or doc.get("id") or "?"
    return f"{what} {ident}"


def text(doc: dict, key: str, where: str, *, required: bool = True, max_len: int = 400) -> str | None:
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise bad(f"{where}: missing {key}", "missing-field")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad(f"{where}: {key} must be text, got {type(value).__name__}", "wrong-type")
    # Code points XML 1.0 forbids are dropped here, not only by the codec, so the model the
    # ledger hashes and the XML Intacct receives say the same thing (reference §6.1).
    value = strip_forbidden(str(value)).strip()
    if not value:
        if required:
            raise bad(f"{where}: {key} is empty", "missing-field")
        return None
    if len(value) > max_len:
        raise bad(f"{where}: {key} is longer than {max_len} characters", "too-long")
    if key == "increment_id" or key.endswith("_id"):  # identifiers end up as target numbers
        identifier(value, f"{where}: {key}")
    return value


def integer(doc: dict, key: str, where: str, *, required: bool = True) -> int | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise bad(f"{where}: missing {key}", "missing-field")
        return None
    if isinstance(value, bool):
        raise bad(f"{where}: {key} must be an integer, got a boolean", "wrong-type")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise bad(f"{where}: {key} must be an integer, got {value!r}"[:200], "wrong-type")


def amount(doc: dict, key: str, where: str, *, required: bool = False) -> Decimal:
    """A money or quantity field as Decimal; absent means 0 unless ``required``."""
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise bad(f"{where}: missing {key}", "missing-field")
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad(f"{where}: {key} must be a number, got {type(value).__name__}", "wrong-type")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad(f"{where}: {key} is not a finite number", "wrong-type")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad(f"{where}: {key} must be a number, got {str(value)[:40]!r}", "wrong-type") from None
    if not number.is_finite():
        raise bad(f"{where}: {key} is not a finite number", "wrong-type")
    return number


def when(doc: dict, key: str, where: str) -> date:
    """A Magento ``YYYY-MM-DD HH:MM:SS`` (UTC) timestamp's date."""
    return stamp(doc, key, where).date()


def stamp(doc: dict, key: str, where: str) -> datetime:
    value = text(doc, key, where)
    try:
        return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S") if len(value) > 10 else \
            datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise bad(f"{where}: {key} {value[:30]!r} is not a Magento timestamp", "wrong-type") from None


def email(doc: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = text(doc, key, where, required=required, max_len=254)
    if value is None:
        return None
    if not _EMAIL.match(value):
        raise bad(f"{where}: {key} {value[:60]!r} is not an email address", "bad-email")
    return value.lower()


def items(doc: dict, where: str, key: str = "items") -> list[dict]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise bad(f"{where}: {key} must be a list of objects", "wrong-type")
    return value


def billable_items(doc: dict, where: str) -> list[dict]:
    """Order/invoice/credit memo lines that carry money: the children of configurable and
    bundle products are listed too (reference A.6.1), so only top-level lines count."""
    return [i for i in items(doc, where) if i.get("parent_item_id") in (None, 0, "")
            and i.get("parent_item") is None]


def route(doc: dict, commerce: CommerceSettings, where: str) -> StoreRoute:
    """The Intacct entity a document's store posts in; an unmapped store is rejected."""
    store_id = integer(doc, "store_id", where)
    found = commerce.route(store_id)
    if found is None:
        raise bad(f"{where}: store_id {store_id} is not mapped to an Intacct entity in commerce.stores",
                  "unknown-store")
    return found


def po_number(order: dict) -> str | None:
    """The B2B purchase order number (``payment.po_number``), or None."""
    payment = order.get("payment")
    if not isinstance(payment, dict):
        return None
    return text(payment, "po_number", label(order, "order") + " payment", required=False, max_len=100)


def custom_attribute(doc: dict, code: str) -> str | None:
    """The value of a ``custom_attributes[{attribute_code, value}]`` entry, or None."""
    for entry in doc.get("custom_attributes") or []:
        if isinstance(entry, dict) and entry.get("attribute_code") == code:
            value = entry.get("value")
            return str(value) if value not in (None, "") else None
    return None


def one_sign(lines: list, what: str) -> list:
    """Adjustment lines with one sign (Intacct refuses mixed signs, reference §5.4): positive
    lines (a discount or fee that lowers a credit) are folded into the largest negative line
    when that keeps it negative, else everything nets into one line. The total never changes."""
    positive = [line for line in lines if line.amount > 0]
    if not positive:
        return lines
    kept = [line for line in lines if line.amount <= 0]
    largest = min(kept, key=lambda line: line.amount) if kept else None
    lift = sum((line.amount for line in positive), Decimal("0"))
    if largest is not None and largest.amount + lift < 0:
        folded = largest.model_copy(update={"amount": largest.amount + lift,
                                            "memo": f"{largest.memo or ''} net of {lift}".strip()[:400]})
        return [folded if line is largest else line for line in kept]
    total = sum((line.amount for line in lines), Decimal("0"))
    return [lines[0].model_copy(update={"amount": total, "memo": f"{what} (net)"})]


def money_lines(doc: dict, where: str, *, sign: Decimal, account: str, shipping_account: str | None,
                tax_account: str | None, discount_account: str | None, operation: str) -> list[dict]:
    """The money of an order, invoice or credit memo as line fields (account_no, amount, memo,
    sku): one per billable item, then shipping, tax and discount; ``sign`` -1 for credits.
    AP bills and AR invoices build their own line models from these."""
    lines = []
    for n, item in enumerate(billable_items(doc, where), start=1):
        at = f"{where} line {n}"
        sku = text(item, "sku", at, max_len=64)
        qty = amount(item, "qty_ordered" if "qty_ordered" in item else "qty", at, required=True)
        price = amount(item, "price", at)
        row = amount(item, "row_total", at) if item.get("row_total") is not None else qty * price
        if row:
            lines.append(dict(account_no=account, amount=cents(sign * row), sku=sku,
                              memo=f"{sku} x {qty.normalize():f} @ {cents(price)}"[:400]))
    if not lines:
        raise bad(f"{where} has no billable lines", "empty", operation)
    for key, account_no, memo in (("shipping_amount", shipping_account, "shipping"), ("tax_amount", tax_account, "tax")):
        value = amount(doc, key, where)
        if value:
            lines.append(dict(account_no=account_no or account, amount=cents(sign * value), memo=memo, sku=None))
    discount = amount(doc, "discount_amount", where)
    if discount:  # Magento stores it negative; some versions positive: a discount lowers the total
        lines.append(dict(account_no=discount_account or account, amount=cents(sign * -abs(discount)),
                          memo="discount", sku=None))
    return lines
