"""Writing AP bill revisions to Intacct: creates, updates, deletes and reversals of one batch,
closed periods per the tenant's ``posting_date``, and what a dead run's writes left.

Every function runs under its revision's idempotency key as the function controlid, with
``uniqueid=true``: a retry of a write that had completed comes back as ``DuplicateWrite``. The
rules of what a revision may do are pure (mappings/intacct_bill_revisions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from ..connectors.errors import DuplicateWrite, RejectedError
from ..connectors.intacct.models import ApBill, FunctionResult
from ..engine.posting import Prepared, WriteResult
from ..ledger.store import Claimed
from ..mappings import intacct_bill_revisions as rv
from ..mappings.intacct_bill_revisions import BillWrite
from ..mappings.sps_rows import remap_write, sink_effect
from ..runtime.tenant import Tenant

_DUPLICATE = WriteResult(ok=True, target_id=None)  # done before under this key; a create is looked up



def settled_without_writing(effect: str, recordno: str | None, state: dict | None, vendor_id: str,
                            record_id: str) -> WriteResult | None:
    """What a change or cancel of bill ``record_id`` (Intacct's ``state`` of it, read just before)
    comes to without a write: nothing left to cancel, or a cancel a lost answer hid that landed
    -> done; the bill paid, reversed or gone -> a person must act. None: write it. Shared by
    every integration that revises Intacct AP bills (SPS -> Intacct, Commerce payables)."""
    if effect == "cancel" and (recordno is None or rv.is_cancelled(state)):
        return WriteResult(ok=True, target_id=recordno)
    blocker = rv.revision_blocker(state, vendor_id, record_id, effect) if state else (
        f"bill {record_id} of vendor {vendor_id} (RECORDNO {recordno}) is no longer in Intacct: create it there by "
        "hand, then replay")
    if blocker:
        return WriteResult(ok=False, error=rv.NeedsPerson(blocker, system="intacct", operation="revise_bills",
                                                          code="bill-blocked"))
    return None


def write_bills(res: Tenant, prepared: list[Prepared[BillWrite]], today: date | None = None) -> list[WriteResult]:
    """Write one batch of bill revisions: creates in one envelope; changes and cancels of the
    bills Intacct holds after one look at their state (a paid or reversed bill needs a person);
    a bill dated in a closed period follows the tenant's ``posting_date`` policy."""
    client = res.intacct()
    today = today or date.today()
    out: list[WriteResult | None] = [None] * len(prepared)
    changes = [p.claimed.target_id for p in prepared
               if p.payload.effect != "create" and p.payload.kind != rv.SALES_ORDER and p.claimed.target_id]
    states = client.bill_states(changes) if changes else {}
    creates: list[int] = []
    updates: list[int] = []
    cancels: list[int] = []
    sales_orders: list[int] = []
    for n, p in enumerate(prepared):
        w, recordno = p.payload, p.claimed.target_id
        if w.kind == rv.SALES_ORDER:
            if w.effect == "create":
                sales_orders.append(n)
            else:
                out[n] = WriteResult(ok=False, error=rv.NeedsPerson(rv.sales_order_revision(w), system="intacct",
                                                                    operation="revise_sotransactions",
                                                                    code="so-revision"))
            continue
        if w.effect == "create":
            creates.append(n)
            continue
        state = states.get(recordno or "")
        settled = settled_without_writing(w.effect, recordno, state, w.vendor_id, w.record_id)
        if settled is not None:
            out[n] = settled
            continue
        (cancels if w.effect == "cancel" else updates).append(n)
    policy = res.mapping.posting_date
    _settle(out, creates, _in_open_period(prepared, creates, policy, today, lambda items: client.create_bills(
        [(prepared[n].claimed.idempotency_key, bill) for n, bill in items])))
    _settle(out, updates, _in_open_period(prepared, updates, policy, today, lambda items: client.update_bills(
        [(prepared[n].claimed.idempotency_key, prepared[n].claimed.target_id or "", bill) for n, bill in items])))
    if cancels:
        if res.mapping.bill_cancel == "reverse":
            results = client.reverse_bills(
                [(prepared[n].claimed.idempotency_key, prepared[n].claimed.target_id or "",
                  _reversal_day(states[prepared[n].claimed.target_id or ""], today)) for n in cancels],
                description="cancelled by the trading partner (SPS)")
        else:
            results = client.delete_bills([(prepared[n].claimed.idempotency_key, prepared[n].claimed.target_id or "")
                                           for n in cancels])
        _settle(out, cancels, dict(zip(cancels, results, strict=True)))
    _created_before(client, prepared, out, creates)
    if sales_orders:
        _write_sales_orders(client, prepared, out, sales_orders)
    return out  # type: ignore[return-value]


def _write_sales_orders(client, prepared: list[Prepared[BillWrite]], out: list, indexes: list[int]) -> None:
    """Create the sales orders of orders routed to Order Entry; their DOCID is the target id. A
    create Intacct reports as done under its key is looked up by DOCID."""
    results = client.create_sotransactions([(prepared[n].claimed.idempotency_key, prepared[n].payload.so)
                                            for n in indexes])
    _settle(out, indexes, dict(zip(indexes, results, strict=True)))
    replayed = {prepared[n].payload.record_id: n for n in indexes if out[n] is _DUPLICATE}
    found = client.find_sotransactions(list(replayed)) if replayed else {}
    for doc_id, n in replayed.items():
        out[n] = WriteResult(ok=True, target_id=doc_id) if doc_id in found else WriteResult(ok=False, error=RejectedError(
            f"Intacct reports sales order {doc_id} as already created but it cannot be found",
            system="intacct", operation="create_sotransactions"))


def _settle(out: list, indexes: list[int], results: dict) -> None:
    """Each function's answer as its document's result. A function Intacct reports as already
    done under this key (a retry after a lost response) did its change: an update or cancel is
    done, a create is looked up by :func:`_created_before`."""
    for n in indexes:
        r = results[n]
        if isinstance(r, WriteResult):
            out[n] = r
        elif r.ok:
            out[n] = WriteResult(ok=True, target_id=r.key)
        elif isinstance(r.error, DuplicateWrite):
            out[n] = _DUPLICATE
        else:
            out[n] = WriteResult(ok=False, error=r.error)


def _created_before(client, prepared: list[Prepared[BillWrite]], out: list, creates: list[int]) -> None:
    replayed = {(prepared[n].payload.vendor_id, prepared[n].payload.record_id): n for n in creates
                if out[n] is _DUPLICATE}
    found = find_bills(client, list(replayed))
    for ref, n in replayed.items():
        out[n] = WriteResult(ok=True, target_id=found[ref]) if ref in found else WriteResult(ok=False, error=RejectedError(
            f"Intacct reports bill {ref[1]} of vendor {ref[0]} as already created but it cannot be found",
            system="intacct", operation="create_bills"))


def _in_open_period(prepared: list[Prepared[BillWrite]], indexes: list[int], policy: str, today: date,
                    send: Callable[[list[tuple[int, ApBill]]], list[FunctionResult]]) -> dict:
    """Send the bills ``indexes``; one Intacct refuses for a closed period fails naming the
    period (``keep``), or is sent again posted (WHENPOSTED) on the first day of the next month
    until a period takes it (``first_open_period``; same key: the refused function did not
    complete, so Intacct runs it)."""
    results: dict[int, FunctionResult | WriteResult] = {}
    pending: list[tuple[int, ApBill]] = [(n, prepared[n].payload.bill) for n in indexes]  # type: ignore[misc]
    while pending:
        again = []
        for (n, bill), r in zip(pending, send(pending), strict=True):
            closed = None if r.ok else rv.closed_period_date(str(r.error))
            if closed is None:
                results[n] = r
                continue
            candidate = rv.next_period_start(closed)
            if policy == "first_open_period" and rv.may_move_to(candidate, bill.when_created, today) and (
                    bill.when_posted is None or candidate > bill.when_posted):
                again.append((n, bill.model_copy(update={"when_posted": candidate})))
                continue
            reason = rv.closed_period_reason(f"{bill.record_id} of vendor {bill.vendor_id}", closed, policy,
                                             bill.when_posted)
            results[n] = WriteResult(ok=False, error=RejectedError(reason, system="intacct", operation="post_bills",
                                                                   code="period-closed"))
        pending = again
    return results


def _reversal_day(state: dict, today: date) -> date:
    """A reversal is dated today, never before the bill's own GL date."""
    posted = state.get("WHENPOSTED") or state.get("WHENCREATED") or ""
    try:
        return max(today, datetime.strptime(posted, "%m/%d/%Y").date())
    except ValueError:
        return today


def find_bills(client, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """RECORDNO of existing bills by (vendor, bill number), one query per vendor."""
    by_vendor: dict[str, list[str]] = {}
    for vendor, record_id in refs:
        by_vendor.setdefault(vendor, []).append(record_id)
    found = {}
    for vendor, record_ids in by_vendor.items():
        for record_id, recno in client.find_bills(record_ids, vendor_id=vendor).items():
            found[(vendor, record_id)] = recno
    return found


def find_sales_orders(client, stale: list[Claimed]) -> dict[int, str]:
    """The DOCID of each sales order a dead run's create left in Intacct, by claimed id."""
    refs = {c.id: doc_id for c in stale if sink_effect(c) == "create"
            and (doc_id := rv.parse_sales_order_ref(c.target_ref)) is not None}
    found = client.find_sotransactions(list(set(refs.values()))) if refs else {}
    return {cid: doc_id for cid, doc_id in refs.items() if doc_id in found}


def find_revisions(client, stale: list[Claimed], mapping) -> dict[int, bool]:
    """Whether each change or cancel a dead run left in flight reached Intacct, by the state it
    leaves: the updated bill holds the revision's lines and total; a cancelled bill is gone or
    reversed. (An update or delete leaves nothing a later read could match by its key.)"""
    changes = [c for c in stale if sink_effect(c) != "create" and c.target_id
               and rv.parse_sales_order_ref(c.target_ref) is None]
    if not changes:
        return {}
    states = client.bill_states([c.target_id for c in changes])
    to_read = [c.target_id for c in changes if sink_effect(c) != "cancel" and c.target_id in states]
    held = {r["RECORDNO"]: r for r in client.read_full("APBILL", to_read)} if to_read else {}
    landed: dict[int, bool] = {}
    for c in changes:
        if sink_effect(c) == "cancel":
            landed[c.id] = rv.is_cancelled(states.get(c.target_id or ""))
            continue
        record = held.get(c.target_id or "")
        bill = remap_write(c.raw_payload, c.source_ref, mapping).bill
        landed[c.id] = record is not None and bill is not None and rv.holds(record, bill)
    return landed
