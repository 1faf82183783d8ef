"""How a tenant's integration run ends: the state that says whether a person must act, the
report a person reads on the flow run, and the replay a retried run starts with.

A run that leaves documents failed or quarantined ends Failed, so it is red in the run list, the
deployment's activity and the dashboard, and the failed-run automation fires; its message gives
the counts and the first reasons in one line. The counts stay the state's result either way.
Crashes are Prefect's to report: nothing here runs when the flow did not reach its end.

Retrying a Failed run (the UI's Retry) is the replay: the retried run starts by sending back to
received exactly the documents the earlier attempt left failed, so the run's ordinary pending
drain posts them with the current tenant file and credentials. An attempt is either this same
flow run (its run count is above 1) or, for a tenant's subflow of a retried fan-out run, the
earlier subflows of the same tenant and flow under the same parent run (a retried parent runs
its failed tenants as new subflows). Quarantined documents are left alone: they come back only
when their source changes, as on any run.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed, Failed, State

from ..ledger.schema import FAILED, QUARANTINED
from ..runtime.tenant import tenant as tenant_resources
from .ops import artifact_key, attempt_started, publish_report, replay_command, tenant_tag

log = logging.getLogger("ml_connector.tasks.run_state")

FIRST_REASONS = 3  # reasons named in a state message; the table artifact lists every document
REASON_CHARS = 120
_BRACKETED = re.compile(r"\s*\[[^\]]*\]")
_LINE = re.compile(r"\bLine \d+: ", re.IGNORECASE)
RETRY = "Retry this run (after fixing the cause)"


# -- the end of a run ---------------------------------------------------------------------------


def finish_run(tenant: str, integration: str, run_id: str, extra: dict | None = None) -> State:
    """Publish the run's report on the flow run and return the state the flow returns: Failed
    when it left documents failed or quarantined, Completed otherwise; the counts are its data.

    Called from the flow itself (not a task), so the artifacts belong to the flow run."""
    counts = publish_report(tenant, integration, run_id, extra)
    failures = tenant_resources(tenant).ledger.run_failures(integration, run_id, since=attempt_started())
    summary = describe(counts, failures)
    _publish(tenant, integration, report_rows(tenant, integration, failures), summary, counts)
    _log_summary(integration, tenant, summary)
    if counts.get(FAILED) or counts.get(QUARANTINED):
        return Failed(message=summary, data=counts)
    return Completed(message=summary, data=counts)


def describe(counts: dict, failures: list[dict]) -> str:
    """One readable line: ``3 of 20 documents failed, 1 quarantined: <reason> (3); <reason> (1)``
    when a person must act, else what the run did (``20 documents read, 20 posted``)."""
    failed, quarantined = counts.get(FAILED, 0), counts.get(QUARANTINED, 0)
    if not failed and not quarantined:
        return _done(counts)
    total = max(counts.get("read", 0), failed + quarantined + counts.get("posted", 0) + counts.get("skipped", 0))
    head = f"{failed} of {total} documents failed" if failed else f"{quarantined} of {total} documents quarantined"
    if failed and quarantined:
        head += f", {quarantined} quarantined"
    reasons = Counter(_cause(f) for f in failures)
    named = "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common(FIRST_REASONS))
    more = len(reasons) - FIRST_REASONS
    return f"{head}: {named}" + (f"; and {more} more reasons" if more > 0 else "")


def _done(counts: dict) -> str:
    words = [f"{counts.get('read', 0)} documents read"]
    words += [f"{counts[k]} {label}" for k, label in (("posted", "posted"), ("duplicate", "duplicates"),
                                                     ("skipped", "skipped")) if counts.get(k)]
    return ", ".join(words)


def _reason(failure: dict) -> str:
    text = " ".join((failure.get("reason") or "no reason recorded").split())
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


def _cause(failure: dict) -> str:
    """The reason without what differs between documents of one cause (the vendor's support
    id, the line number, the advice after the first sentence), so a message groups them."""
    text = _BRACKETED.sub("", " ".join((failure.get("reason") or "no reason recorded").split()))
    text = _LINE.sub("", text.split(". ")[0]).strip().rstrip(".")
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


def _log_summary(integration: str, tenant: str, summary: str) -> None:
    from prefect import get_run_logger

    get_run_logger().info("%s for %s: %s", integration, tenant, summary)


# -- the report on the flow run -----------------------------------------------------------------


def report_rows(tenant: str, integration: str, failures: list[dict]) -> list[dict]:
    """One row per document that needs a person, every row with the same columns (Prefect takes
    a table's columns from its first row)."""
    return [{
        "document": f["natural_key"],
        "type": f["doc_type"],
        "partner": f["partner"] or "",
        "status": f["event"],
        "reason": _reason(f),
        "what to do": _what_to_do(tenant, integration, f),
    } for f in failures]


def _what_to_do(tenant: str, integration: str, failure: dict) -> str:
    command = replay_command(tenant, integration, failure["id"])
    if failure["event"] == FAILED:
        return f"{RETRY}, or: {command}"
    # A retry leaves quarantined input alone: fix the mapping or the source, then replay it.
    return f"fix the mapping or source, then: {command}"


def _publish(tenant: str, integration: str, rows: list[dict], summary: str, counts: dict) -> None:
    try:
        create_table_artifact(
            key=artifact_key(tenant, f"{integration}-run-report"), table=rows,
            description=f"{integration} for tenant {tenant}: the documents that need a person ({summary})")
        create_markdown_artifact(
            key=artifact_key(tenant, f"{integration}-run-summary"), markdown=_summary_markdown(
                tenant, integration, summary, counts),
            description=f"{integration} for tenant {tenant}: what the run did")
    except Exception as exc:  # the report must never fail the run that already did the work
        log.warning("could not publish the run report artifacts: %s", exc)


def _summary_markdown(tenant: str, integration: str, summary: str, counts: dict) -> str:
    lines = [f"## {integration} for {tenant}", "", summary, "", "| what | documents |", "|---|---:|"]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in counts.items() if isinstance(v, int)]
    if counts.get(FAILED):
        lines += ["", (f"Failed documents are re-attempted by **{RETRY}**: the retried run posts them with "
                       "the current tenant file and credentials.")]
    if counts.get(QUARANTINED):
        lines += ["", ("Quarantined documents wait for a fix of their mapping or source; the table names "
                       "the command that replays each.")]
    return "\n".join(lines)


