"""One deployment per integration, fanning out over tenants in one process.

A deployment run of a process worker starts two Python interpreters and imports Prefect and the
integration (about 3 CPU-s on the worker host and 0.65 s on the Prefect server, whatever the run
then does), so a deployment per tenant and integration cannot serve hundreds of tenants on one
machine. Each scheduled deployment in prefect.yaml runs one of the flows below instead; it pays
that start once per poll and then, for every tenant (README, "Many tenants"):

1. picks the tenants: those named (``tenants``, or ``tenant`` as event triggers pass it), or on
   a rerun of a failed run the tenants it left unfinished, or else every tenant whose mapping
   file configures the integration and whose credentials blocks exist (flows/tenant_selection.py);
2. on a scheduled poll (no tenants named, no ``since``/``until``, not a dry run) asks each
   tenant's cheap check whether there is anything to do (flows/tenant_checks.py), in plain code;
3. runs each tenant that has work as its own subflow run of the integration's flow, named
   ``<deployment>/<tenant>`` and tagged ``tenant:<tenant>`` (its task runs too), a few at a time
   (``ML_CONNECTOR_TENANT_CONCURRENCY``, default 2: every deployment's run does the same, and
   a Prefect server on SQLite answers "database is locked" when a few dozen subflows write at
   once); a tenant that fails does not stop the others;
4. publishes a table artifact ``<deployment>-tenants`` with one row per tenant (ran, idle,
   failed, not set up), and ends Failed naming the failed tenants when there are any. Retrying
   that run from the UI re-attempts exactly them.

Each tenant's flow is imported only when the run starts, so importing this module stays cheap.
"""

import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

from prefect import flow, get_run_logger, tags, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from .. import integrations
from ..tasks.ops import tenant_tag
from .tenant_selection import Candidate, candidates, record_run, unfinished_tenants

CHECK_THREADS = 8  # tenants checked at once (the checks wait on the network most of their time)
# Emitted once per poll for the tenants found idle: the poll of each is a success without a flow
# run of its own. The event's resource is this flow run; its related resources are the flow and
# one tag tenant:<name> per idle tenant, as a tenant's own flow run relates them, so a per-tenant
# "no completed run" automation (ops/setup.py) that also expects this event stays quiet while
# the tenant is polled and idle.
IDLE_EVENT = "ml-connector.tenants.idle"


def tenant_concurrency() -> int:
    """Tenant subflows run at once by one fan-out run (ML_CONNECTOR_TENANT_CONCURRENCY)."""
    return max(1, int(os.environ.get("ML_CONNECTOR_TENANT_CONCURRENCY", "2")))


@dataclass(frozen=True)
class Fanout:
    """One deployment: the per-tenant flow it runs and the integration that says which tenants
    take part and how to tell an idle one (None: every tenant, always run)."""

    flow_ref: str  # "module:function" of the per-tenant flow
    integration: str | None
    check_idle: bool = True  # scheduled polls skip tenants whose check finds nothing


FANOUTS: dict[str, Fanout] = {
    "sps-to-intacct": Fanout("ml_connector.flows.sps_to_intacct:sps_to_intacct", "sps-intacct"),
    "intacct-to-sps": Fanout("ml_connector.flows.intacct_to_sps:intacct_to_sps", "intacct-sps"),
    "sps-to-qbo": Fanout("ml_connector.flows.sps_to_qbo:sps_to_qbo", "sps-qbo"),
    "qbo-to-sps": Fanout("ml_connector.flows.qbo_to_sps:qbo_to_sps", "qbo-sps"),
    "qbo-master-data": Fanout("ml_connector.flows.qbo_master_data:qbo_master_data", "sps-qbo", check_idle=False),
    "intacct-to-sterling": Fanout("ml_connector.flows.intacct_to_sterling:intacct_to_sterling", "intacct-sterling"),
    "sterling-mailbox": Fanout("ml_connector.flows.sterling_mailbox:sterling_mailbox", "sterling-inbound"),
    "commerce-to-intacct-ap": Fanout("ml_connector.flows.commerce_to_intacct_ap:commerce_to_intacct_ap",
                                     "commerce-intacct-ap"),
    "commerce-ap-vendor-master": Fanout("ml_connector.flows.commerce_ap_vendor_master:commerce_ap_vendor_master",
                                        "commerce-intacct-ap", check_idle=False),
    "commerce-to-intacct-o2c": Fanout("ml_connector.flows.commerce_to_intacct_o2c:commerce_to_intacct_o2c",
                                      "commerce-intacct-o2c"),
    "reconcile": Fanout("ml_connector.flows.reconcile:reconcile_flow", None, check_idle=False),
}


