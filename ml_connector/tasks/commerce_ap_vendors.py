"""The vendor a Commerce customer's documents post on: matched, or created once.

A Commerce customer with an account gets one ledger row in ``commerce-ap-vendors`` (doc type
``vendor``, key = the customer id, raw payload = the customer as read, target_id = VENDORID).
Making that vendor is a ledger write like any other: the row is inserted once (unique key)
and claimed with a compare-and-set, so of two runs (or two workers) needing the same new
vendor exactly one writes it; the other finds the row ``posting`` and leaves the documents that
need it ``received`` for the end of its run or the next one.

The write itself: the vendor matched by email, then by the Commerce id kept in the VENDOR custom
field (``commerce.procure.vendor_match``); else, when ``create_missing_vendors``, a VENDOR
``VC-<customer id>`` created with the row's idempotency key as function controlid. A create
Intacct reports as already done (the retry of a write whose answer was lost), or refused
because the VENDORID exists (created by an earlier generation), is settled by reading that
vendor back and adopting it. Guest orders (no customer account) are matched by email only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prefect import task

from ..connectors.adobe import ID_CHUNK, Filter, SearchCriteria
from ..connectors.errors import BadDocument, RejectedError, TransientError
from ..connectors.intacct.functions_parties import vendor_create_function
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.schema import FAILED, POSTED, QUARANTINED, RECEIVED
from ..ledger.store import Incoming, Ledger
from ..mappings import commerce_to_intacct_ap as ap
from ..mappings.commerce_ap_documents import Party
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

MASTER = "commerce-ap-vendors"
VENDOR = "vendor"


@dataclass(frozen=True)
class Resolution:
    """A party's vendor: its VENDORID, or why there is none; both None: another run is on it."""

    vendor_id: str | None = None
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.vendor_id is None and self.error is None


def ledger_rows(ledger: Ledger, integration: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """Document rows by (doc type, natural key), partner "" (one query per 500 keys)."""
    found = ledger.rows_by_key(integration, [(t, "", k) for t, k in keys])
    return {(doc_type, key): row for (doc_type, _, key), row in found.items()}


def ensure_vendors(res: Tenant, parties: Sequence[Party], run_id: str) -> dict[str, Resolution]:
    """The vendor of every party (keyed by ``Party.key``), creating missing ones once."""
    out: dict[str, Resolution] = {}
    members = {p.customer_id: p for p in parties if p.customer_id is not None}
    for guest in {p.key: p for p in parties if p.customer_id is None}.values():
        out[guest.key] = _match_guest(res, guest)
    if not members:
        return out
    keys = [(VENDOR, str(c)) for c in members]
    rows = ledger_rows(res.ledger, MASTER, keys)
    missing = [members[c] for c in members if (VENDOR, str(c)) not in rows]
    if missing:
        res.ledger.ingest(MASTER, _vendor_rows(res, missing), run_id)
    failed = [r.id for r in rows.values() if r.status in (FAILED, QUARANTINED)]
    if failed:  # a document needing the vendor is being posted: try the vendor again
        res.ledger.requeue(MASTER, failed, run_id, reason="needed by a document")
    todo = [r.id for r in ledger_rows(res.ledger, MASTER, keys).values() if r.status == RECEIVED]
    if todo:
        post_vendor_rows(res, todo, run_id)
    for (_, key), row in ledger_rows(res.ledger, MASTER, keys).items():
        party = members[int(key)]
        if row.status == POSTED:
            out[party.key] = Resolution(vendor_id=row.target_id)
        elif row.status in (FAILED, QUARANTINED):
            out[party.key] = Resolution(error=f"no vendor for Commerce customer {key}: {row.last_error}")
        else:  # posting (another run is creating it) or received (a transient failure): later
            out[party.key] = Resolution()
    return out


def _match_guest(res: Tenant, guest: Party) -> Resolution:
    found = res.intacct().find_vendors("email", guest.email)
    if found:
        return Resolution(vendor_id=found[0]["VENDORID"])
    return Resolution(error=f"guest order of {guest.email}: no Intacct vendor has this email, and a vendor is "
                            "only created for a Commerce customer account")


def _vendor_rows(res: Tenant, parties: list[Party]) -> list[Incoming]:
    """Ledger rows for new vendor links, with the customers as Commerce has them (a customer
    that is gone is described by what its orders say)."""
    client = res.adobe()
    commerce = res.commerce("procure")
    ids = sorted(str(p.customer_id) for p in parties)
    found: dict[str, dict] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start:start + ID_CHUNK]
        page = client.search("customers", SearchCriteria().where(Filter("entity_id", chunk, "in")).page(1, len(chunk)))
        found.update({str(c.id): c.model_dump(mode="json") for c in page.items})
        found.update({str(r.key): r.raw for r in page.rejects if r.key and isinstance(r.raw, dict)})
    rows = []
    for p in parties:
        customer = found.get(str(p.customer_id)) or {"id": p.customer_id, "email": p.email}
        rows.append(Incoming(doc_type=VENDOR, partner="", natural_key=str(p.customer_id),
                             source_ref=f"customers/{p.customer_id}", raw_payload=json.dumps(customer, default=str).encode(),
                             target_ref=ap.vendor_id_for(p.customer_id, commerce)))  # type: ignore[arg-type]
    return rows


