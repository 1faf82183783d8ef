"""Prefect tasks of the QBO master-data sync: vendors and items, the plan of mappings/qbo_master.py
carried out against QBO and recorded in the ledger (integration ``qbo-master``); the run is the
engine's over pipelines/qbo_master.py.

Ledger rows:

* a *link* per partner's vendor (doc type ``vendor``, key = partner id) and per item (``item``,
  key = our item id): posted, ``target_id`` = the QBO Id, ``posted_at`` = when we last wrote or
  confirmed that object (the sync time the conflict rule compares QBO's LastUpdatedTime with).
  Creating a vendor or an item is a ledger write like any other: intent, the create with the
  row's idempotency key as ``requestid``, outcome; a name clash (6240) after a lost answer is
  resolved by reading the object back by name and adopting it;
* a *conflict* per partner or item whose link or fields disagree (doc type ``conflict``,
  partner = ``vendor``/``item``): failed with class ``conflict`` and the reason while open;
  skipped with class ``resolved`` once the next sync finds both sides aligned.

:func:`effective_mapping` is the tenant mapping with the recorded links laid under the file's
(``QboMapping.with_links``): what the SPS <-> QBO tasks map with.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import BadDocument, RejectedError
from ..connectors.qbo import QboClient, StaleObject
from ..connectors.qbo.client import MAX_BATCH, quote_literal
from ..connectors.qbo.models import Item, Vendor
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.schema import FAILED, POSTED, POSTING, QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Claimed, Incoming, Ledger, Outcome
from ..mappings.qbo_master import Action, Link, partners_without_vendor, plan_items, plan_vendors, vendor_name
from ..mappings.tenant import TenantMapping
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.qbo_master")

MASTER = "qbo-master"
CONFLICT = "conflict"
_ANY_ACTIVE = "Active IN (true, false)"  # list entities hide inactive rows otherwise (§B.5)


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite keeps UTC without the zone


def read_links(ledger: Ledger) -> tuple[dict[str, Link], dict[str, Link]]:
    """The vendor links (by partner) and item links (by our item id) the sync recorded."""
    vendors, items = {}, {}
    for row in ledger.documents(MASTER, status=POSTED):
        if row.doc_type in ("vendor", "item") and row.target_id:
            (vendors if row.doc_type == "vendor" else items)[row.natural_key] = Link(row.target_id,
                                                                                    _aware(row.posted_at))
    return vendors, items


def effective_mapping(res: Tenant) -> TenantMapping:
    """The tenant mapping with the sync's vendor and item links filled in under the file's."""
    mapping = res.mapping
    if mapping.qbo is None:
        return mapping
    vendors, items = read_links(res.ledger)
    if not vendors and not items:
        return mapping
    links = {k: v.qbo_id for k, v in vendors.items()}, {k: v.qbo_id for k, v in items.items()}
    return mapping.model_copy(update={"qbo": mapping.qbo.with_links(*links)})


# -- reading QBO -------------------------------------------------------------------------

def read_vendors(client: QboClient, names: list[str] | None = None) -> list[Vendor]:
    """Every vendor, active or not (or those whose DisplayName is in ``names``, 100 per query)."""
    if names is None:
        return list(client.iter_query("Vendor", _ANY_ACTIVE))  # type: ignore[arg-type]
    out: list = []
    unique = sorted(set(names))
    for start in range(0, len(unique), 100):
        chunk = ", ".join(quote_literal(n) for n in unique[start:start + 100])
        out += client.iter_query("Vendor", f"DisplayName IN ({chunk}) AND {_ANY_ACTIVE}")
    return out


def read_items(client: QboClient) -> list[Item]:
    return list(client.iter_query("Item", _ANY_ACTIVE))  # type: ignore[arg-type]


# -- carrying out the plan -----------------------------------------------------------------

def _partner(action: Action) -> str:
    return action.key if action.kind == "vendor" else ""


def _write(client: QboClient, prepared: list[Prepared[Action]]) -> list[WriteResult]:
    """Links are confirmed as they are; creates go to QBO with the row's requestid."""
    out = []
    for p in prepared:
        a = p.payload
        if a.op != "create":
            out.append(WriteResult(ok=True, target_id=a.qbo_id))
            continue
        entity = "Vendor" if a.kind == "vendor" else "Item"
        try:
            out.append(WriteResult(ok=True, target_id=client.create(entity, a.body,
                                                                    request_id=p.claimed.idempotency_key).id))
        except RejectedError as exc:
            out.append(_adopt_after_clash(client, a, exc))
    return out