class TenantRunFailed(Exception):
    """A tenant's subflow run ended in another state than Completed."""

    def __init__(self, message: str, flow_run_id: str = "") -> None:
        super().__init__(message, flow_run_id)
        self.message, self.flow_run_id = message, flow_run_id

    def __str__(self) -> str:
        return self.message


@task(cache_policy=NO_CACHE, task_run_name="{deployment}/{tenant}")
def run_tenant(deployment: str, tenant: str, parameters: dict) -> dict:
    """One tenant's run of the integration, as a subflow; raises when it did not complete, so
    this task run is Failed with the subflow's message."""
    fan = FANOUTS[deployment]
    tenant_flow = integrations.load(fan.flow_ref)
    started = datetime.now(UTC)
    # No heartbeat thread of its own: the deployment run's heartbeats stand for the process
    # (the zombie automation watches deployment runs only), and joining that thread at the end
    # of every subflow run cost up to a second of wall time each.
    with tags(tenant_tag(tenant)), temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        state = tenant_flow.with_options(flow_run_name=f"{deployment}/{tenant}")(
            tenant=tenant, **parameters, return_state=True)
    run_id = str(state.state_details.flow_run_id or "")
    if not state.is_completed():
        raise TenantRunFailed(" ".join(f"{state.name}: {state.message or ''}".split())[:300], run_id)
    if fan.integration:
        from ..runtime.tenant import tenant as tenant_resources

        record_run(tenant_resources(tenant).ledger, fan.integration, started)
    try:
        result = state.result(raise_on_failure=False)
    except Exception:  # a subflow state read back from the API holds no result: no counts then
        result = None
    counts = {k: v for k, v in result.items() if isinstance(v, int) and v} if isinstance(result, dict) else {}
    return {"flow_run": run_id, "counts": counts}


def fan_out(deployment: str, tenants: list[str] | None, tenant: str | None, skip_idle: bool, **parameters):
    """Run ``deployment``'s flow for the chosen tenants (module docstring); returns the tally,
    or a Failed state naming the tenants that failed."""
    fan, logger = FANOUTS[deployment], get_run_logger()
    spec = integrations.get(fan.integration) if fan.integration else None
    named = sorted({*(tenants or ()), *([tenant] if tenant else [])})
    rows: list[dict] = []
    if named:
        plan, why = [Candidate(n) for n in named], "named in the run's parameters"
    elif flow_run.run_count > 1 and (again := unfinished_tenants(str(flow_run.id))):
        plan, why = [Candidate(n) for n in again], "failed in the earlier attempt of this run"
    else:
        plan, why = candidates(spec), "scheduled poll"
    ready = [c.name for c in plan if not c.problem]
    rows += [_row(c.name, "not set up" if c.problem.startswith("not set up") else "failed", c.problem) for c in plan
             if c.problem]
    window = any(parameters.get(k) not in (None, False) for k in ("since", "until", "dry_run"))
    if fan.check_idle and skip_idle and why == "scheduled poll" and not window:
        busy = _check_all(spec.name, ready)
        rows += [_row(n, "idle", "nothing to do") for n in ready if busy[n] is None]
        _announce_idle(deployment, [n for n in ready if busy[n] is None], logger)
        ready = [n for n in ready if busy[n] is not None]
    else:
        busy = {n: why for n in ready}
    futures = {n: run_tenant.with_options(tags=[tenant_tag(n)]).submit(deployment, n, parameters) for n in ready}
    for name, future in futures.items():
        future.wait()
        rows.append(_outcome_row(name, future.state, busy[name]))
    return _finish(deployment, sorted(rows, key=lambda r: r["tenant"]), logger)


