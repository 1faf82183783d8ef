"""``ml-connector reconcile``: compare source and target by natural key, with pandas.

* sps-intacct: every document the ledger says should be in Intacct (received, posting,
  posted or failed: everything read that was not quarantined or routed nowhere) against the
  APBILLs of the tenant's vendors, by (vendor, bill number).
* intacct-sps: every Intacct AR invoice of a mapped customer against the ledger's record of
  what was sent to SPS (SPS deletes the files it processed, so the ledger is the evidence).

Missing and duplicated keys are written to a CSV and published as a table artifact; the
command exits non-zero when there are any. Everything is one tenant's: its ledger rows (the
ledger handle is scoped to it), its target and source systems (its credentials blocks), and
its artifact and CSV names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..ledger.schema import QUARANTINED, SKIPPED
from ..mappings.sps_to_intacct import parse_bill_ref
from ..runtime.tenant import Tenant

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def compare(source: pd.DataFrame, target: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Rows of discrepancy: keys missing from the target, and keys present more than once."""
    counts = target.groupby(key).size().rename("in_target").reset_index() if len(target) else \
        pd.DataFrame(columns=[*key, "in_target"])
    merged = source.drop_duplicates(key).merge(counts, on=key, how="left").fillna({"in_target": 0})
    merged["in_target"] = merged["in_target"].astype(int)
    missing = merged[merged["in_target"] == 0].assign(problem="missing")
    duplicated = merged[merged["in_target"] > 1].assign(problem="duplicated")
    return pd.concat([missing, duplicated], ignore_index=True)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralize cells a spreadsheet would run as a formula (CSV injection): document numbers
    come from trading partners, and this CSV is opened in Excel by the people who act on it."""
    def cell(value):
        return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    return frame.apply(lambda column: column.map(cell)) if len(frame) else frame


def bills_frames(res: Tenant) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [r for r in res.ledger.documents("sps-intacct") if r.status not in (QUARANTINED, SKIPPED) and r.target_ref]
    source = pd.DataFrame(
        [dict(zip(("vendor", "record_id"), parse_bill_ref(r.target_ref)), ledger_id=r.id, status=r.status) for r in rows],
        columns=["vendor", "record_id", "ledger_id", "status"],
    )
    vendors = sorted({p.vendor_id for p in res.mapping.partners.values()})
    bills = res.intacct().list_bills(vendors)
    target = pd.DataFrame([{"vendor": b["VENDORID"], "record_id": b["RECORDID"]} for b in bills],
                          columns=["vendor", "record_id"])
    return source, target


def invoices_frames(res: Tenant) -> tuple[pd.DataFrame, pd.DataFrame]:
    mapped = {p.customer_id: pid for pid, p in res.mapping.partners.items() if p.customer_id}
    invoices = [inv for page in res.intacct().iter_ar_invoices(EPOCH, include_lines=False) for inv in page]
    source = pd.DataFrame([{"partner": mapped[i.customer_id], "invoice": i.record_id} for i in invoices
                           if i.customer_id in mapped], columns=["partner", "invoice"])
    sent = [r for r in res.ledger.documents("intacct-sps", status="posted", doc_type="invoice")]
    target = pd.DataFrame([{"partner": r.partner, "invoice": r.natural_key} for r in sent], columns=["partner", "invoice"])
    return source, target


def reconcile(res: Tenant, integration: str, out_dir: Path) -> dict:
    """Compare one integration; write the discrepancies CSV; return the summary."""
    if integration == "sps-intacct":
        source, target, key = *bills_frames(res), ["vendor", "record_id"]
    elif integration == "intacct-sps":
        source, target, key = *invoices_frames(res), ["partner", "invoice"]
    elif integration in ("sps-qbo", "qbo-sps"):
        from .reconcile_qbo import qbo_frames

        source, target, key = qbo_frames(res, integration)
    elif integration in ("intacct-sterling", "sterling-inbound"):
        from .reconcile_sterling import sterling_frames

        source, target, key = sterling_frames(res, integration)
    elif integration == "commerce-intacct-o2c":
        from .reconcile_commerce_o2c import o2c_frames

        source, target, key = o2c_frames(res)
    elif integration == "commerce-intacct-ap":
        from .reconcile_commerce_ap import commerce_ap_frames

        source, target, key = commerce_ap_frames(res)
    else:
        raise ValueError(f"reconcile does not know {integration!r}")
    problems = compare(source, target, key)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / f"reconcile-{res.name}-{integration}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.csv"
    spreadsheet_safe(problems).to_csv(csv, index=False)
    return {
        "tenant": res.name,
        "integration": integration,
        "source": int(len(source.drop_duplicates(key))),
        "present": int(len(source.drop_duplicates(key)) - (problems["problem"] == "missing").sum()),
        "missing": int((problems["problem"] == "missing").sum()),
        "duplicated": int((problems["problem"] == "duplicated").sum()),
        "csv": str(csv),
    }


def publish(tenant: str, summaries: list[dict]) -> None:
    """The tenant's reconciliation table artifact (called inside the reconcile flow)."""
    from prefect.artifacts import create_table_artifact

    from ..tasks.ops import artifact_key

    create_table_artifact(key=artifact_key(tenant, "reconciliation"), table=summaries,
                          description=f"ml-connector reconcile for tenant {tenant}: source vs target by natural key")
