"""Sterling mailbox polling: 997s settle outbound documents, other X12 is stored, junk quarantined.

Each partner's Outbox (what it sends us) is read; every message is recorded in the ledger
(integration ``sterling-inbound``) before it is marked extracted in Sterling, so a crash in
between reads it again and the ledger calls it a duplicate. A 997 is recorded (received), then
applied (posted): one a crash left recorded but not applied is applied from its stored payload
by the next run (:func:`apply_unapplied_acks`), so a duplicate read never hides it.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from prefect import task

from ..connectors import x12
from ..connectors.errors import BadDocument, NotFound, TransientError
from ..connectors.sterling import partner_outbox
from ..ledger.schema import POSTED, QUARANTINED, SKIPPED
from ..ledger.store import Claimed, Incoming, Outcome
from ..ledger.x12_controls import apply_ack, mark_overdue
from ..runtime.clients import sterling_client as sterling
from ..runtime.tenant import tenant as tenant_resources
from .posting import one_line
from .retry import retry_options
from .sterling import settings_of

log = logging.getLogger("ml_connector.tasks.sterling_mailbox")

INBOUND = "sterling-inbound"
ACCEPTED_STATUSES = ("accepted", "accepted_with_errors")


@task(**retry_options())
def poll_partner(tenant: str, partner_name: str, run_id: str) -> dict[str, int]:
    """Read one partner's Outbox: apply 997s, store 850s, quarantine what cannot be read."""
    res = tenant_resources(tenant)
    settings_of(res)
    client = sterling(res)
    tally = {"acks_applied": 0, "accepted": 0, "rejected": 0, "messages_deferred": 0}
    try:
        messages = client.list_messages(partner_outbox(partner_name), only_extractable=True)
    except NotFound:  # the partner is not created yet
        return tally
    for message in messages:
        # One message's trouble (a download or an acknowledgment PUT still rate-limited after
        # its retries) defers that message to the next poll; the others go on. A message
        # recorded but not marked extracted is read again and the ledger calls it a duplicate.
        try:
            content = client.download_message(message)
        except TransientError as exc:
            _defer(tally, message, partner_name, exc)
            continue
        except BadDocument as exc:
            content, bad = b"", exc
        else:
            bad = None
        _record(res, partner_name, message, content, bad, run_id, tally)
        try:
            client.mark_extracted(message.id)
        except TransientError as exc:
            _defer(tally, message, partner_name, exc)
    return tally


def _defer(tally: dict, message, partner: str, exc: Exception) -> None:
    tally["messages_deferred"] += 1
    log.warning("deferring message %s of %s to the next poll: %s", message.id, partner, one_line(exc))


def _record(res, partner: str, message, content: bytes, bad: Exception | None, run_id: str, tally: dict) -> None:
    ref = f"{partner_outbox(partner)}/{message.name}#{message.id}"
    if bad is None:
        try:
            interchange = x12.parse(content)
        except BadDocument as exc:
            bad = exc
    if bad is not None:
        res.ledger.ingest(INBOUND, [Incoming(doc_type="x12", partner=partner, natural_key=f"message:{message.id}",
                                             source_ref=ref, raw_payload=content, status=QUARANTINED,
                                             error_class="bad_document", last_error=one_line(bad))], run_id)
        return
    key = f"{interchange.sender_id}:{interchange.control_number:09d}"
    has_997 = any(ts.id == "997" for g in interchange.groups for ts in g.sets)
    others = [(g, ts) for g in interchange.groups for ts in g.sets if ts.id != "997"]
    if has_997:
        result = res.ledger.ingest(INBOUND, [Incoming(doc_type="997", partner=partner, natural_key=key, source_ref=ref,
                                                      raw_payload=content)], run_id)
        if result.new_ids:
            _apply_997(res, partner, interchange, res.ledger.claim(INBOUND, result.new_ids[:1], run_id), run_id, tally)
    rows = []
    for group, ts in others:
        try:
            doc = x12.decode_document(ts)
            number = getattr(doc, "po_number", None) or getattr(doc, "invoice_number", None) or ts.control_number
            rows.append(Incoming(doc_type=ts.id, partner=partner, natural_key=str(number), source_ref=f"{ref}:{ts.control_number}",
                                 raw_payload=content, status=SKIPPED, error_class="stored",
                                 last_error=f"inbound {ts.id} stored for the flows that consume it (none routes it yet)"))
        except BadDocument as exc:
            rows.append(Incoming(doc_type=ts.id, partner=partner, natural_key=f"{key}:{group.control_number}:{ts.control_number}",
                                 source_ref=ref, raw_payload=content, status=QUARANTINED, error_class="bad_document",
                                 last_error=one_line(exc)))
    if rows:
        res.ledger.ingest(INBOUND, rows, run_id)