def _adopt_after_clash(client: QboClient, a: Action, exc: RejectedError) -> WriteResult:
    """6240: the name exists already (our own create whose answer was lost under another
    requestid, or someone was faster): read it back by name and adopt it when it is active."""
    if getattr(exc, "code", None) != "6240":
        return WriteResult(ok=False, error=exc)
    entity, field = ("Vendor", "DisplayName") if a.kind == "vendor" else ("Item", "Name")
    name = a.body[field]
    found = [o for o in client.iter_query(entity, f"{field} = {quote_literal(name)} AND {_ANY_ACTIVE}")]
    live = [o for o in found if getattr(o, "active", True) is not False]
    if not live:
        return WriteResult(ok=False, error=exc)
    log.info("%s %r exists in QBO already (Id %s): adopted for %s", entity, name, live[0].id, a.key)
    return WriteResult(ok=True, target_id=live[0].id)


def _record_links(res: Tenant, actions: list[Action], run_id: str) -> dict[str, int]:
    """Ledger rows for links not recorded yet, and creates, posted through the common write path."""
    ledger = res.ledger
    rows = {(r.doc_type, r.natural_key): r for r in ledger.documents(MASTER) if r.doc_type in ("vendor", "item")}
    todo: dict[tuple[str, str], Action] = {}
    moved = []
    for a in actions:
        if a.op not in ("ok", "link", "create"):
            continue
        row = rows.get((a.kind, a.key))
        if row is not None and row.status == POSTED:
            if a.op != "create" and row.target_id != a.qbo_id:  # the file now names another object
                moved.append(Outcome(row.id, POSTED, target_id=a.qbo_id))
            continue  # recorded: its sync time stays the time of our last write
        if row is None or row.status != POSTING:  # POSTING: a live run holds it (settled if it died)
            todo[(a.kind, a.key)] = a
    if moved:
        ledger.record_outcomes(MASTER, moved, run_id)
    if not todo:
        return {}
    new = [Incoming(doc_type=a.kind, partner=_partner(a), natural_key=a.key, source_ref=f"{a.kind}:{a.key}",
                    raw_payload=a.payload()) for k, a in todo.items() if k not in rows]
    ids = ledger.ingest(MASTER, new, run_id).new_ids if new else []
    retry = [rows[k].id for k in todo if k in rows and rows[k].status in (FAILED, QUARANTINED, SKIPPED)]
    if retry:  # an earlier create failed: a new idempotency generation, as for any replay
        ledger.requeue(MASTER, retry, run_id, reason="master-data sync")
    ids += retry + [rows[k].id for k in todo if k in rows and rows[k].status == RECEIVED]
    return post_links.fn(res.name, sorted(ids), run_id, {(a.kind, _partner(a), a.key): a for a in todo.values()})


# Never cached: it writes QBO and the ledger.
@task(cache_policy=NO_CACHE, **retry_options())
def post_links(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Record the links and carry out the creates ``ids`` of a sync's plan (``payloads``: its
    action by (kind, partner, key)), through the common write path. A row the plan does not
    name is quarantined; the next sync plans it and tries again."""
    res = tenant_resources(tenant)
    plan = payloads or {}

    def build(c: Claimed) -> Action:
        action = plan.get((c.doc_type, c.partner, c.natural_key))
        if action is None:
            raise BadDocument(f"no planned action for {c.doc_type} {c.natural_key}: the next qbo-master-data run "
                              "plans it", system="qbo", operation="master-data", code="unplanned")
        return action

    return post_documents(res.ledger, MASTER, ids, run_id, build=build, write=lambda p: _write(res.qbo(), p),
                          batch_size=MAX_BATCH)


def _apply_updates(res: Tenant, client: QboClient, actions: list[Action], run_id: str) -> int:
    """Sparse updates of fields the file masters; each moves the link's sync time."""
    ledger, done = res.ledger, 0
    rows = {(r.doc_type, r.natural_key): r for r in ledger.documents(MASTER, status=POSTED)}
    for a in actions:
        if a.op != "update" or (a.kind, a.key) not in rows:
            continue
        row = rows[(a.kind, a.key)]
        rid = f"{row.idempotency_key}-u{a.body.get('SyncToken')}"[:50]  # one id per object version
        try:
            client.update("Item" if a.kind == "item" else "Vendor", a.body, request_id=rid)
        except StaleObject:  # edited while we looked: the next sync sees the newer edit and decides
            log.info("%s %s changed in QBO during the sync; left for the next run", a.kind, a.key)
            continue
        ledger.record_outcomes(MASTER, [Outcome(row.id, POSTED, target_id=a.qbo_id)], run_id)
        done += 1
    return done


