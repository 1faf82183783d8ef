"""Prefect tasks over the SPS Commerce connector: fetch a page, consume it, upload documents."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from sqlalchemy import select

from ..connectors.errors import BadDocument, NotFound, RejectedError, TransientError
from ..connectors.sps import delivery
from ..connectors.sps.delivery import Attempt, DeliveryUnknown, Verdict
from ..engine.posting import Prepared, WriteResult, one_line, post_documents
from ..ledger.revisions import REPLACE, UPDATE
from ..ledger.schema import RECEIVED, documents
from ..ledger.store import Claimed, Incoming, Ledger, Outcome
from ..runtime.io_pool import pool_for
from ..runtime.tenant import tenant as tenant_resources
from ..settings import max_document_bytes, sps_concurrency
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.sps")

INBOX = "out/"  # SPS puts the documents it sends us under out/, and reads ours from in/
OUTBOX = "in/"

T = TypeVar("T")
R = TypeVar("R")


def _each(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """``fn`` over ``items`` a few at a time (SPS serves one file per request, so overlapping
    round trips is what sets the throughput), on at most ``sps_concurrency()`` threads to stay
    a polite client, sized by io_pool from what the requests cost; results in order."""
    return pool_for("sps", sps_concurrency).map(fn, items)


class FetchedFile(BaseModel):
    """One downloaded file. ``refused`` is the one-line reason a file was not read (over the
    size limit: the download stopped at the cap, so ``content`` is empty); the ingest records
    it quarantined and consumes it like any other unreadable file."""

    path: str
    content: bytes
    refused: str | None = None


class FetchedPage(BaseModel):
    """One listing page with the content of its files, and where the listing goes next.

    ``deferred`` are files that could not be downloaded this time (their own retries ran
    out): they stay in SPS untouched and the next poll reads them, because the live cursor
    resets at the end of every listing."""

    cursor: str | None
    next_cursor: str | None
    files: list[FetchedFile]
    deferred: list[str] = []


# Never cached: these tasks read live data or change it, and the default policy would hash
# every input (a cloudpickle of the whole page) only to compute a key nobody uses.
@task(cache_policy=NO_CACHE, **retry_options())
def fetch_page(tenant: str, cursor: str | None, limit: int = 500) -> FetchedPage:
    """List one page of ``out/`` after ``cursor`` and download its files.

    Each download stops at the document size limit (the one the parser applies), so the
    ``sps_concurrency()`` downloads in flight hold at most that many capped bodies in memory; a file
    over it comes back refused instead of failing the page."""
    sps = tenant_resources(tenant).sps()
    page = sps.list_page(INBOX, cursor=cursor, limit=limit)  # also settles the token before the pool starts
    cap = max_document_bytes()

    def download(path: str) -> FetchedFile | TransientError | None:
        try:
            return FetchedFile(path=path, content=sps.get(path, max_bytes=cap))
        except BadDocument as exc:  # too large: quarantined by the ingest, not read
            return FetchedFile(path=path, content=b"", refused=one_line(exc))
        except TransientError as exc:  # one stubborn file must not cost the whole page
            return exc
        except NotFound:  # consumed meanwhile by another run: nothing to do
            return None

    files, deferred = [], []
    for path, fetched in zip(page.files, _each(download, page.files), strict=True):
        if isinstance(fetched, TransientError):
            log.warning("deferring %s to the next poll: %s", path, fetched)
            deferred.append(path)
        elif fetched is not None:
            files.append(fetched)
    return FetchedPage(cursor=cursor, next_cursor=page.next_cursor, files=files, deferred=deferred)


@task(cache_policy=NO_CACHE, **retry_options())
def consume_files(tenant: str, paths: list[str]) -> int:
    """Delete files whose documents are durable in the ledger (SPS's convention for out/).
    A file already gone is fine: another run, or an earlier attempt, consumed it.
    A file whose delete keeps failing stays in SPS; the next poll reads it again and the
    ledger records it as a duplicate, so leaving it costs a request, never a document."""
    sps = tenant_resources(tenant).sps()

    def delete(path: str) -> int:
        try:
            sps.delete(path)
            return 1
        except NotFound:
            return 0
        except TransientError as exc:
            log.warning("could not consume %s, it will be read again: %s", path, exc)
            return 0

    return sum(_each(delete, paths))


# Ledger classifications after which a document's last upload may have reached SPS unseen:
# DeliveryUnknown, and a batch whose outcomes were lost to an auth failure or an unexpected
# error (post_documents puts the whole batch back to received, whatever had reached SPS).
# The rest (transient, rate_limited, rejected, ...) are written only when nothing was stored.
UNSURE = frozenset({DeliveryUnknown.classification, "auth", "error", "internal"})


@dataclasses.dataclass
class DeliveryTally:
    """What the upload step learned beyond posted/received, for the run report.

    ``delivery_confirmed``: documents found in SPS (still in ``in/``, or in its history) after an
    upload whose outcome we had lost, and so posted without a second upload.
    ``possibly_delivered_twice``: documents uploaded again without knowing whether the earlier
    upload arrived, because SPS's history cannot be read and waiting would never tell."""

    delivery_confirmed: int = 0
    possibly_delivered_twice: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def counts(self) -> dict[str, int]:
        return {"delivery_confirmed": self.delivery_confirmed,
                "possibly_delivered_twice": self.possibly_delivered_twice}


def unsure_attempt(row, path: str, *, until: datetime | None = None) -> Attempt | None:
    """The window in which an earlier upload of the ledger document ``row`` may have reached SPS,
    or None when nothing of it can have (its last outcome proves it). ``until``: the latest it
    can have landed, when later than the row says (a run that died uploading it)."""
    if row.error_class not in UNSURE and row.status == RECEIVED:
        return None
    marker = delivery.attempt_from_reason(path, row.last_error) if row.error_class == DeliveryUnknown.classification \
        else None
    if marker is not None:
        since = marker.since
    elif row.error_class in UNSURE:
        since = delivery.aware(row.created_at)  # the window was lost with the batch: any upload of ours
    else:
        since = delivery.aware(row.intent_at or row.created_at)  # an intent a run left: from its start
    latest = marker.until if marker is not None else delivery.aware(row.updated_at)
    return Attempt(path, since, max(latest, until) if until is not None else latest)


def find_uploads(ledger: Ledger, integration: str, stale: Sequence[Claimed], left: dict) -> list[Outcome]:
    """The recovery of uploads a dead run left between intent and outcome (the pipelines'
    ``find`` for intacct-sps and qbo-sps).

    Whether each reached SPS is unknown, and SPS passes on whatever it takes from ``in/``, so
    none is simply sent again: each goes back to received as "delivery unknown", with the
    window in which its upload may have landed (from its intent, or from the earlier unsure
    upload it carried, until now: the run may have been uploading it until it died). The upload
    step looks for it in SPS before anything is sent (:func:`upload`): still in ``in/`` or in
    the history -> posted; absent from a history complete past that window -> uploaded; too
    recent to tell -> left for a later run. ``left``: the rows as the dead runs left them."""
    now = delivery.utcnow()
    late = {r.id: r for r in ledger.documents(integration, ids=[c.id for c in stale if c.id not in left])}
    outcomes = []
    for c in stale:
        path = revision_path(c)
        row = left.get(c.id)
        # a row that turned up in posting after ``left`` was read: from its creation, to be sure
        attempt = unsure_attempt(row, path, until=now) if row is not None else \
            Attempt(path, delivery.aware(late[c.id].created_at), now)
        outcomes.append(Outcome(c.id, RECEIVED, error_class=DeliveryUnknown.classification,
                                error=one_line(DeliveryUnknown.of(attempt, "intent without outcome"))))
    return outcomes


def unsure_uploads(ledger: Ledger, integration: str, ids: Sequence[int]) -> dict[int, Attempt]:
    """The received documents among ``ids`` whose last upload may have reached SPS unseen.
    Read before they are claimed (the claim does not touch what this reads, but the ids it
    returns are the ones post_documents will hand to :func:`upload`)."""
    out = {}
    for row in ledger.documents(integration, ids=list(ids), status=RECEIVED):
        attempt = unsure_attempt(row, row.target_ref or "") if row.error_class in UNSURE else None
        if attempt is not None:
            out[row.id] = attempt
    return out


def upload(tenant: str, prepared: list[Prepared[tuple[str, bytes | None]]], unsure: dict[int, Attempt] | None = None,
           tally: DeliveryTally | None = None) -> list[WriteResult]:
    """Upload (path, content) payloads to SPS. The path is deterministic per document; a file
    SPS has taken was passed on to the retailer, so nothing is uploaded twice on a guess:
    :meth:`SpsClient.put` checks a failed attempt before sending again, and the documents in
    ``unsure`` (an earlier upload may have arrived: :func:`unsure_uploads`) are looked for in
    SPS first, all at once: arrived -> posted without an upload; never arrived -> uploaded;
    cannot tell yet -> back to received with the reason, for a later run; the history cannot be
    read -> uploaded and counted "possibly delivered twice" (waiting would never tell).

    Each upload stands alone: one that keeps failing goes back to received for the next
    attempt while the others post (an auth failure still stops the batch). Up to
    ``sps_concurrency()`` at a time: their intents are already in the ledger, so the order in
    which they land does not matter."""
    sps = tenant_resources(tenant).sps()
    tally = tally if tally is not None else DeliveryTally()
    checks = {p.claimed.id: dataclasses.replace((unsure or {})[p.claimed.id], path=p.payload[0])
              for p in prepared if p.claimed.id in (unsure or {})}
    try:
        verdicts = delivery.find(sps, checks.values(), lag=sps.history_lag, pickup=sps.pickup_min) if checks else {}
    except (TransientError, RejectedError, NotFound) as exc:  # SPS could not be asked now: they wait, the others go
        log.warning("could not look for %d earlier uploads in SPS: %s", len(checks), exc)
        verdicts = dict.fromkeys((a.path for a in checks.values()), Verdict.UNKNOWN)

    def put(p: Prepared[tuple[str, bytes | None]]) -> WriteResult:
        path, content = p.payload
        if content is None:  # a cancellation of what was never sent: nothing to tell the retailer
            return WriteResult(ok=True, target_id=None)
        attempt = checks.get(p.claimed.id)
        verdict = verdicts.get(path) if attempt is not None else None
        if verdict is not None and verdict.arrived:
            tally.add("delivery_confirmed")
            return WriteResult(ok=True, target_id=path)
        if verdict is Verdict.UNKNOWN:
            return WriteResult(ok=False, error=DeliveryUnknown.of(attempt, "not in in/ nor in the history yet"))
        try:
            result = WriteResult(ok=True, target_id=sps.put(path, content))
        except (TransientError, RejectedError) as exc:
            return WriteResult(ok=False, error=exc)
        if verdict is Verdict.UNREADABLE:
            log.warning("uploaded %s again without knowing whether the earlier upload arrived: SPS's history "
                        "cannot be read; it is possibly delivered twice", path)
            tally.add("possibly_delivered_twice")
        return result

    return _each(put, prepared)


def send_to_sps(tenant: str, ledger: Ledger, integration: str, ids: Sequence[int], run_id: str, *,
                build: Callable[[Claimed], tuple[str, bytes | None]]) -> dict[str, int]:
    """Post the outbound documents ``ids`` through ``post_documents`` with :func:`upload`,
    checking first those whose earlier upload may have arrived; counts by outcome plus the
    :class:`DeliveryTally`."""
    unsure = unsure_uploads(ledger, integration, ids)
    tally = DeliveryTally()
    counts = post_documents(ledger, integration, ids, run_id, build=build,
                            write=lambda prepared: upload(tenant, prepared, unsure, tally), batch_size=100)
    return {**counts, **tally.counts()}


def delivery_report(tenant: str, integration: str, run_id: str, sent: Sequence[dict]) -> dict[str, int]:
    """The delivery figures of a run's report: the tallies of its uploads (``sent``: what
    the send tasks returned) and the documents it left waiting for SPS's history."""
    ledger = tenant_resources(tenant).ledger
    waiting = sum(1 for r in ledger.documents(integration, status=RECEIVED, run_id=run_id)
                  if r.error_class == DeliveryUnknown.classification)
    return {"delivery_confirmed": sum(s.get("delivery_confirmed", 0) for s in sent),
            "delivery_unknown": waiting,
            "possibly_delivered_twice": sum(s.get("possibly_delivered_twice", 0) for s in sent)}


def recorded_documents(ledger: Ledger, integration: str, *, natural_keys: Sequence[str] = (),
                       source_refs: Sequence[str] = ()) -> list:
    """The ledger's documents of ``integration`` with one of ``natural_keys`` or read from one of
    ``source_refs`` (one query each): what was recorded for the source documents of a page."""
    out = []
    for column, values in ((documents.c.natural_key, natural_keys), (documents.c.source_ref, source_refs)):
        if not values:
            continue
        query = (select(documents).where(documents.c.tenant == ledger.tenant, documents.c.integration == integration,
                                         column.in_(sorted(set(values)))).order_by(documents.c.id))
        with ledger.engine.connect() as conn:
            out += list(conn.execute(query))
    return out


def drop_unseen_changes(ledger: Ledger, integration: str, rows: list[Incoming],
                        render: Callable[[str, bytes], bytes | None]) -> list[Incoming]:
    """``rows`` without the changes a retailer would not see: an update whose document renders
    (``render(doc_type, payload)``: its RSX as an original, None when it does not map) exactly as
    the content last recorded for it. A source stamps many changes that never reach the RSX (a
    payment applied in Intacct, a memo or a ship date on a QBO invoice); each would otherwise go
    out as a replacement of an unchanged document."""
    updates = [r for r in rows if r.effect in (UPDATE, REPLACE) and r.status == RECEIVED]
    if not updates:
        return rows
    last = {(d.doc_type, d.partner, d.natural_key): d.raw_payload
            for d in recorded_documents(ledger, integration, natural_keys=[r.natural_key for r in updates])}
    unseen = set()
    for r in updates:
        before = last.get((r.doc_type, r.partner, r.natural_key))
        if before is not None and r.raw_payload is not None and before != r.raw_payload:
            old = render(r.doc_type, before)
            if old is not None and old == render(r.doc_type, r.raw_payload):
                unseen.add(id(r))
    if unseen:
        log.debug("%d changes at the source change nothing the retailer receives: not sent", len(unseen))
    return [r for r in rows if id(r) not in unseen]


def outbox_path(doc_type: str, partner: str, number: str, fmt: str = "xml") -> str:
    """The SPS path of a document's first revision (``in/IN_<partner>_<number>.xml``)."""
    prefix = {"invoice": "IN", "orderack": "PR", "shipment": "SH"}[doc_type]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{OUTBOX}{prefix}_{partner}_{safe}.{fmt}"


def generation(idempotency_key: str) -> int:
    """The idempotency generation a key carries (``-r<n>`` after a replay or a resend; 0 without)."""
    _, sep, tail = idempotency_key.rpartition("-r")
    return int(tail) if sep and tail.isdigit() else 0


def revision_path(c: Claimed) -> str:
    """The SPS path of the write ``c``: the document's path for its first revision; for a later
    revision ``<name>-<revision>`` and for a resend on purpose ``<name>-<revision>-r<generation>``.

    SPS passes on every file it takes from ``in/`` as a transaction of its own, and the upload
    step and recovery look a write up by its path (in ``in/`` and in the history): a revision
    written under its predecessor's name would overwrite a file SPS may not have taken yet, and a
    lost upload of it would be taken for delivered on the sight of its predecessor's history."""
    base = c.target_ref or ""
    if c.revision <= 1 and not c.resend:
        return base
    stem, dot, ext = base.rpartition(".")
    suffix = f"-{c.revision}" + (f"-r{generation(c.idempotency_key)}" if c.resend else "")
    return f"{stem}{suffix}.{ext}" if dot else f"{base}{suffix}"


__all__ = ["FetchedPage", "FetchedFile", "fetch_page", "consume_files", "upload", "send_to_sps", "delivery_report",
           "unsure_attempt", "outbox_path", "revision_path", "generation", "recorded_documents", "drop_unseen_changes",
           "Claimed"]
