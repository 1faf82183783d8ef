"""Posting Commerce documents to Intacct: AP bills, purchase orders (PODOCUMENT) and AP
adjustments, through the shared write path (engine/posting.py: claim, intent, write, outcome).

Per call: the credit memos whose bill is not posted yet wait (left ``received``, posted by a
later pass); the vendors of the rest are matched or created once (tasks/commerce_ap_vendors.py);
then the documents go to Intacct grouped by the entity their store routes to (one session per
entity), at most 100 functions per request envelope, each function's controlid being the
document's idempotency key (``uniqueid=true``, ``transaction=false``: one refused document fails
alone). A function Intacct reports as already done is settled by looking the document up.

A claimed change or cancellation of a posted document (the ledger's revision effect) is written
by tasks/commerce_ap_revisions.py: a bill updated, deleted or reversed; a content that maps to
what Intacct already holds is posted without a write.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task

from ..connectors.errors import BadDocument, DuplicateWrite, RejectedError
from ..connectors.intacct.functions import query_function
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.revisions import CANCEL, CREATE
from ..ledger.schema import FAILED, POSTED, POSTING, QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Claimed
from ..mappings.commerce_ap_documents import (
    INTEGRATION,
    BillChange,
    Planned,
    Unchanged,
    credited,
    parse_ref,
    party_of,
    plan,
    read_envelope,
)
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .commerce_ap_revisions import revision, write_changes
from .commerce_ap_vendors import ensure_vendors, ledger_rows
from .retry import retry_options

BATCH = 100  # documents per write call; grouped by entity, so at most 100 functions per envelope
_QUERY_PAGE = 1000


@dataclass(frozen=True)
class Refused:
    """A document that cannot be written now, with the reason (it ends failed, replayable)."""

    reason: str


def _bill_links(res: Tenant, envs: dict[int, dict]) -> tuple[dict[int, str | None], set[int], dict[int, str]]:
    """For each credit memo: the bill number it credits, or waiting, or why it cannot post."""
    wanted = {doc_id: credited(env) for doc_id, env in envs.items() if env["kind"] == "creditmemo"}
    rows = ledger_rows(res.ledger, INTEGRATION, [k for k in wanted.values() if k])
    bills: dict[int, str | None] = {}
    waiting: set[int] = set()
    refused: dict[int, str] = {}
    for doc_id, key in wanted.items():
        row = rows.get(key) if key else None
        if row is None or row.status == SKIPPED:  # credits a purchase older than the integration, or never billed
            bills[doc_id] = None
        elif row.status == POSTED:
            ref = parse_ref(row.target_ref)
            bills[doc_id] = ref[-1] if ref and ref[0] == "APBILL" else None
        elif row.status in (RECEIVED, POSTING):
            waiting.add(doc_id)
        else:
            refused[doc_id] = (f"the bill it credits ({key[0]} {key[1]}) is {row.status}: "
                               f"{row.last_error or 'no reason recorded'}; replay that document first")
    return bills, waiting, refused


def _envelopes(rows) -> dict[int, dict]:
    envs = {}
    for row in rows:
        try:
            envs[row.id] = read_envelope(row.raw_payload)
        except BadDocument:
            pass  # quarantined by build() with its reason
    return envs


@task(**retry_options())
def post_ap_documents(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Post the ledger documents ``ids`` (those still received); returns counts by outcome,
    plus ``waiting`` (left received until their vendor or bill exists). ``payloads`` is unused:
    a document's function needs its vendor, known only here, so it is mapped at post time."""
    res = tenant_resources(tenant)
    commerce = res.commerce("procure")
    envs = _envelopes(res.ledger.documents(INTEGRATION, ids=ids, status=RECEIVED))
    bills, waiting, refused = _bill_links(res, envs)
    parties = {}
    for doc_id, env in envs.items():
        if doc_id not in waiting and doc_id not in refused:
            try:
                parties[doc_id] = party_of(env)
            except BadDocument:
                pass  # build() quarantines it
    vendors = ensure_vendors(res, list({p.key: p for p in parties.values()}.values()), run_id)
    for doc_id, party in parties.items():
        if vendors[party.key].pending:
            waiting.add(doc_id)

    def build(c: Claimed) -> Planned | Refused | Unchanged | BillChange:
        env = envs.get(c.id) or read_envelope(c.raw_payload)
        if c.effect == CANCEL:  # needs nothing but the document's Intacct reference
            return revision(res, c, env, commerce, None, "", None)
        if c.id in refused:
            return Refused(refused[c.id])
        found = vendors[party_of(env).key]
        if found.error:
            return Refused(found.error)
        new = plan(env, commerce, found.vendor_id or "", c.idempotency_key, bills.get(c.id))
        if c.effect == CREATE:
            return new
        return revision(res, c, env, commerce, new, found.vendor_id or "", bills.get(c.id))

    ready = [i for i in ids if i not in waiting]
    counts = post_documents(res.ledger, INTEGRATION, ready, run_id, build=build,
                            write=lambda prepared: write_planned(res, prepared), batch_size=BATCH) if ready else {}
    return {**{k: counts.get(k, 0) for k in (POSTED, FAILED, QUARANTINED, RECEIVED)}, "waiting": len(waiting)}


