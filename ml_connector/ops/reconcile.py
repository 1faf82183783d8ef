"""``ml-connector reconcile``: compare source and target by natural key, and each document's
final state against its latest revision, with pandas.

What to compare is each integration's own: its pipeline's ``reconcile`` (engine/pipeline.py)
returns :class:`Frames` (the documents that should be in the target, the records found there,
the key joining them). This module judges every integration the same way:

* **missing**: a document that should be in the target (its latest revision does not cancel
  it) with no record there;
* **duplicated**: a key the target holds more than once (records the target shows cancelled,
  such as a reversed bill, do not count when the frames say which those are);
* **stale**: the target behind the document's latest revision. Either the ledger says so
  (``latest_revisions(stale_only=True)``: a change, cancellation or replacement not applied
  yet, or one waiting for a person), or the target's record says so: a cancelled document
  still live there, or an amount other than the latest revision's.

``changed`` and ``cancelled`` count the documents whose latest revision is a change (an update
or replacement, or any later revision that does not cancel) or a cancellation.

Every difference is written to a CSV and published as a table artifact; the command exits
non-zero when there is any. Everything is one tenant's: its ledger rows (the ledger handle is
scoped to it), its target and source systems (its credentials blocks), and its artifact and
CSV names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ..runtime.tenant import Tenant

CANCEL = "cancel"
CHANGES = ("update", "replace")
PROBLEMS = ("missing", "duplicated", "stale")


@dataclass(frozen=True)
class Frames:
    """What one integration's reconciliation compares.

    ``source``: a row per document that should be in the target, by ``key``; optional columns
    ``ledger_id`` (the ledger document it is: its revisions tell whether it is cancelled),
    ``cancelled`` (its latest revision cancels it, when the source itself says so) and
    ``amount`` (its latest revision's total, a Decimal; None: not compared).
    ``target``: a row per record found in the target, by ``key``; optional ``cancelled`` (the
    record is voided, reversed or closed in place) and ``amount`` (a Decimal).
    """

    source: pd.DataFrame
    target: pd.DataFrame
    key: list[str]


def revision_state(ledger, integration: str) -> pd.DataFrame:
    """Each ledger document's latest revision: ledger_id, revision, applied_revision, effect,
    status and whether its target is behind (``stale``)."""
    return revision_frame(ledger.latest_revisions(integration))


def revision_frame(latest: list) -> pd.DataFrame:
    """:class:`~ml_connector.ledger.reads.LatestRevision` rows as a frame (see :func:`revision_state`)."""
    rows = [{"ledger_id": r.id, "doc_type": r.doc_type, "partner": r.partner, "natural_key": r.natural_key,
             "revision": r.revision, "applied_revision": r.applied_revision, "effect": r.effect, "status": r.status,
             "stale": r.stale} for r in latest]
    return pd.DataFrame(rows, columns=["ledger_id", "doc_type", "partner", "natural_key", "revision",
                                       "applied_revision", "effect", "status", "stale"])


def _cancelled(source: pd.DataFrame, revisions: pd.DataFrame) -> pd.Series:
    """Whether each source document's latest revision cancels it: the source's own column, else
    the ledger's latest effect of its ``ledger_id``."""
    if "cancelled" in source:
        return source["cancelled"].fillna(False).astype(bool)
    if "ledger_id" not in source or not len(revisions):
        return pd.Series(False, index=source.index)
    effect = source["ledger_id"].map(revisions.set_index("ledger_id")["effect"])
    return (effect == CANCEL).fillna(False).astype(bool)


def _amounts_differ(wanted, found: list) -> bool:
    """A live target record whose amount is not the latest revision's (None: not compared)."""
    if wanted is None or (isinstance(wanted, float) and pd.isna(wanted)):
        return False
    return any(a is not None and not (isinstance(a, float) and pd.isna(a)) and Decimal(str(a)) != Decimal(str(wanted))
               for a in found)


def compare(frames: Frames, revisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of discrepancy (``problem``: missing, duplicated or stale, with a ``reason``):
    by key between source and target, and each document's final state against its latest
    revision (``revisions``: :func:`revision_state` of the integration; None: by key only)."""
    key = frames.key
    revisions = revision_frame([]) if revisions is None else revisions
    source = frames.source.drop_duplicates(key).reset_index(drop=True)
    source = source.assign(cancelled=_cancelled(source, revisions))
    target = frames.target.copy()
    target["live"] = ~target["cancelled"].fillna(False).astype(bool) if "cancelled" in target else True
    amounts: dict[tuple, list] = {}
    if "amount" in target:
        for row in target[target["live"]].itertuples(index=False):
            amounts.setdefault(tuple(getattr(row, k) for k in key), []).append(row.amount)
    counted = target.groupby(key).agg(in_target=("live", "size"), live=("live", "sum")).reset_index() \
        if len(target) else pd.DataFrame(columns=[*key, "in_target", "live"])
    merged = source.merge(counted, on=key, how="left").fillna({"in_target": 0, "live": 0})
    merged[["in_target", "live"]] = merged[["in_target", "live"]].astype(int)
    marks = "cancelled" in frames.target
    missing = merged[(merged["live"] == 0) & ~merged["cancelled"]].assign(
        problem="missing", reason="not in the target")
    duplicated = merged[merged["live" if marks else "in_target"] > 1].assign(
        problem="duplicated", reason="in the target more than once")
    stale = _stale(merged, revisions, key, amounts if "amount" in source else None)
    return pd.concat([frame for frame in (missing, duplicated, stale) if len(frame)] or [merged.head(0).assign(
        problem=pd.Series(dtype=str), reason=pd.Series(dtype=str))], ignore_index=True)


def _stale(merged: pd.DataFrame, revisions: pd.DataFrame, key: list[str], amounts: dict[tuple, list] | None
           ) -> pd.DataFrame:
    """One row per document whose target is behind its latest revision, with every reason found:
    the ledger's (a revision not applied) first, then what the target's record shows."""
    found: dict = {}
    by_ledger = {r["ledger_id"]: r for r in merged.to_dict("records")} if "ledger_id" in merged else {}
    for row in (revisions[revisions["stale"]] if len(revisions) else revisions).to_dict("records"):
        known = by_ledger.get(row["ledger_id"], {})
        found[("ledger", row["ledger_id"])] = ({**row, **known}, [
            f"the target holds revision {row['applied_revision']} of {row['revision']} ({row['effect'] or 'update'}), "
            f"the document is {row['status']}"])
    for row in merged.to_dict("records"):
        where = tuple(row[k] for k in key)
        reason = None
        if row["cancelled"] and row["live"] > 0:
            reason = "cancelled at the source, still live in the target"
        elif amounts is not None and _amounts_differ(row.get("amount"), amounts.get(where, [])):
            shown = ", ".join(str(a) for a in amounts[where])
            reason = f"the target's amount {shown} is not the latest revision's {row['amount']}"
        if reason is None:
            continue
        ident = ("ledger", row["ledger_id"]) if row.get("ledger_id") is not None and not pd.isna(row["ledger_id"]) \
            else ("key", where)
        found.setdefault(ident, (row, []))[1].append(reason)
    return pd.DataFrame([{**row, "problem": "stale", "reason": "; ".join(reasons)} for row, reasons in found.values()])


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralize cells a spreadsheet would run as a formula (CSV injection): document numbers
    come from trading partners, and this CSV is opened in Excel by the people who act on it."""
    def cell(value):
        return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    return frame.apply(lambda column: column.map(cell)) if len(frame) else frame


def frames_of(res: Tenant, integration: str) -> Frames:
    """The integration's frames, from its pipeline's ``reconcile`` (through the catalogue)."""
    from ..integrations import get

    reconcile_of = get(integration).pipeline.reconcile
    if reconcile_of is None:
        raise ValueError(f"the {integration} pipeline has no reconciliation")
    return reconcile_of(res)


def summarize(res: Tenant, integration: str) -> tuple[dict, pd.DataFrame]:
    """(the summary, the discrepancy rows) of one integration, nothing written."""
    frames = frames_of(res, integration)
    revisions = revision_state(res.ledger, integration)
    problems = compare(frames, revisions)
    source = frames.source.drop_duplicates(frames.key)
    counts = {p: int((problems["problem"] == p).sum()) for p in PROBLEMS}
    return {
        "tenant": res.name,
        "integration": integration,
        "source": int(len(source)),
        "present": int(len(source) - counts["missing"]),
        **counts,
        **revision_counts(revisions),
    }, problems


def revision_counts(revisions: pd.DataFrame) -> dict[str, int]:
    """``changed``: documents whose latest revision changes or replaces them (a change that
    arrived before its original included); ``cancelled``: those whose latest revision cancels them."""
    if not len(revisions):
        return {"changed": 0, "cancelled": 0}
    effect = revisions["effect"]
    changed = effect.isin(CHANGES) | ((revisions["revision"] > 1) & ~effect.isin([CANCEL, "needs_person"]))
    return {"changed": int(changed.sum()), "cancelled": int((effect == CANCEL).sum())}


def reconcile(res: Tenant, integration: str, out_dir: Path) -> dict:
    """Compare one integration; write the discrepancies CSV; return the summary."""
    summary, problems = summarize(res, integration)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / f"reconcile-{res.name}-{integration}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv"
    spreadsheet_safe(problems).to_csv(csv, index=False)
    return {**summary, "csv": str(csv)}


def publish(tenant: str, summaries: list[dict]) -> None:
    """The tenant's reconciliation table artifact (called inside the reconcile flow)."""
    from prefect.artifacts import create_table_artifact

    from ..tasks.ops import artifact_key

    create_table_artifact(key=artifact_key(tenant, "reconciliation"), table=summaries,
                          description=f"ml-connector reconcile for tenant {tenant}: source vs target by natural key, "
                                      "and each document against its latest revision (stale)")