def _check_all(integration: str, names: list[str]) -> dict[str, str | None]:
    """Each tenant's reason to run (None: idle), checked a few at a time in plain code."""
    from ..runtime.tenant import tenant as tenant_resources
    from .tenant_checks import busy_reason

    def one(name: str) -> str | None:
        return busy_reason(integration, tenant_resources(name))

    with ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="tenant-check") as pool:
        # each check in a copy of this context: Prefect's settings and run context come along
        futures = {n: pool.submit(contextvars.copy_context().run, one, n) for n in names}
        return {n: f.result() for n, f in futures.items()}


def _announce_idle(deployment: str, idle: list[str], logger) -> None:
    """One IDLE_EVENT for every tenant found idle by this poll (none when there is none)."""
    from prefect.context import FlowRunContext
    from prefect.events import emit_event

    context = FlowRunContext.get()
    if not idle or context is None or context.flow_run is None:
        return
    run = context.flow_run
    related = [{"prefect.resource.id": f"prefect.flow.{run.flow_id}", "prefect.resource.role": "flow",
                "prefect.resource.name": deployment}]
    related += [{"prefect.resource.id": f"prefect.tag.{tenant_tag(n)}", "prefect.resource.role": "tag"} for n in idle]
    try:
        emit_event(event=IDLE_EVENT, resource={"prefect.resource.id": f"prefect.flow-run.{run.id}",
                                               "prefect.resource.name": run.name},
                   related=related, payload={"deployment": deployment, "tenants": idle})
    except Exception as exc:  # the table artifact still says it
        logger.warning("could not emit %s: %s", IDLE_EVENT, exc)


def _row(tenant: str, status: str, detail: str, flow_run_id: str = "", what_to_do: str = "") -> dict:
    if not what_to_do and detail.startswith("mapping file"):
        what_to_do = f"fix the tenant's mapping file ({tenant}.yaml); the next poll picks it up"
    elif not what_to_do:
        what_to_do = {"not set up": f"ml-connector setup --tenant {tenant}",
                      "failed": "fix the cause, then Retry this run: it re-attempts the failed tenants"}.get(status, "")
    return {"tenant": tenant, "status": status, "detail": detail, "flow_run": flow_run_id, "what_to_do": what_to_do}


def _outcome_row(tenant: str, state, reason: str) -> dict:
    outcome = state.result(raise_on_failure=False)
    if state.is_completed() and isinstance(outcome, dict):
        counts = ", ".join(f"{k} {v}" for k, v in outcome["counts"].items())[:300]
        return _row(tenant, "ran", f"{reason}; {counts}" if counts else reason, outcome["flow_run"])
    if isinstance(outcome, TenantRunFailed):
        return _row(tenant, "failed", outcome.message, outcome.flow_run_id)
    message = str(outcome) if isinstance(outcome, BaseException) else (state.message or state.name)
    return _row(tenant, "failed", " ".join(f"{type(outcome).__name__}: {message}".split())[:300])


