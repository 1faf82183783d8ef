"""Prefect tasks over the SPS Commerce connector: fetch a page, consume it, upload documents."""

from __future__ import annotations

from pydantic import BaseModel
from prefect import task

from ..connectors.errors import NotFound
from ..ledger.store import Claimed
from .posting import Prepared, WriteResult
from .resources import tenant as tenant_resources
from .retry import retry_options

INBOX = "out/"  # SPS puts the documents it sends us under out/, and reads ours from in/
OUTBOX = "in/"


class FetchedFile(BaseModel):
    path: str
    content: bytes


class FetchedPage(BaseModel):
    """One listing page with the content of its files, and where the listing goes next."""

    cursor: str | None
    next_cursor: str | None
    files: list[FetchedFile]


@task(**retry_options())
def fetch_page(tenant: str, cursor: str | None, limit: int = 500) -> FetchedPage:
    """List one page of ``out/`` after ``cursor`` and download its files."""
    sps = tenant_resources(tenant).sps()
    page = sps.list_page(INBOX, cursor=cursor, limit=limit)
    files = [FetchedFile(path=p, content=sps.get(p)) for p in page.files]
    return FetchedPage(cursor=cursor, next_cursor=page.next_cursor, files=files)


@task(**retry_options())
def consume_files(tenant: str, paths: list[str]) -> int:
    """Delete files whose documents are durable in the ledger (SPS's convention for out/).
    A file already gone is fine: another run, or an earlier attempt, consumed it."""
    sps = tenant_resources(tenant).sps()
    deleted = 0
    for path in paths:
        try:
            sps.delete(path)
            deleted += 1
        except NotFound:
            pass
    return deleted


def upload(tenant: str, prepared: list[Prepared[tuple[str, bytes]]]) -> list[WriteResult]:
    """Upload (path, content) payloads to SPS. The path is deterministic per document and
    POST overwrites, so a retry after a lost response replaces the file, never adds one."""
    sps = tenant_resources(tenant).sps()
    results = []
    for p in prepared:
        path, content = p.payload
        results.append(WriteResult(ok=True, target_id=sps.put(path, content)))
    return results


def outbox_path(doc_type: str, partner: str, number: str, fmt: str = "xml") -> str:
    prefix = {"invoice": "IN", "orderack": "PR", "shipment": "SH"}[doc_type]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{OUTBOX}{prefix}_{partner}_{safe}.{fmt}"


__all__ = ["FetchedPage", "FetchedFile", "fetch_page", "consume_files", "upload", "outbox_path", "Claimed"]