# -- the start of a retried run -----------------------------------------------------------------


@task
def replay_earlier_attempts(tenant: str, integration: str, run_id: str) -> int:
    """Send back to received the documents earlier attempts of this run left failed (see the
    module docstring); returns how many. On a first attempt nothing is found."""
    ledger = tenant_resources(tenant).ledger
    attempts = [run_id, *_earlier_subflows(tenant, run_id)]
    ids = [d.id for run in attempts for d in ledger.documents(integration, status=FAILED, run_id=run)]
    if not ids:
        return 0
    moved = ledger.requeue(integration, ids, run_id, reason="retry of a failed run")
    log.info("retry of a failed run: %d documents it left failed are re-attempted", moved)
    return moved


def _earlier_subflows(tenant: str, run_id: str) -> list[str]:
    """The earlier subflow runs of this tenant and flow under this run's parent, when the parent
    is itself a retry (run count above 1); none otherwise."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId, FlowRunFilterTags

    try:
        this = uuid.UUID(run_id)
    except ValueError:  # not a Prefect run
        return []
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(this)
        if run.parent_task_run_id is None:
            return []
        parent_id = client.read_task_run(run.parent_task_run_id).flow_run_id
        if parent_id is None or client.read_flow_run(parent_id).run_count <= 1:
            return []
        flt = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]),
                            tags=FlowRunFilterTags(all_=[tenant_tag(tenant)]))
        siblings = client.read_flow_runs(flow_run_filter=flt, limit=200)
    return [str(r.id) for r in siblings if r.id != this and r.flow_id == run.flow_id]


# -- the run's name -----------------------------------------------------------------------------


def run_name(integration: str | None = None, what: str | None = None):
    """A ``flow_run_name`` callable: ``<integration>/<tenant>/<window or "live">``, so the run
    list says whose run it is and what it read (``sps-intacct/acme/2024-01-01..2024-02-01``).
    ``integration`` None: the run's ``integration`` parameter; ``what`` replaces the window."""

    def name() -> str:
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        parameters = (context.parameters if context else None) or {}
        label = integration or parameters.get("integration", "")
        return f"{label}/{parameters.get('tenant', '')}/{what or window(parameters)}"

    return name


def window(parameters: dict) -> str:
    """``live``, or the backfill window ``since..until`` (an open end left empty)."""
    since, until = parameters.get("since"), parameters.get("until")
    if since is None and until is None:
        return "live"
    return f"{_moment(since)}..{_moment(until)}"


def _moment(value) -> str:
    from datetime import datetime

    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(timespec="minutes")
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
