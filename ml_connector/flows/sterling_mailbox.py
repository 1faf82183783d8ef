"""IBM Sterling mailbox polling (default every 2 minutes): partners' 997s settle our outbound
810/850 as accepted or rejected (with the AK reasons), documents without a 997 past the
tenant's deadline turn overdue (a WARNING alert, a count in the report, a Prefect event), and
other inbound X12 (partners' 850s) is parsed and stored; unreadable files are quarantined."""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from ..ledger.x12_controls import ack_counts
from ..tasks.ops import finished_runs
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import finish_run, run_name
from ..tasks.sterling import settings_of
from ..tasks.sterling_mailbox import INBOUND, apply_unapplied_acks, flag_overdue, poll_partner
from ..engine import current_run_id


@flow(name="sterling-mailbox", flow_run_name=run_name(INBOUND))
def sterling_mailbox(tenant: str = "demo", overdue_after_minutes: float | None = None) -> State:
    """Poll every configured partner's Outbox, then flag overdue acknowledgments.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        overdue_after_minutes: Overrides the tenant's 997 deadline for this run.
    """
    run_id = current_run_id()
    res = tenant_resources(tenant)
    settings = settings_of(res)
    tally = apply_unapplied_acks(tenant, run_id, finished_runs(tenant, INBOUND, run_id))
    for cfg in settings.partners.values():
        for k, v in poll_partner(tenant, cfg.partner_name, run_id).items():
            tally[k] = tally.get(k, 0) + v
    minutes = settings.overdue_after_minutes if overdue_after_minutes is None else overdue_after_minutes
    tally["newly_overdue"] = flag_overdue(tenant, minutes)
    tally.update({f"ack_{k}": v for k, v in ack_counts(res.ledger).items()})
    return finish_run(tenant, INBOUND, run_id, extra=tally)
