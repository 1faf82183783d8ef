"""Order to cash: the Intacct AR invoice written back to its Commerce order, as an order comment.

Each posted order gets one follow-up row (ledger integration ``commerce-o2c-writeback``, doc
type ``comment``, key = order entity_id) written through the common intent/outcome path, so a
write-back that failed (Commerce down) is retried by the next run and one that succeeded is
never written twice. ``add_order_comment`` itself skips a comment the order already carries
(a retry after a lost answer), so a write-back a dead run left between intent and outcome is
settled by writing it again: it goes back to received.
"""

from __future__ import annotations

import json
from datetime import timedelta

from prefect import task

from ..connectors.errors import IntegrationError
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.schema import RECEIVED
from ..ledger.store import Claimed, Incoming, Outcome
from ..mappings import commerce_to_intacct_o2c as o2c
from ..mappings.commerce_o2c_rows import FOLLOWUPS, INTEGRATION, loads
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

COMMENT = "comment"


def comment_text(invoice_no: str, recordno: str, entity: str) -> str:
    """What the order history says: enough for someone in Commerce to find the invoice."""
    return f"Sage Intacct AR invoice {invoice_no} (key {recordno}, entity {entity})"


def _followups(res, limit: int) -> list[Incoming]:
    rows = res.ledger.posted_without_followup(INTEGRATION, "order", FOLLOWUPS, COMMENT, limit=limit)
    commerce, out = res.commerce("o2c"), []
    for r in rows:
        try:
            entity = o2c.entity_for(loads(r.raw_payload), commerce)
        except IntegrationError:
            entity = "?"
        data = {"order_id": int(r.natural_key), "text": comment_text(r.target_ref or "", r.target_id or "", entity)}
        out.append(Incoming(doc_type=COMMENT, partner=r.partner, natural_key=r.natural_key,
                            source_ref=f"order:{r.natural_key}", raw_payload=json.dumps(data).encode(),
                            target_ref=r.target_id))
    return out


def _write(client, prepared: list[Prepared[dict]]) -> list[WriteResult]:
    out = []
    for p in prepared:
        try:
            client.add_order_comment(p.payload["order_id"], p.payload["text"])
            out.append(WriteResult(ok=True, target_id=str(p.payload["order_id"])))
        except IntegrationError as exc:  # transient -> received again; others fail with the reason
            out.append(WriteResult(ok=False, error=exc))
    return out


@task(**retry_options())
def write_back_invoice_keys(tenant: str, run_id: str, finished_runs: list[str] = (),
                            lease: timedelta | None = None, limit: int = 5000) -> dict[str, int]:
    """Comment every posted order that has no write-back yet (and retry earlier failures and
    write-backs that runs now over, ``finished_runs``, or older than ``lease``, left unfinished)."""
    res = tenant_resources(tenant)
    stale = res.ledger.stale_intents(FOLLOWUPS, run_ids=finished_runs, older_than=lease, claimer=run_id)
    if stale:
        res.ledger.record_outcomes(FOLLOWUPS, [Outcome(c.id, RECEIVED, error_class="recovered",
                                                       error="intent without outcome; written again (idempotent)")
                                               for c in stale], run_id)
    new = _followups(res, limit)
    if new:
        res.ledger.ingest(FOLLOWUPS, new, run_id)
    ids = res.ledger.pending_ids(FOLLOWUPS, limit=limit)
    if not ids:
        return {}
    client = res.adobe()

    def build(c: Claimed) -> dict:
        return loads(c.raw_payload)

    counts = post_documents(res.ledger, FOLLOWUPS, ids, run_id, build=build,
                            write=lambda prepared: _write(client, prepared), batch_size=100)
    return {f"writeback_{k}": v for k, v in counts.items() if v}
