"""Changes and cancellations of posted Commerce documents in Intacct: AP bills updated, deleted
or reversed, purchase orders and AP adjustments left to a person (the rules are pure, in
mappings/commerce_ap_documents.py; the facts and sources in docs/revisions-commerce.md).

Every function runs under its revision's idempotency key as controlid (``uniqueid=true``): a
retry of a change that had completed comes back as ``DuplicateWrite`` and counts as done. A bill
with a payment applied, or already reversed, is not touched: the revision needs a person, with
the reason naming the bill.
"""

from __future__ import annotations

from datetime import date, datetime

from ..connectors.errors import BadDocument, DuplicateWrite
from ..engine.posting import Prepared, WriteResult
from ..ledger.revisions import APPLIED, CANCEL
from ..ledger.store import Claimed
from ..mappings import intacct_bill_revisions as rv
from ..mappings.commerce_ap_documents import (
    BillChange,
    Planned,
    Unchanged,
    entity_of,
    parse_ref,
    plan,
    read_envelope,
    revision_write,
)
from ..mappings.commerce_tenant import CommerceSettings
from ..runtime.tenant import Tenant
from .intacct_bills import settled_without_writing

CANCEL_NOTE = "cancelled in Adobe Commerce"


def applied_plan(res: Tenant, c: Claimed, commerce: CommerceSettings, vendor_id: str,
                 bill_no: str | None) -> Planned | None:
    """The write of the content Intacct holds (the document's last applied revision), planned
    like the new one (same vendor and controlid) so the two compare; None when unknown."""
    applied = [r for r in res.ledger.revisions_of(c.id) if r.state == APPLIED and r.raw_payload]
    if not applied:
        return None
    try:
        return plan(read_envelope(applied[-1].raw_payload), commerce, vendor_id, c.idempotency_key, bill_no)
    except BadDocument:
        return None


def revision(res: Tenant, c: Claimed, env: dict, commerce: CommerceSettings, new: Planned | None,
             vendor_id: str, bill_no: str | None) -> Unchanged | BillChange:
    """What the claimed change or cancellation ``c`` writes (raises NeedsPerson where Intacct
    cannot take it automatically)."""
    applied = None if c.effect == CANCEL else applied_plan(res, c, commerce, vendor_id, bill_no)
    return revision_write(c.effect, c.target_ref, entity_of(env, commerce), new, applied)


def write_changes(res: Tenant, items: list[tuple[int, Prepared]]) -> dict[int, WriteResult]:
    """Write bill changes and cancellations (``items``: position, prepared ``BillChange``) after
    one look at the bills' state; grouped by entity, one session per entity."""
    client = res.intacct()
    states = client.bill_states([p.claimed.target_id for _, p in items if p.claimed.target_id])
    out: dict[int, WriteResult] = {}
    updates: dict[str, list[int]] = {}
    cancels: dict[str, list[int]] = {}
    by_n = dict(items)
    for n, p in items:
        change: BillChange = p.payload
        recordno = p.claimed.target_id
        state = states.get(recordno or "")
        vendor = (state or {}).get("VENDORID") or (change.bill.vendor_id if change.bill else "?")
        settled = settled_without_writing(change.effect, recordno, state, vendor, change.record_id)
        if settled is not None:
            out[n] = settled
            continue
        (cancels if change.effect == CANCEL else updates).setdefault(change.entity, []).append(n)
    for entity, members in updates.items():
        answers = client.update_bills([(by_n[n].claimed.idempotency_key, by_n[n].claimed.target_id or "",
                                        by_n[n].payload.bill) for n in members], entity=entity or None)
        out.update(_settled(members, answers, by_n))
    for entity, members in cancels.items():
        if res.mapping.bill_cancel == "reverse":
            answers = client.reverse_bills(
                [(by_n[n].claimed.idempotency_key, by_n[n].claimed.target_id or "",
                  _reversal_day(states[by_n[n].claimed.target_id or ""])) for n in members],
                description=CANCEL_NOTE, entity=entity or None)
        else:
            answers = client.delete_bills([(by_n[n].claimed.idempotency_key, by_n[n].claimed.target_id or "")
                                           for n in members], entity=entity or None)
        out.update(_settled(members, answers, by_n))
    return out


def _settled(members: list[int], answers: list, by_n: dict[int, Prepared]) -> dict[int, WriteResult]:
    """Each function's answer; one Intacct reports as already done under its key did the change."""
    out = {}
    for n, r in zip(members, answers, strict=True):
        if r.ok or isinstance(r.error, DuplicateWrite):
            out[n] = WriteResult(ok=True, target_id=by_n[n].claimed.target_id)
        else:
            out[n] = WriteResult(ok=False, error=r.error)
    return out


def _reversal_day(state: dict, today: date | None = None) -> date:
    """A reversal is dated today, never before the bill's own GL date."""
    today = today or date.today()
    posted = state.get("WHENPOSTED") or state.get("WHENCREATED") or ""
    try:
        return max(today, datetime.strptime(posted, "%m/%d/%Y").date())
    except ValueError:
        return today


def find_changes(client, stale: list[Claimed], commerce: CommerceSettings) -> dict[int, bool]:
    """Whether each change or cancellation a dead run left in flight reached Intacct, by the state
    it leaves: a cancelled bill is gone or reversed; a changed bill holds the revision's lines
    and total (an update or delete leaves nothing a later read could match by its key). A
    revision of a purchase order or adjustment was never written (it needs a person): False."""
    changes = [c for c in stale if c.effect != "create"]
    bills = [c for c in changes if c.target_id and (parse_ref(c.target_ref) or ("",))[0] == "APBILL"]
    states = client.bill_states([c.target_id for c in bills]) if bills else {}
    to_read = [c.target_id for c in bills if c.effect != CANCEL and c.target_id in states]
    held = {r["RECORDNO"]: r for r in client.read_full("APBILL", to_read)} if to_read else {}
    landed = {c.id: False for c in changes}
    for c in bills:
        state = states.get(c.target_id or "")
        if c.effect == CANCEL:
            landed[c.id] = rv.is_cancelled(state)
            continue
        record = held.get(c.target_id or "")
        if record is None:
            continue
        try:
            bill = plan(read_envelope(c.raw_payload), commerce, record.get("VENDORID") or "", c.idempotency_key).bill
        except BadDocument:
            continue
        landed[c.id] = bill is not None and rv.holds(record, bill)
    return landed
