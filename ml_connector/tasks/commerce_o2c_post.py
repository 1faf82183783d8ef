"""Order to cash: posting ledger documents to Intacct, in dependency order, per entity.

:func:`post_o2c` is the one posting task (the pipeline's ``post``, also what replay calls):
it takes any mix of document ids and posts them type by type (items, customers, AR invoices,
payments, shipments, credit memos). Per type: documents that must wait for another (a payment
for its AR invoice) stay received with the reason; the rest are claimed (intent), mapped, sent
``envelope_size`` functions per request in the session of their entity (independent functions,
``uniqueid=true``, controlid = the document's idempotency key), and their outcomes recorded.

A function Intacct reports as already done (the response of a committed write was lost) is
settled by looking the record up (AR invoice by number, payment by reference and customer,
adjustment by number, inventory transaction by DOCID, item and customer by id); items and
customers that already exist in Intacct are linked, not created again.

A change or cancellation of an order whose AR invoice posted (the ledger's revision effect) is
written by tasks/commerce_o2c_revisions.py: the invoice reversed, or left as it is when the new
content maps to it, or the revision left to a person with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prefect import task

from ..connectors.errors import BadDocument, DuplicateWrite, IntegrationError, RejectedError
from ..connectors.intacct import codec
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Ledger, Outcome
from ..mappings.commerce_o2c_plan import LINKED, Links, Lookup, Planned, Reversal, Unchanged, blocker, plan
from ..mappings.commerce_o2c_rows import INTEGRATION, POST_ORDER, dumps, entity_row, loads
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .commerce_o2c_revisions import find_revisions, is_revision, revision, write_revisions
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.commerce_o2c_post")

ENVELOPE = 100  # functions per Intacct request; the flow's envelope_size overrides it
WAITING = "waiting"  # error_class of a document waiting for another one (not a failure)


# -- looking records up ----------------------------------------------------------------------


def query(client, object_name: str, fields: Sequence[str], condition: tuple, entity: str | None) -> list[dict]:
    """One ``query`` page (2000 records) in ``entity``'s session; raises the read's error."""
    function = codec.query_function(object_name, list(fields), condition, [("RECORDNO", "ascending")],
                                    pagesize=2000, show_private=True)
    [result] = client.execute([function], uniqueid=False, entity=entity)
    if result.error is not None:
        raise result.error
    return result.records


def _condition(where: tuple[tuple[str, str], ...]) -> tuple:
    parts = [("equalto", f, v) for f, v in where]
    return parts[0] if len(parts) == 1 else ("and", *parts)


def load_links(ledger: Ledger) -> Links:
    """What the ledger knows across documents, read once per posting call."""
    return Links.of(r for doc_type in LINKED for r in ledger.documents(INTEGRATION, doc_type=doc_type))


def find_record(client, lookup: Lookup, entity: str | None) -> str | None:
    """The key of the record ``lookup`` describes, or None (the oldest wins if several)."""
    fields = sorted({"RECORDNO", lookup.key_field, *(f for f, _ in lookup.where)})
    records = query(client, lookup.object_name, fields, _condition(lookup.where), entity)
    return records[0].get(lookup.key_field) if records else None


def existing_ids(client, object_name: str, field: str, values: list[str]) -> set[str]:
    """Which of ``values`` already exist as ``object_name`` ids (items, customers)."""
    found: set[str] = set()
    for start in range(0, len(values), 1000):
        chunk = values[start:start + 1000]
        found |= {r[field] for r in query(client, object_name, ("RECORDNO", field), ("in", field, chunk), None)}
    return found


# -- writing ---------------------------------------------------------------------------------


def write(res: Tenant, prepared: list[Prepared], envelope: int) -> list[WriteResult]:
    """Post one batch: link master data that exists, then one request stream per entity."""
    client = res.intacct()
    revisions = [(n, p) for n, p in enumerate(prepared) if isinstance(p.payload, (Unchanged, Reversal))]
    out: dict[int, WriteResult] = write_revisions(res, revisions) if revisions else {}
    creates = [p if not isinstance(p.payload, (Unchanged, Reversal)) else None for p in prepared]
    todo = _link_existing(client, creates, out)
    by_entity: dict[str | None, list[int]] = {}
    for n in todo:
        by_entity.setdefault(prepared[n].payload.entity, []).append(n)
    saved = client.max_functions
    client.max_functions = envelope
    try:
        for entity, ns in by_entity.items():
            results = client.post_functions([prepared[n].payload.function for n in ns], entity=entity,
                                            operation=f"{INTEGRATION}-write")
            for n, r in zip(ns, results, strict=True):
                out[n] = _result(client, prepared[n].payload, r)
    finally:
        client.max_functions = saved
    return [out[n] for n in range(len(prepared))]


def _link_existing(client, prepared: list, out: dict[int, WriteResult]) -> list[int]:
    """Items and customers Intacct already has are linked (their id is the target id); the
    creates to write are the rest (``prepared``: None where a revision was written already)."""
    todo = [n for n, p in enumerate(prepared) if p is not None]
    for doc_type, object_name, field in (("item", "ITEM", "ITEMID"), ("customer", "CUSTOMER", "CUSTOMERID")):
        ns = [n for n in todo if prepared[n].payload.doc_type == doc_type]
        if not ns:
            continue
        ids = {n: prepared[n].payload.lookup.where[0][1] for n in ns}
        there = existing_ids(client, object_name, field, sorted(set(ids.values())))
        for n in ns:
            if ids[n] in there:
                out[n] = WriteResult(ok=True, target_id=ids[n])
        todo = [n for n in todo if n not in out]
    return todo


def _result(client, planned: Planned, r) -> WriteResult:
    if r.ok:  # master data is known by its id (generic creates answer the RECORDNO)
        own_id = planned.doc_type in ("item", "customer") or not r.key
        return WriteResult(ok=True, target_id=planned.lookup.where[0][1] if own_id else r.key)
    if not isinstance(r.error, DuplicateWrite):
        return WriteResult(ok=False, error=r.error)
    found = find_record(client, planned.lookup, planned.entity)  # committed, answer lost: find it
    if found:
        return WriteResult(ok=True, target_id=found)
    return WriteResult(ok=False, error=RejectedError(
        f"Intacct reports this {planned.doc_type} as already written but no {planned.lookup.object_name} "
        f"matches {dict(planned.lookup.where)}", system="intacct", operation=INTEGRATION))


# -- the posting task ------------------------------------------------------------------------


def _hold(res: Tenant, rows: list, links: Links, run_id: str) -> list[int]:
    """Record why documents must wait; return the ids that may post now."""
    commerce, ready, waiting = res.commerce("o2c"), [], []
    for row in rows:
        try:
            reason = blocker(row.doc_type, loads(row.raw_payload), links, commerce)
        except BadDocument:
            reason = None  # mapping it quarantines it with the reason
        if reason:
            waiting.append(Outcome(row.id, RECEIVED, error_class=WAITING, error=reason))
        else:
            ready.append(row.id)
    if waiting:
        res.ledger.record_outcomes(INTEGRATION, waiting, run_id)
    return ready


def post_type(res: Tenant, doc_type: str, ids: list[int], run_id: str, envelope: int) -> dict[str, int]:
    """Post the received documents of one type among ``ids``; counts by outcome (+ waiting)."""
    rows = [r for r in res.ledger.documents(INTEGRATION, ids=ids, doc_type=doc_type) if r.status == RECEIVED]
    if not rows:
        return {}
    links = load_links(res.ledger)
    if doc_type == "order":
        _fetch_missing_customers(res, rows, links, run_id, envelope)
        links = load_links(res.ledger)
    ready = _hold(res, rows, links, run_id)
    commerce = res.commerce("o2c")

    def build(c: Claimed) -> Planned | Unchanged | Reversal:
        return revision(res, c, links, commerce) if is_revision(c) else plan(c, links, commerce)

    counts = post_documents(res.ledger, INTEGRATION, ready, run_id, build=build,
                            write=lambda prepared: write(res, prepared, envelope), batch_size=envelope)
    return {**counts, WAITING: len(rows) - len(ready)}


def _fetch_missing_customers(res: Tenant, rows: list, links: Links, run_id: str, envelope: int) -> None:
    """Orders of customers the ledger has never seen (read before the customer feed reached
    them): the customers are read from Commerce and posted first."""
    missing = set()
    for row in rows:
        try:
            order = loads(row.raw_payload)
        except BadDocument:
            continue
        cid = order.get("customer_id")
        if cid not in (None, "") and not order.get("customer_is_guest") and links.get("customer", cid) is None:
            missing.add(cid)
    if not missing:
        return
    client, commerce, new = res.adobe(), res.commerce("o2c"), []
    for cid in sorted(missing, key=str):
        try:
            doc = loads(dumps(client.get_customer(int(cid))))
        except (IntegrationError, ValueError) as exc:
            log.warning("order customer %s could not be read from Commerce: %s", cid, exc)
            continue
        new.append(entity_row("customer", doc, dumps(doc), commerce))
    ids = res.ledger.ingest(INTEGRATION, [r for r in new if r is not None], run_id).new_ids if new else []
    if ids:
        post_type(res, "customer", ids, run_id, envelope)


@task(**retry_options())
def post_o2c(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None,
             envelope_size: int = ENVELOPE) -> dict[str, int]:
    """Post the documents ``ids`` (any types) in dependency order; counts by outcome. Each
    document is mapped when it posts (``payloads`` is not used), against the links of that
    moment: what it waits for may have posted just before it."""
    res = tenant_resources(tenant)
    totals: dict[str, int] = {}
    for doc_type in POST_ORDER:
        for k, v in post_type(res, doc_type, list(ids), run_id, envelope_size).items():
            totals[k] = totals.get(k, 0) + v
    return totals


@task(**retry_options())
def post_pending(tenant: str, run_id: str, envelope_size: int = ENVELOPE, chunk: int = 2000) -> dict[str, int]:
    """Post every received document, type by type over the whole backlog, so a payment sees the
    AR invoice posted just before it in the same run. Waiting documents are tried once per run."""
    res = tenant_resources(tenant)
    pending, after = [], 0
    while ids := res.ledger.pending_ids(INTEGRATION, limit=10_000, after_id=after):
        pending += ids
        after = ids[-1]
    totals: dict[str, int] = {}
    for doc_type in POST_ORDER:
        for start in range(0, len(pending), chunk):
            for k, v in post_type(res, doc_type, pending[start:start + chunk], run_id, envelope_size).items():
                totals[k] = totals.get(k, 0) + v
    return totals


def find_written(res: Tenant, stale: list[Claimed]) -> list[Outcome]:
    """What the writes of a dead run's intents created, looked up in Intacct by number:
    found -> posted with its key; not found -> received again (the same controlid keeps a
    second post safe)."""
    links, commerce, client = load_links(res.ledger), res.commerce("o2c"), res.intacct()
    revised = find_revisions(res, stale)
    outcomes = []
    for c in stale:
        if c.id in revised:  # a change or cancellation: the state it leaves, not the invoice's number
            outcomes.append(Outcome(c.id, POSTED) if revised[c.id] else Outcome(
                c.id, RECEIVED, error_class="recovered", error="intent without outcome; revision not applied in Intacct"))
            continue
        try:
            planned = plan(c, links, commerce)
            found = find_record(client, planned.lookup, planned.entity)
        except BadDocument:
            found = None
        outcomes.append(Outcome(c.id, POSTED, target_id=found) if found else
                        Outcome(c.id, RECEIVED, error_class="recovered",
                                error="intent without outcome; not found in Intacct"))
    return outcomes
