"""Sterling mailbox tasks: a partner's Outbox read, 997s applied, messages marked extracted,
overdue documents flagged (pipelines/sterling_inbound.py runs them; what a message becomes is
mappings/sterling_inbound.py).

A message is marked extracted in Sterling only once its rows are durable in the ledger, so a
crash in between reads it again and the ledger calls it a duplicate. One message's trouble (a
download or an acknowledgment PUT still rate-limited after its retries) defers that message to
the next poll; the others go on.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from ..connectors.errors import BadDocument, NotFound, TransientError, one_line
from ..connectors.sterling import partner_outbox
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.x12_controls import apply_ack, mark_overdue
from ..mappings.sterling_inbound import accepted, ack_verdicts
from ..runtime.clients import sterling_client as sterling
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options
from .sterling import settings_of

log = logging.getLogger("ml_connector.tasks.sterling_mailbox")

INBOUND = "sterling-inbound"


class Message(BaseModel):
    """One Outbox message as read: its content, or why it could not be read (``error``)."""

    id: str
    name: str
    content: bytes = b""
    error: str | None = None


class Outbox(BaseModel):
    """A partner's extractable messages; ``deferred`` could not be downloaded this poll."""

    partner: str
    messages: list[Message] = []
    deferred: int = 0


@task(cache_policy=NO_CACHE, **retry_options())
def read_outbox(tenant: str, partner_name: str) -> Outbox:
    """Every extractable message in one partner's Outbox, downloaded."""
    res = tenant_resources(tenant)
    settings_of(res)
    client = sterling(res)
    outbox = Outbox(partner=partner_name)
    try:
        listed = client.list_messages(partner_outbox(partner_name), only_extractable=True)
    except NotFound:  # the partner is not created yet
        return outbox
    for message in listed:
        try:
            outbox.messages.append(Message(id=str(message.id), name=message.name, content=client.download_message(message)))
        except TransientError as exc:
            outbox.deferred += 1
            log.warning("deferring message %s of %s to the next poll: %s", message.id, partner_name, one_line(exc))
        except BadDocument as exc:
            outbox.messages.append(Message(id=str(message.id), name=message.name, error=one_line(exc)))
    return outbox


@task(cache_policy=NO_CACHE)
def mark_extracted(tenant: str, message_ids: list[str]) -> dict[str, int]:
    """Mark messages whose rows are durable as extracted; one still refused (rate limited past
    its retries) is left extractable and read again next poll, where it is a duplicate."""
    client = sterling(tenant_resources(tenant))
    deferred = 0
    for message_id in message_ids:
        try:
            client.mark_extracted(message_id)
        except TransientError as exc:
            deferred += 1
            log.warning("deferring message %s to the next poll: %s", message_id, one_line(exc))
    return {"messages_deferred": deferred}


@task(cache_policy=NO_CACHE, **retry_options())
def apply_acks(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Apply the 997s ``ids``: each verdict settles the outbound document it names (accepted or
    rejected with the AK reasons). A 997 that cannot be read is quarantined. Applying a 997 twice
    changes nothing (final states stay final), so one a crash left unapplied is applied again."""
    ledger = tenant_resources(tenant).ledger
    tally = {"acks_applied": 0, "accepted": 0, "rejected": 0}

    def write(prepared: list[Prepared]) -> list[WriteResult]:
        return [WriteResult(ok=True, target_id=f"matched {apply_verdicts(ledger, p.claimed.partner, p.payload, tally)}")
                for p in prepared]

    counts = post_documents(ledger, INBOUND, ids, run_id, build=lambda c: ack_verdicts(c.raw_payload),
                            write=write, batch_size=100)
    return {**counts, **tally}


def apply_verdicts(ledger, partner: str, verdicts: list, tally: dict[str, int]) -> int:
    """Settle the documents one 997's verdicts name; how many it matched."""
    matched = 0
    for v in verdicts:
        ok = accepted(v)
        ids = apply_ack(ledger, partner, v.group_control_number, v.set_control_number, ok, v.reasons)
        matched += len(ids)
        tally["accepted" if ok else "rejected"] += len(ids)
        if not ok and ids:
            log.warning("partner %s rejected group %s set %s: %s", partner, v.group_control_number,
                        v.set_control_number, "; ".join(v.reasons) or "no reason given")
    tally["acks_applied"] += 1
    return matched


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

        documents = [dict(zip(("id", "partner", "doc_type", "number"), r, strict=True)) for r in overdue[:100]]
        emit_event(event="ml-connector.x12.overdue", resource={"prefect.resource.id": f"ml-connector.tenant.{tenant}"},
                   payload={"count": len(overdue), "minutes": minutes, "documents": documents})
    except Exception as exc:  # the alert is the log line; the event is a bonus
        log.debug("could not emit the overdue event: %s", exc)
