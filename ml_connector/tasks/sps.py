"""Prefect tasks over the SPS Commerce connector: fetch a page, consume it, upload documents."""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from ..connectors.errors import BadDocument, NotFound, RejectedError, TransientError
from ..ledger.store import Claimed
from ..settings import max_document_bytes, sps_concurrency
from .io_pool import pool_for
from .posting import Prepared, WriteResult, one_line
from .resources import tenant as tenant_resources
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
    for path, fetched in zip(page.files, _each(download, page.files)):
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


def upload(tenant: str, prepared: list[Prepared[tuple[str, bytes]]]) -> list[WriteResult]:
    """Upload (path, content) payloads to SPS. The path is deterministic per document and
    POST overwrites, so a retry after a lost response replaces the file, never adds one.
    Each upload stands alone: one that keeps failing goes back to received for the next
    attempt while the others post (an auth failure still stops the batch). Up to
    ``sps_concurrency()`` at a time: their intents are already in the ledger, so the order in
    which they land does not matter."""
    sps = tenant_resources(tenant).sps()

    def put(p: Prepared[tuple[str, bytes]]) -> WriteResult:
        path, content = p.payload
        try:
            return WriteResult(ok=True, target_id=sps.put(path, content))
        except (TransientError, RejectedError) as exc:
            return WriteResult(ok=False, error=exc)

    return _each(put, prepared)


def outbox_path(doc_type: str, partner: str, number: str, fmt: str = "xml") -> str:
    prefix = {"invoice": "IN", "orderack": "PR", "shipment": "SH"}[doc_type]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{OUTBOX}{prefix}_{partner}_{safe}.{fmt}"


__all__ = ["FetchedPage", "FetchedFile", "fetch_page", "consume_files", "upload", "outbox_path", "Claimed"]
