"""Replay: post chosen ledger documents again from their stored payload.

After a fix to data or mapping, an operator replays documents by id, by status (all failed,
all quarantined), or all the failures of one flow run. Each is re-mapped with the current
mapping file and posted with a new idempotency generation: its earlier write definitely did
not happen (it failed or never left), so a new key cannot duplicate it. Posted documents
are never replayed; asking for one is reported, not done.

A replay acts on one tenant's documents. An id that is not one of them (another tenant's, or
no document at all) refuses the whole request, so a mistyped id or tenant changes nothing.

A resend (``resend=True``) sends posted documents again on purpose: an invoice the retailer
lost, a document the partner rejected. Only when asked, by id, naming who asks and why (both
kept in the ledger as the document's ``resend`` event). The integration's pipeline says first
whether its target would double the document (``Pipeline.resend``, mappings/resend.py); any
refusal refuses the whole request in one line and nothing moves. The write then goes out under
a new idempotency generation, so the target takes it as a new one and not a retry of the last.
"""

from prefect import flow, get_run_logger
from prefect.states import State

from .. import integrations
from ..engine import current_run_id
from ..ledger.schema import FAILED, POSTED
from ..mappings.resend import named
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import finish_run, run_name


@flow(name="replay", flow_run_name=run_name(what="replay"))
def replay(
    integration: str,
    tenant: str,
    ids: list[int] | None = None,
    status: str | None = None,
    flow_run_id: str | None = None,
    dry_run: bool = False,
    resend: bool = False,
    who: str | None = None,
    why: str | None = None,
) -> State | dict:
    """Re-post ledger documents of ``integration`` chosen by ids, status, or failing run.

    Args:
        integration: The integration whose documents to replay (sps-intacct, intacct-sps, ...).
        tenant: The tenant whose ledger holds the documents.
        ids: Ledger document ids to replay.
        status: Replay every document in this status (failed, quarantined); default failed.
        flow_run_id: Replay every document this flow run failed or quarantined.
        dry_run: Say what would be replayed (or resent), change nothing.
        resend: Send the posted documents ``ids`` again on purpose (a lost or rejected
            document), under a new idempotency generation; refused where the target would
            double them.
        who: Who asks for the resend (required with resend; the CLI fills in the OS user).
        why: Why they are resent, one line (required with resend), kept in the ledger.
    """
    spec = integrations.get(integration)
    run_id = current_run_id()
    ledger = tenant_resources(tenant).ledger
    if ids and (reason := refusal(ledger, integration, ids)):
        raise ValueError(reason)
    if resend:
        if flow_run_id:  # the deployment's status default is ignored, a run's failures are not resent
            raise ValueError("a resend names its documents by ids, not by a flow run: nothing resent")
        return resend_posted(integration, tenant, ids or [], who, why, dry_run=dry_run)
    selected = select(ledger, integration, ids=ids, status=status, flow_run_id=flow_run_id)
    refused = [d.id for d in selected if d.status == POSTED]
    todo = [d.id for d in selected if d.status != POSTED]
    logger = get_run_logger()
    if refused:
        logger.warning("not replaying %d posted documents (resend sends one again on purpose): %s", len(refused),
                       refused[:20])
    if dry_run:
        return {"selected": len(selected), "would_replay": len(todo), "posted_refused": len(refused)}
    moved = ledger.requeue(integration, todo, run_id, reason="replay")
    if moved:
        spec.pipeline.post(tenant, todo, run_id)
    return finish_run(tenant, integration, run_id, extra={"replayed": moved, "posted_refused": len(refused)})


def select(ledger, integration: str, *, ids=None, status=None, flow_run_id=None) -> list:
    """The documents a replay request names. With nothing named, every failed document."""
    if flow_run_id:
        failed_ids = [f["id"] for f in ledger.run_failures(integration, flow_run_id, limit=100_000)]
        return ledger.documents(integration, ids=failed_ids)
    if ids:
        return ledger.documents(integration, ids=ids)
    return ledger.documents(integration, status=status or FAILED)


def refusal(ledger, integration: str, ids: list[int]) -> str | None:
    """Why ``ids`` cannot all be replayed as ``integration`` documents of the ledger's tenant
    (None: they can). The other tenant is not named: the operator needs only to know the id is
    not this tenant's."""
    mine = {d.id for d in ledger.documents(integration, ids=ids)}
    for doc_id in ids:
        if doc_id in mine:
            continue
        owner = ledger.tenant_of(doc_id)
        if owner is None:
            return f"document {doc_id} is not in the ledger"
        if owner != ledger.tenant:
            return f"document {doc_id} belongs to another tenant, not {ledger.tenant}"
        other = next((name for name in integrations.INTEGRATIONS if ledger.documents(name, ids=[doc_id])), None)
        return f"document {doc_id} is not a {integration} document" + (f" but a {other} one" if other else "")
    return None


def resend_posted(integration: str, tenant: str, ids: list[int], who: str | None, why: str | None, *,
                  dry_run: bool = False) -> State | dict:
    """Resend the posted documents ``ids`` (checked to be this tenant's ``integration`` ones):
    refused in one line (ValueError) when the request or the target says no, else moved back to
    received under a new generation, audited, and posted with the pipeline's post task."""
    spec = integrations.get(integration)
    ledger = tenant_resources(tenant).ledger
    if reason := resend_refusal(ledger, integration, ids, who, why):
        raise ValueError(reason)
    docs = ledger.documents(integration, ids=ids)
    if dry_run:
        return {"would_resend": len(docs), "documents": [named(d) for d in docs]}
    run_id = current_run_id()
    moved = ledger.resend(ids, who or "", why or "", run_id=run_id)
    get_run_logger().info("resending %d %s documents for %s: %s", moved, integration, who, why)
    spec.pipeline.post(tenant, list(ids), run_id)
    return finish_run(tenant, integration, run_id, extra={"resent": moved})


def resend_refusal(ledger, integration: str, ids: list[int], who: str | None, why: str | None) -> str | None:
    """Why the resend of ``ids`` is refused, in one line (None: it is not). Asked before
    anything moves: the request (ids, who, why), each document (posted), then the
    integration's target (``Pipeline.resend``; an integration that says nothing never resends)."""
    if not ids:
        return "a resend names its documents by id (--id): nothing resent"
    if not (who or "").strip():
        return "a resend names who asks for it (who; the CLI takes the OS user): nothing resent"
    if not (why or "").strip():
        return 'a resend says why, in one line (why, --why "retailer lost it"): nothing resent'
    if "\n" in (who or "") + (why or ""):
        return "a resend's who and why are one line each: nothing resent"
    if reason := refusal(ledger, integration, ids):
        return reason
    rule = integrations.get(integration).pipeline.resend
    for doc in ledger.documents(integration, ids=ids):
        if doc.status != POSTED:
            return (f"{named(doc)} is {doc.status}, not posted: only a posted document is resent "
                    f"(replay sends a {doc.status} one again): nothing resent")
        if rule is None:
            return f"{named(doc)}: {integration} does not resend (its target was not said to take one): nothing resent"
        if reason := rule(doc):
            return reason
    return None