@task(**retry_options())
def apply_unapplied_acks(tenant: str, run_id: str, finished_runs: list[str]) -> dict[str, int]:
    """997s recorded but not applied: left received by a crash before the claim, or in posting by
    a run that is over. Applying a 997 twice changes nothing (final states stay final)."""
    res = tenant_resources(tenant)
    stale = [c for c in res.ledger.stale_intents(INBOUND, run_ids=finished_runs, claimer=run_id) if c.doc_type == "997"]
    pending = res.ledger.claim(INBOUND, res.ledger.pending_ids(INBOUND, doc_type="997"), run_id)
    tally = {"acks_applied": 0, "accepted": 0, "rejected": 0}
    for claimed in stale + pending:
        try:
            interchange = x12.parse(claimed.raw_payload or b"")
        except BadDocument as exc:
            res.ledger.record_outcomes(INBOUND, [Outcome(claimed.id, QUARANTINED, error_class="bad_document",
                                                         error=one_line(exc))], run_id)
            continue
        _apply_997(res, claimed.partner, interchange, [claimed], run_id, tally)
    return tally


def _apply_997(res, partner: str, interchange, claimed: list[Claimed], run_id: str, tally: dict) -> None:
    try:
        verdicts = x12.read_997(interchange)
    except BadDocument as exc:
        res.ledger.record_outcomes(INBOUND, [Outcome(c.id, QUARANTINED, error_class="bad_document", error=one_line(exc))
                                             for c in claimed], run_id)
        return
    matched = 0
    for v in verdicts:
        accepted = v.status in ACCEPTED_STATUSES
        ids = apply_ack(res.ledger, partner, v.group_control_number, v.set_control_number, accepted, v.reasons)
        matched += len(ids)
        tally["accepted" if accepted else "rejected"] += len(ids)
        if not accepted and ids:
            log.warning("partner %s rejected group %s set %s: %s", partner, v.group_control_number,
                        v.set_control_number, "; ".join(v.reasons) or "no reason given")
    tally["acks_applied"] += 1
    res.ledger.record_outcomes(INBOUND, [Outcome(c.id, POSTED, target_id=f"matched {matched}") for c in claimed], run_id)


@task
def flag_overdue(tenant: str, minutes: float) -> int:
    """Delivered documents with no 997 after ``minutes``: overdue, logged and announced."""
    res = tenant_resources(tenant)
    overdue = mark_overdue(res.ledger, timedelta(minutes=minutes))
    if overdue:
        sample = ", ".join(f"{d}/{p}/{k}" for _, p, d, k in overdue[:10])
        log.warning("ALERT: %d X12 document(s) have no 997 after %s minutes: %s%s", len(overdue), minutes, sample,
                    " ..." if len(overdue) > 10 else "")
        _emit(tenant, overdue, minutes)
    return len(overdue)


def _emit(tenant: str, overdue: list[tuple], minutes: float) -> None:
    """A Prefect event an automation can act on (notify, open a ticket)."""
    try:
        from prefect.events import emit_event

        emit_event(event="ml-connector.x12.overdue", resource={"prefect.resource.id": f"ml-connector.tenant.{tenant}"},
                   payload={"count": len(overdue), "minutes": minutes,
                            "documents": [dict(zip(("id", "partner", "doc_type", "number"), r)) for r in overdue[:100]]})
    except Exception as exc:  # the alert is the log line; the event is a bonus
        log.debug("could not emit the overdue event: %s", exc)


__all__ = ["INBOUND", "apply_unapplied_acks", "poll_partner", "flag_overdue", "json"]
