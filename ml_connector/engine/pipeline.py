"""An integration as the engine sees it: where documents come from, what they become, where they go.

Every integration is one :class:`Pipeline`; :func:`engine.run.run` does the rest the same way
for all of them (recovery of a dead run's intents, the page loop, the pending drain, the dry
run, the report). The callables are the integration's own: its reader, its mapping to ledger
rows, its posting task and its lookup of what a lost response created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..ledger.store import Claimed, Incoming, Outcome
from .context import Run


@dataclass
class Page:
    """One page as the source returned it, and where the listing stands after it.

    ``cursor`` is stored once the page is durable when ``store_cursor`` is set: a source whose
    pages are ordered by its cursor stores it page by page; one whose listing is not ordered
    (Intacct's readByQuery) yields its pages with ``store_cursor`` unset and a last, empty page
    carrying the high-water mark once the whole listing is read.

    ``cursor_name`` stores it under another cursor than the pipeline's: a source of several
    listings, each with a cursor of its own (Intacct bills and purchase orders), reads each
    from :meth:`Run.stored_cursor` and names it on the page that carries its mark."""

    items: Any
    cursor: str | None = None
    store_cursor: bool = True
    counters: dict[str, int] = field(default_factory=dict)
    cursor_name: str | None = None


@dataclass
class Batch:
    """What one page becomes: ledger rows, the target payloads mapped on the way (so posting
    does not map them again, keyed by (doc_type, partner, natural_key)), and the source items
    to settle (consume) once the rows are durable."""

    rows: list[Incoming]
    payloads: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    settle: list[Any] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class InboxSource:
    """Webhook deliveries as a second source of documents: ``inbox`` holds them
    (:class:`ml_connector.inbox.Inbox`), ``read`` turns the deliveries a run took into pages of
    the source documents they name (engine/inbox.py records and posts those pages)."""

    inbox: Any
    read: Callable[[Run, list[Claimed]], Iterator[Page]]


class PostTask(Protocol):
    """The Prefect task that posts ledger documents (claim, build, write, record outcomes)."""

    def __call__(self, tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict: ...


@dataclass(frozen=True)
class Pipeline:
    """One integration: ``read`` pages from the source after a cursor, ``to_rows`` makes a page
    into ledger rows, ``post`` writes ledger documents to the target, ``find`` settles the
    intents a dead run left (one :class:`Outcome` per document: posted with what the target
    holds, or back to received). The optional parts:

    - ``before``: steps after the recovery and before anything is read (the master data the
      mapping needs), each returning figures for the report.
    - ``inbox``: deliveries of a webhook inbox naming source documents; what they name is
      recorded and posted before the page loop, the same way a page is (engine/inbox.py).
    - ``settle``: a task consuming source items once their rows are durable (SPS deletes its
      ``out/`` files); it runs while the next page is recorded and posted. When it returns a
      dict, its counters join the report (items it could not consume, left for a later read).
    - ``cursor_name``: the ledger cursor the reader resumes from.
    - ``post_per_page``: False when documents post only after every page is read (order to
      cash posts in dependency order across kinds).
    - ``drain``: replaces the default drain (post every received document in id order); when
      it returns a dict, its figures join the report (documents still waiting for another).
    - ``followups``: steps after the drain (acknowledgements, master data, write-backs), each
      returning figures for the report.
    - ``report``: figures for the report from what the posting steps returned.
    - ``preview``: what one source document becomes in the target, without writing anything
      (``ml-connector preview``): ``preview(tenant, mapping, content, file name)``.
    - ``resend``: whether the target takes a posted document sent again on purpose (``replay
      --resend``) without doubling it: ``resend(row)`` (a ledger document row, or a
      :class:`Claimed`) returns None, or one line naming the document and why it is refused.
      Unset: the integration never resends (its target was not said to take it).
    - ``reconcile``: what ``ml-connector reconcile`` and the demo compare, source against target:
      ``reconcile(tenant resources)`` returns :class:`ml_connector.ops.reconcile.Frames`;
      ops/reconcile.py judges the frames and each document's latest revision (missing,
      duplicated, stale) the same way for every integration.
    """

    name: str
    read: Callable[[Run, str | None], Iterator[Page]]
    to_rows: Callable[[Run, Page], Batch]
    post: PostTask
    find: Callable[[Run, list[Claimed], dict[int, Any]], list[Outcome]]
    settle: Any = None
    before: Sequence[Callable[[Run], dict]] = ()
    inbox: InboxSource | None = None
    cursor_name: str = "live"
    post_per_page: bool = True
    drain: Callable[[Run], dict[str, int] | None] | None = None
    followups: Sequence[Callable[[Run], dict]] = ()
    report: Callable[[Run], dict] | None = None
    preview: Callable[[str, Any, bytes, str], str] | None = None
    resend: Callable[[Any], str | None] | None = None
    reconcile: Callable[[Any], Any] | None = None
