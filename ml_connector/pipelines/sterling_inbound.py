"""IBM Sterling mailbox polling: partners' 997s settle our outbound 810/850 as accepted or
rejected (with the AK reasons), other inbound X12 (partners' 850s) is stored, unreadable
messages are quarantined; documents without a 997 past the tenant's deadline turn overdue.

A page is one partner's Outbox. Every message read is recorded before it is marked extracted
in Sterling (the settle step), so a crash in between reads it again as a duplicate. A 997 is
recorded (received), then applied (posted): one a crash left recorded but not applied is
applied by a later run, from its stored payload, through the recovery and the pending drain,
so a duplicate read never hides it. Overdue documents are flagged after the drain, once every
997 read has been applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import RECEIVED
from ..ledger.store import Claimed, Outcome
from ..ledger.x12_controls import ack_counts
from ..mappings.resend import nothing_sent
from ..mappings.sterling_inbound import message_rows
from ..ops.reconcile_ref import Reconciliation
from ..tasks.sterling import settings_of
from ..tasks.sterling_mailbox import INBOUND, Outbox, apply_acks, flag_overdue, mark_extracted, read_outbox

TALLIES = ("acks_applied", "accepted", "rejected")


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """Every configured partner's Outbox, one page each (extraction is the only cursor)."""
    for cfg in settings_of(run.resources).partners.values():
        outbox: Outbox = read_outbox(run.tenant, cfg.partner_name)
        yield Page(outbox, counters={"messages_deferred": outbox.deferred})


def to_rows(run: Run, page: Page) -> Batch:
    outbox: Outbox = page.items
    batch = Batch(rows=[])
    for m in outbox.messages:
        batch.rows += message_rows(outbox.partner, m.id, m.name, m.content, m.error)
        batch.settle.append(m.id)
    return batch


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """997s a dead run was applying go back to received and are applied again by the drain:
    applying a 997 twice changes nothing, so there is nothing to look up first."""
    return [Outcome(c.id, RECEIVED, error_class="recovered", error="997 recorded but not applied; applied again")
            for c in stale]


def overdue_after(minutes: float | None):
    def flag(run: Run) -> dict:
        deadline = settings_of(run.resources).overdue_after_minutes if minutes is None else minutes
        return {"newly_overdue": flag_overdue(run.tenant, deadline)}

    return flag


def report(run: Run) -> dict:
    """What the 997s applied in this run did, and where every delivered document stands."""
    figures = {k: sum(posted.get(k, 0) for posted in run.posted) for k in TALLIES}
    return {**figures, **{f"ack_{k}": v for k, v in ack_counts(run.ledger).items()}}


def pipeline(overdue_after_minutes: float | None = None) -> Pipeline:
    """The mailbox pipeline with a 997 deadline of ``overdue_after_minutes`` (the tenant's when None)."""
    return replace(PIPELINE, followups=(overdue_after(overdue_after_minutes),))


PIPELINE = Pipeline(name=INBOUND, read=read, to_rows=to_rows, post=apply_acks, find=find, settle=mark_extracted,
                    reconcile=Reconciliation("reconcile_sterling", "inbound_frames"),
                    followups=(overdue_after(None),), report=report, resend=nothing_sent)