def _finish(deployment: str, rows: list[dict], logger):
    from prefect.artifacts import create_table_artifact

    tally: dict[str, int] = {}
    for row in rows:
        tally[row["status"]] = tally.get(row["status"], 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(tally.items())) or "no tenants"
    try:
        create_table_artifact(key=f"{deployment}-tenants", table=rows,
                              description=f"{deployment}: {summary} (one row per tenant)")
    except Exception as exc:  # the report must never fail the run that already did the work
        logger.warning("could not publish the tenants artifact: %s", exc)
    logger.info("%s: %s", deployment, summary)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        names = "; ".join(f"{r['tenant']} ({r['detail'][:120]})" for r in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        return Failed(message=f"{len(failed)} of {len(rows)} tenants failed: {names}{more}",
                      data={"tenants": len(rows), **tally})
    return {"tenants": len(rows), **tally}


def _runner() -> ThreadPoolTaskRunner:
    return ThreadPoolTaskRunner(max_workers=tenant_concurrency())


# -- the deployments' flows: one per deployment in prefect.yaml, named as it is --------------
# Parameters common to all: ``tenants`` (default: every tenant set up for the integration),
# ``tenant`` (one tenant: what event triggers pass), ``skip_idle`` (scheduled polls skip tenants
# with nothing to do); the rest are passed to each tenant's flow unchanged.


@flow(name="sps-to-intacct", task_runner=_runner())
def sps_to_intacct_tenants(tenants: list[str] | None = None, tenant: str | None = None, since: date | None = None,
                           until: date | None = None, dry_run: bool = False, skip_idle: bool = True):
    """SPS Commerce RSX documents -> Sage Intacct AP bills, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant whose mapping file and blocks set up SPS and Intacct).
        tenant: One tenant (what an event trigger passes); runs together with `tenants`.
        since: Backfill window start (document date); leaves the live cursor alone.
        until: Backfill window end (document date).
        dry_run: Read and map, write nothing.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("sps-to-intacct", tenants, tenant, skip_idle, since=since, until=until, dry_run=dry_run)


@flow(name="intacct-to-sps", task_runner=_runner())
def intacct_to_sps_tenants(tenants: list[str] | None = None, tenant: str | None = None,
                           since: datetime | None = None, until: datetime | None = None, dry_run: bool = False,
                           skip_idle: bool = True):
    """Sage Intacct AR invoices and order acknowledgements -> SPS, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant set up for Intacct and SPS).
        tenant: One tenant (what an event trigger passes); runs together with `tenants`.
        since: Backfill from this WHENMODIFIED; leaves the live cursor alone.
        until: Backfill up to this WHENMODIFIED.
        dry_run: Read and map, write nothing.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("intacct-to-sps", tenants, tenant, skip_idle, since=since, until=until, dry_run=dry_run)


@flow(name="sps-to-qbo", task_runner=_runner())
def sps_to_qbo_tenants(tenants: list[str] | None = None, tenant: str | None = None, skip_idle: bool = True):
    """SPS Commerce RSX orders -> QuickBooks Online purchase orders, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant whose mapping file has a qbo section and blocks for SPS and QBO).
        tenant: One tenant; runs together with `tenants`.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("sps-to-qbo", tenants, tenant, skip_idle)


@flow(name="qbo-to-sps", task_runner=_runner())
def qbo_to_sps_tenants(tenants: list[str] | None = None, tenant: str | None = None, since: datetime | None = None,
                       skip_idle: bool = True):
    """QuickBooks Online invoices (webhooks + CDC) -> SPS, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant set up for QBO and SPS).
        tenant: One tenant (the webhook trigger passes the notified tenant); runs together with `tenants`.
        since: Backfill from this time (CDC, or a query beyond its 30 days); leaves the live cursor alone.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("qbo-to-sps", tenants, tenant, skip_idle, since=since)


@flow(name="qbo-master-data", task_runner=_runner())
def qbo_master_data_tenants(tenants: list[str] | None = None, tenant: str | None = None):
    """QBO vendors and items <-> each tenant's trading partners and item cross-reference.

    Args:
        tenants: Tenants to run (default: every tenant set up for QBO).
        tenant: One tenant; runs together with `tenants`.
    """
    return fan_out("qbo-master-data", tenants, tenant, False)


