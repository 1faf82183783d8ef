"""Order to cash: a change or cancellation of an order whose AR invoice posted. A cancellation
reverses the invoice (legacy ``reverse_invoice``, dated today, never before the invoice); a
change that maps to the invoice Intacct holds is posted without a write; any other change, and
a cancellation of a paid invoice, needs a person (the rules: mappings/commerce_o2c_plan.py; the
facts and sources: docs/revisions-commerce.md).

The reversal runs under its revision's idempotency key as controlid (``uniqueid=true``): a retry
of one that completed comes back as ``DuplicateWrite`` and counts as done. A dead run's reversal
is recognised by the state it leaves (the invoice reversed).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from ..connectors.errors import BadDocument, DuplicateWrite
from ..connectors.intacct.functions_ar import reverse_invoice_function
from ..engine.posting import Prepared, WriteResult
from ..ledger.revisions import APPLIED, CANCEL, CREATE
from ..ledger.store import Claimed
from ..mappings.commerce_o2c_plan import Links, Planned, Reversal, Unchanged, invoice_revision, plan, reversal_blocker
from ..mappings.commerce_o2c_rows import INTEGRATION
from ..mappings.commerce_tenant import CommerceSettings
from ..mappings.intacct_bill_revisions import NeedsPerson
from ..runtime.tenant import Tenant

CANCEL_NOTE = "order cancelled in Adobe Commerce"
_FIELDS = ("RECORDNO", "RECORDID", "STATE", "TOTALPAID", "WHENCREATED")


def is_revision(c: Claimed) -> bool:
    """Whether the claimed document is a change or cancellation of a posted AR invoice."""
    return c.doc_type == "order" and c.effect != CREATE and c.target_id is not None


def applied_plan(res: Tenant, c: Claimed, links: Links, commerce: CommerceSettings) -> Planned | None:
    """The write of the content Intacct holds (the order's last applied revision), planned like the
    new one (same controlid) so the two compare; None when unknown."""
    applied = [r for r in res.ledger.revisions_of(c.id) if r.state == APPLIED and r.raw_payload]
    if not applied:
        return None
    try:
        return plan(replace(c, raw_payload=applied[-1].raw_payload), links, commerce)
    except BadDocument:
        return None


def revision(res: Tenant, c: Claimed, links: Links, commerce: CommerceSettings) -> Unchanged | Reversal:
    """What the claimed change or cancellation ``c`` writes (NeedsPerson where only a person can)."""
    new = None if c.effect == CANCEL else plan(c, links, commerce)
    return invoice_revision(c.effect, c.target_ref or "?", new, applied_plan(res, c, links, commerce))


def invoice_states(res: Tenant, recordnos: list[str]) -> dict[str, dict]:
    """RECORDNO -> the AR invoice's state as a reversal needs it; invoices that do not exist are absent."""
    from .commerce_o2c_post import query  # the Intacct read helper of this integration

    found: dict[str, dict] = {}
    for start in range(0, len(recordnos), 100):
        for record in query(res.intacct(), "ARINVOICE", _FIELDS, ("in", "RECORDNO", recordnos[start:start + 100]), None):
            found[record["RECORDNO"]] = record
    return found


def write_revisions(res: Tenant, items: list[tuple[int, Prepared]]) -> dict[int, WriteResult]:
    """Write one batch's revisions (``items``: position, prepared ``Unchanged`` or ``Reversal``)."""
    out: dict[int, WriteResult] = {}
    reversals = [(n, p) for n, p in items if isinstance(p.payload, Reversal)]
    for n, p in items:
        if isinstance(p.payload, Unchanged):
            out[n] = WriteResult(ok=True, target_id=p.claimed.target_id)
    states = invoice_states(res, [p.claimed.target_id for _, p in reversals if p.claimed.target_id])
    by_entity: dict[str | None, list[tuple[int, Prepared]]] = {}
    for n, p in reversals:
        state = states.get(p.claimed.target_id or "")
        if state is None or (state.get("STATE") or "").lower() == "reversed":
            out[n] = WriteResult(ok=True, target_id=p.claimed.target_id)  # nothing left, or a lost reversal landed
            continue
        blocker = reversal_blocker(state, p.payload.invoice_no)
        if blocker:
            out[n] = WriteResult(ok=False, error=NeedsPerson(blocker, system="intacct", operation=INTEGRATION,
                                                             code="invoice-paid"))
            continue
        by_entity.setdefault(p.payload.entity, []).append((n, p))
    client = res.intacct()
    for entity, members in by_entity.items():
        calls = [reverse_invoice_function(p.claimed.idempotency_key, p.claimed.target_id or "",
                                          _reversal_day(states[p.claimed.target_id or ""]), CANCEL_NOTE)
                 for _, p in members]
        answers = client.post_functions(calls, entity=entity, operation=f"{INTEGRATION}-reverse")
        for (n, p), r in zip(members, answers, strict=True):
            done = r.ok or isinstance(r.error, DuplicateWrite)
            out[n] = WriteResult(ok=True, target_id=p.claimed.target_id) if done else WriteResult(ok=False, error=r.error)
    return out


def _reversal_day(state: dict, today: date | None = None) -> date:
    """A reversal is dated today, never before the invoice's own date."""
    today = today or date.today()
    try:
        return max(today, datetime.strptime(state.get("WHENCREATED") or "", "%m/%d/%Y").date())
    except ValueError:
        return today


def find_revisions(res: Tenant, stale: list[Claimed]) -> dict[int, bool]:
    """Whether each revision a dead run left in flight took effect: a cancellation when the
    invoice is reversed or gone; a change never writes (it is unchanged or needs a person), so it
    is decided again (False)."""
    revisions = [c for c in stale if is_revision(c)]
    cancels = [c for c in revisions if c.effect == CANCEL]
    states = invoice_states(res, [c.target_id for c in cancels if c.target_id]) if cancels else {}
    landed = {c.id: False for c in revisions}
    for c in cancels:
        state = states.get(c.target_id or "")
        landed[c.id] = state is None or (state.get("STATE") or "").lower() == "reversed"
    return landed