def write_vendors(res: Tenant, prepared: list[Prepared[dict]]) -> list[WriteResult]:
    """Match each customer's vendor, else create it (one envelope for the creates)."""
    client, commerce = res.intacct(), res.commerce("procure")
    results: list[WriteResult | None] = [None] * len(prepared)
    creates = []
    for n, p in enumerate(prepared):
        try:
            found = ap.match_vendor(p.payload, commerce, client.find_vendors)
            if found:
                results[n] = WriteResult(ok=True, target_id=found)
            elif not commerce.procure.create_missing_vendors:  # type: ignore[union-attr]
                results[n] = WriteResult(ok=False, error=RejectedError(
                    "no Intacct vendor matches and commerce.procure.create_missing_vendors is off",
                    system="intacct", operation="vendor", code="no-vendor"))
            else:
                creates.append((n, ap.customer_to_vendor(p.payload, commerce)))
        except BadDocument as exc:
            results[n] = WriteResult(ok=False, error=exc)
    if creates:
        functions = [vendor_create_function(prepared[n].claimed.idempotency_key, v) for n, v in creates]
        for (n, vendor), r in zip(creates, client.post_functions(functions, operation="create_vendor"), strict=True):
            results[n] = _created(client, vendor.vendor_id, r)
    return results  # type: ignore[return-value]


def _created(client, vendor_id: str, result) -> WriteResult:
    if result.ok:
        return WriteResult(ok=True, target_id=vendor_id)
    if isinstance(result.error, TransientError):
        return WriteResult(ok=False, error=result.error)
    # Already done (a lost answer), or the VENDORID exists (an earlier generation, or a worker
    # that was faster): the vendor is there, so adopt it.
    if client.find_vendors("id", vendor_id):
        return WriteResult(ok=True, target_id=vendor_id)
    return WriteResult(ok=False, error=result.error)


def post_vendor_rows(res: Tenant, ids: list[int], run_id: str) -> dict[str, int]:
    """Match or create the vendors of the ledger rows ``ids`` (those still received)."""
    return post_documents(res.ledger, MASTER, ids, run_id, build=lambda c: json.loads(c.raw_payload or b"{}"),
                          write=lambda prepared: write_vendors(res, prepared), batch_size=100)


@task(**retry_options())
def post_vendors(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """The vendor rows ``ids`` left received (a transient failure): matched or created now."""
    return post_vendor_rows(tenant_resources(tenant), ids, run_id)