@flow(name="intacct-to-sterling", task_runner=_runner())
def intacct_to_sterling_tenants(tenants: list[str] | None = None, tenant: str | None = None,
                                since: datetime | None = None, until: datetime | None = None,
                                skip_idle: bool = True):
    """Sage Intacct vendors, AP bills and POs -> IBM Sterling X12, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant with a sterling section and blocks for Intacct and Sterling).
        tenant: One tenant; runs together with `tenants`.
        since: Backfill from this WHENMODIFIED; leaves the live cursors alone.
        until: Backfill up to this WHENMODIFIED.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("intacct-to-sterling", tenants, tenant, skip_idle, since=since, until=until)


@flow(name="sterling-mailbox", task_runner=_runner())
def sterling_mailbox_tenants(tenants: list[str] | None = None, tenant: str | None = None,
                             overdue_after_minutes: float | None = None, skip_idle: bool = True):
    """Sterling partner mailboxes polled for 997s and inbound X12, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant with a sterling section and a Sterling block).
        tenant: One tenant; runs together with `tenants`.
        overdue_after_minutes: Overrides each tenant's 997 deadline for this run.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("sterling-mailbox", tenants, tenant, skip_idle, overdue_after_minutes=overdue_after_minutes)


@flow(name="commerce-to-intacct-ap", task_runner=_runner())
def commerce_to_intacct_ap_tenants(tenants: list[str] | None = None, tenant: str | None = None,
                                   since: datetime | None = None, until: datetime | None = None,
                                   dry_run: bool = False, poll: bool = True, skip_idle: bool = True):
    """Adobe Commerce orders, invoices, credit memos -> Intacct payables, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant with commerce.procure and blocks for Adobe and Intacct).
        tenant: One tenant (the webhook trigger passes the notified tenant); runs together with `tenants`.
        since: Backfill window start (timezone-aware); leaves the live cursors alone.
        until: Backfill window end (timezone-aware).
        dry_run: Read and map, write nothing.
        poll: Read Commerce's changes by cursor; false: only what stored webhook notifications name.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("commerce-to-intacct-ap", tenants, tenant, skip_idle, since=since, until=until,
                   dry_run=dry_run, poll=poll)


@flow(name="commerce-ap-vendor-master", task_runner=_runner())
def commerce_ap_vendor_master_tenants(tenants: list[str] | None = None, tenant: str | None = None):
    """Intacct vendors <-> Adobe Commerce customers, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant with commerce.procure and blocks for Adobe and Intacct).
        tenant: One tenant; runs together with `tenants`.
    """
    return fan_out("commerce-ap-vendor-master", tenants, tenant, False)


@flow(name="commerce-to-intacct-o2c", task_runner=_runner())
def commerce_to_intacct_o2c_tenants(tenants: list[str] | None = None, tenant: str | None = None,
                                    since: datetime | None = None, until: datetime | None = None,
                                    dry_run: bool = False, envelope_size: int = 100, skip_idle: bool = True):
    """Adobe Commerce order to cash -> Intacct AR and inventory, for every tenant (or those named).

    Args:
        tenants: Tenants to run (default: every tenant with commerce.o2c and blocks for Adobe and Intacct).
        tenant: One tenant (the webhook trigger passes the notified tenant); runs together with `tenants`.
        since: Backfill window start (Commerce updated_at); leaves the live cursors alone.
        until: Backfill window end.
        dry_run: Read and map, write nothing.
        envelope_size: Intacct functions per request.
        skip_idle: On a scheduled poll, skip tenants whose cheap check finds nothing to do.
    """
    return fan_out("commerce-to-intacct-o2c", tenants, tenant, skip_idle, since=since, until=until,
                   dry_run=dry_run, envelope_size=envelope_size)


@flow(name="reconcile", task_runner=_runner())
def reconcile_tenants(tenants: list[str] | None = None, tenant: str | None = None,
                      integrations: list[str] | None = None):
    """Source vs target of every configured integration, by natural key, for every tenant (or those named).

    Args:
        tenants: Tenants to reconcile (default: every tenant with a mapping file).
        tenant: One tenant; runs together with `tenants`.
        integrations: Only these integrations (default: every one the tenant configures).
    """
    return fan_out("reconcile", tenants, tenant, False, integrations=integrations)