def _record_conflicts(ledger: Ledger, actions: list[Action], run_id: str, scope: set[tuple[str, str]]) -> dict:
    """Open (or update) a conflict row per conflicting partner/item; close those now aligned.
    ``scope``: the (kind, key) pairs this sync looked at; others' conflicts are left alone."""
    open_now = {(a.kind, a.key): a for a in actions if a.op == "conflict"}
    rows = {(r.partner, r.natural_key): r for r in ledger.documents(MASTER, doc_type=CONFLICT)}
    new = [Incoming(doc_type=CONFLICT, partner=a.kind, natural_key=a.key, source_ref=f"{a.kind}:{a.key}",
                    raw_payload=a.payload()) for k, a in open_now.items() if k not in rows]
    fresh = ledger.ingest(MASTER, new, run_id).new_ids if new else []
    # by position: ingest returns the new rows' ids in the order of ``new``
    by_id = {i: a for i, a in zip(fresh, [open_now[(n.partner, n.natural_key)] for n in new], strict=False)}
    outcomes = [Outcome(i, FAILED, error_class="conflict", error=a.reason) for i, a in by_id.items()]
    for key, row in rows.items():
        a = open_now.get(key)
        if a is not None and (row.status != FAILED or row.last_error != a.reason):
            outcomes.append(Outcome(row.id, FAILED, error_class="conflict", error=a.reason))
        elif a is None and key in scope and row.status in (FAILED, RECEIVED):  # RECEIVED: a retried run replayed it
            outcomes.append(Outcome(row.id, SKIPPED, error_class="resolved", error="resolved: both sides agree now"))
    if outcomes:
        ledger.record_outcomes(MASTER, outcomes, run_id)
    return {"conflicts_open": len(open_now), "conflicts_resolved": sum(1 for o in outcomes if o.status == SKIPPED)}


def run_sync(res: Tenant, client: QboClient, run_id: str, *, vendors_only_missing: bool = False) -> dict:
    """Plan and carry out the sync for one tenant; returns counts for the run report."""
    mapping = res.mapping
    if mapping.qbo is None:
        return {}
    vendor_links, item_links = read_links(res.ledger)
    if vendors_only_missing:
        missing = partners_without_vendor(mapping, vendor_links)
        if not missing:
            return {}
        vendors = read_vendors(client, [vendor_name(pid, mapping) for pid in missing])
        actions = plan_vendors(mapping, vendor_links, vendors, only=missing)
        scope = {("vendor", pid) for pid in missing}
    else:
        actions = plan_vendors(mapping, vendor_links, read_vendors(client))
        actions += plan_items(mapping, item_links, read_items(client))
        scope = {(a.kind, a.key) for a in actions}
    counts = _record_links(res, actions, run_id)
    updated = _apply_updates(res, client, actions, run_id)
    conflicts = _record_conflicts(res.ledger, actions, run_id, scope)
    return {"created": sum(1 for a in actions if a.op == "create"),
            "adopted": sum(1 for a in actions if a.op == "link"),
            "updated_in_qbo": updated, **conflicts, **{f"links_{k}": v for k, v in counts.items() if v}}


@task(cache_policy=NO_CACHE, **retry_options())
def sync_master_data(tenant: str, run_id: str, vendors_only_missing: bool = False) -> dict:
    """Vendors and items between the tenant file and QBO (see mappings/qbo_master.py). With
    ``vendors_only_missing``, only onboard partners that have no QBO vendor yet (no request
    at all when every partner has one): the inbound pipeline does that before reading orders."""
    res = tenant_resources(tenant)
    return run_sync(res, res.qbo(), run_id, vendors_only_missing=vendors_only_missing)


__all__ = ["CONFLICT", "MASTER", "effective_mapping", "post_links", "read_links", "run_sync", "sync_master_data"]
