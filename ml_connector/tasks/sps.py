"""Prefect tasks over the SPS Commerce connector: fetch a page, consume it, upload documents."""

from __future__ import annotations

import logging

from prefect import task
from pydantic import BaseModel

from ..connectors.errors import NotFound, RejectedError, TransientError
from ..ledger.store import Claimed
from .posting import Prepared, WriteResult
from .resources import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.sps")

INBOX = "out/"  # SPS puts the documents it sends us under out/, and reads ours from in/
OUTBOX = "in/"


class FetchedFile(BaseModel):
    path: str
    content: bytes


class FetchedPage(BaseModel):
    """One listing page with the content of its files, and where the listing goes next.

    ``deferred`` are files that could not be downloaded this time (their own retries ran
    out): they stay in SPS untouched and the next poll reads them, because the live cursor
    resets at the end of every listing."""

    cursor: str | None
    next_cursor: str | None
    files: list[FetchedFile]
    deferred: list[str] = []


@task(**retry_options())
def fetch_page(tenant: str, cursor: str | None, limit: int = 500) -> FetchedPage:
    """List one page of ``out/`` after ``cursor`` and download its files."""
    sps = tenant_resources(tenant).sps()
    page = sps.list_page(INBOX, cursor=cursor, limit=limit)
    files, deferred = [], []
    for path in page.files:
        try:
            files.append(FetchedFile(path=path, content=sps.get(path)))
        except TransientError as exc:  # one stubborn file must not cost the whole page
            log.warning("deferring %s to the next poll: %s", path, exc)
            deferred.append(path)
        except NotFound:  # consumed meanwhile by another run: nothing to do
            pass
    return FetchedPage(cursor=cursor, next_cursor=page.next_cursor, files=files, deferred=deferred)


@task(**retry_options())
def consume_files(tenant: str, paths: list[str]) -> int:
    """Delete files whose documents are durable in the ledger (SPS's convention for out/).
    A file already gone is fine: another run, or an earlier attempt, consumed it.
    A file whose delete keeps failing stays in SPS; the next poll reads it again and the
    ledger records it as a duplicate, so leaving it costs a request, never a document."""
    sps = tenant_resources(tenant).sps()
    deleted = 0
    for path in paths:
        try:
            sps.delete(path)
            deleted += 1
        except NotFound:
            pass
        except TransientError as exc:
            log.warning("could not consume %s, it will be read again: %s", path, exc)
    return deleted


def upload(tenant: str, prepared: list[Prepared[tuple[str, bytes]]]) -> list[WriteResult]:
    """Upload (path, content) payloads to SPS. The path is deterministic per document and
    POST overwrites, so a retry after a lost response replaces the file, never adds one.
    Each upload stands alone: one that keeps failing goes back to received for the next
    attempt while the others post (an auth failure still stops the batch)."""
    sps = tenant_resources(tenant).sps()
    results = []
    for p in prepared:
        path, content = p.payload
        try:
            results.append(WriteResult(ok=True, target_id=sps.put(path, content)))
        except (TransientError, RejectedError) as exc:
            results.append(WriteResult(ok=False, error=exc))
    return results


def outbox_path(doc_type: str, partner: str, number: str, fmt: str = "xml") -> str:
    prefix = {"invoice": "IN", "orderack": "PR", "shipment": "SH"}[doc_type]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{OUTBOX}{prefix}_{partner}_{safe}.{fmt}"


__all__ = ["FetchedPage", "FetchedFile", "fetch_page", "consume_files", "upload", "outbox_path", "Claimed"]