def write_planned(res: Tenant, prepared: list[Prepared]) -> list[WriteResult]:
    """Write one batch: functions grouped by entity, one result per document."""
    client = res.intacct()
    results: list[WriteResult | None] = [None] * len(prepared)
    by_entity: dict[str, list[int]] = {}
    changes: list[tuple[int, Prepared]] = []
    for n, p in enumerate(prepared):
        if isinstance(p.payload, Refused):
            results[n] = WriteResult(ok=False, error=RejectedError(p.payload.reason, system="intacct",
                                                                   operation=INTEGRATION, code="not-postable"))
        elif isinstance(p.payload, Unchanged):
            results[n] = WriteResult(ok=True, target_id=p.claimed.target_id)  # Intacct already holds it
        elif isinstance(p.payload, BillChange):
            changes.append((n, p))
        else:
            by_entity.setdefault(p.payload.entity, []).append(n)
    for n, result in (write_changes(res, changes) if changes else {}).items():
        results[n] = result
    replayed: dict[int, str] = {}
    for entity, members in by_entity.items():
        answers = client.post_functions([prepared[n].payload.function for n in members], entity=entity,
                                        operation=INTEGRATION)
        for n, r in zip(members, answers, strict=True):
            if r.ok:
                results[n] = WriteResult(ok=True, target_id=r.key)
            elif isinstance(r.error, DuplicateWrite):
                replayed[n] = prepared[n].payload.target_ref
            else:
                results[n] = WriteResult(ok=False, error=r.error)
    found = find_targets(client, list(replayed.values())) if replayed else {}
    for n, ref in replayed.items():
        results[n] = WriteResult(ok=True, target_id=found[ref]) if ref in found else WriteResult(
            ok=False, error=RejectedError(f"Intacct reports {ref} as already created but it cannot be found",
                                          system="intacct", operation=INTEGRATION))
    return results  # type: ignore[return-value]


def query_all(client, object_name: str, fields: tuple[str, ...], condition: tuple) -> list[dict]:
    """Every record of one ``query`` (offset paging, top-level session: it sees every entity)."""
    records: list[dict] = []
    for offset in range(0, 10_000_000, _QUERY_PAGE):
        function = query_function(object_name, fields, condition, [("RECORDNO", "ascending")],
                                  pagesize=_QUERY_PAGE, offset=offset, show_private=True)
        [result] = client.execute([function], uniqueid=False)
        if result.error is not None:
            raise result.error
        records += result.records
        if not result.num_remaining or not result.records:
            break
    return records


def find_targets(client, refs: list[str]) -> dict[str, str]:
    """target_ref -> the Intacct key of the documents that exist (bills and adjustments by
    RECORDID, purchase orders by transaction type and DOCNO)."""
    parsed = {ref: parse_ref(ref) for ref in set(refs)}
    found: dict[str, str] = {}
    bills = [p[1] for p in parsed.values() if p and p[0] == "APBILL"]
    if bills:
        keys = client.find_bills(bills)
        found.update({f"APBILL:{k}": v for k, v in keys.items()})
    adjustments = [p[1] for p in parsed.values() if p and p[0] == "APADJUSTMENT"]
    for start in range(0, len(adjustments), 100):
        condition = ("in", "RECORDID", adjustments[start:start + 100])
        for r in query_all(client, "APADJUSTMENT", ("RECORDNO", "RECORDID"), condition):
            found.setdefault(f"APADJUSTMENT:{r['RECORDID']}", r["RECORDNO"])
    by_type: dict[str, list[str]] = {}
    for p in parsed.values():
        if p and p[0] == "PODOCUMENT":
            by_type.setdefault(p[1], []).append(p[2])
    for kind, numbers in by_type.items():
        for start in range(0, len(numbers), 100):
            condition = ("and", ("equalto", "DOCPARID", kind), ("in", "DOCNO", numbers[start:start + 100]))
            for r in query_all(client, "PODOCUMENT", ("RECORDNO", "DOCID", "DOCNO"), condition):
                found.setdefault(f"PODOCUMENT:{kind}:{r['DOCNO']}", r.get("DOCID") or r["RECORDNO"])
    return found

