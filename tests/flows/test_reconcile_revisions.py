"""Reconciliation compares final state: each document's target against its latest revision.

SPS -> Intacct on the real engine, ledger and emulators (tests/flows/conftest.py): a change or a
cancellation the ledger holds but Intacct does not reflect counts as stale, as does a bill whose
amount is not the latest revision's; applied revisions are counted as changed and cancelled,
and a cancelled bill gone from Intacct is not missing. The judging rules on their own are in
tests/ops/test_reconcile_compare.py."""

from __future__ import annotations

import csv
from decimal import Decimal

from ml_connector.cli import main
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.mappings.sps_rows import unwrap
from ml_connector.ops.reconcile import reconcile
from ml_connector.runtime.tenant import tenant
from ml_connector.sandbox.generator import GeneratedDoc, generate, revise
from tests.flows.test_sps_intacct_revisions import bills_of

IN = "sps-intacct"


def orders(count: int) -> list[GeneratedDoc]:
    return [d for d in generate(40, seed=21) if d.doc_type == "order"][:count]


def drop(world, *docs: GeneratedDoc) -> None:
    for doc in docs:
        world.sps.put_out(doc.filename, doc.content)


def read_only(world, *docs: GeneratedDoc) -> None:
    """The ledger records ``docs`` (as a run's read step does) and nothing is written to Intacct:
    the state a run leaves when it dies after reading, or a target someone changed back."""
    for doc in docs:
        rows, _ = unwrap(doc.filename, doc.content, world.mapping)
        world.ledger.ingest(IN, rows, "read-only")


def problems(summary: dict) -> list[dict]:
    with open(summary["csv"], newline="") as handle:
        return list(csv.DictReader(handle))


def figures(summary: dict) -> dict:
    return {k: summary[k] for k in ("source", "missing", "duplicated", "stale", "changed", "cancelled")}


def test_revisions_not_in_the_target_are_stale_until_applied(world, tmp_path):
    changed, cancelled, kept = orders(3)
    drop(world, changed, cancelled, kept)
    sps_to_intacct(tenant="demo")
    res = tenant("demo")
    assert figures(reconcile(res, IN, tmp_path)) == {"source": 3, "missing": 0, "duplicated": 0, "stale": 0,
                                                     "changed": 0, "cancelled": 0}

    # the change and the cancellation are in the ledger, Intacct still holds the originals
    read_only(world, revise(changed, "04", Decimal(5)), revise(cancelled, "01"))
    summary = reconcile(res, IN, tmp_path)
    assert figures(summary) == {"source": 3, "missing": 0, "duplicated": 0, "stale": 2, "changed": 1, "cancelled": 1}
    reasons = {row["record_id"]: row["reason"] for row in problems(summary)}
    assert reasons[f"PO-{cancelled.number}"] == ("the target holds revision 1 of 2 (cancel), the document is received; "
                                                 "cancelled at the source, still live in the target")
    assert reasons[f"PO-{changed.number}"].startswith("the target holds revision 1 of 2 (update), the document is ")
    assert "is not the latest revision" in reasons[f"PO-{changed.number}"]
    assert main(["reconcile", "--tenant", "demo", "--integration", IN, "--out", str(tmp_path)]) == 1

    # a run applies both: nothing stale, the cancelled bill gone from Intacct is not missing
    sps_to_intacct(tenant="demo")
    assert figures(reconcile(res, IN, tmp_path)) == {"source": 3, "missing": 0, "duplicated": 0, "stale": 0,
                                                     "changed": 1, "cancelled": 1}
    assert main(["reconcile", "--tenant", "demo", "--integration", IN, "--out", str(tmp_path)]) == 0


def test_a_bill_whose_amount_is_not_the_latest_revisions_is_stale(world, tmp_path):
    changed, kept = orders(2)
    drop(world, changed, kept)
    sps_to_intacct(tenant="demo")
    [before] = bills_of(world, changed)
    drop(world, revise(changed, "04", Decimal(7)))
    sps_to_intacct(tenant="demo")
    [after] = bills_of(world, changed)
    assert after["total"] > before["total"]
    res = tenant("demo")
    assert reconcile(res, IN, tmp_path)["stale"] == 0

    # someone puts the old amount back in Intacct: the ledger says applied, the bill says otherwise
    with world.intacct.lock:
        record = next(r for r in world.intacct.store.records("APBILL") if r["RECORDNO"] == after["RECORDNO"])
        record["TRX_TOTALENTERED"] = record["TOTALENTERED"] = format(before["total"], "f")
    summary = reconcile(res, IN, tmp_path)
    assert (summary["stale"], summary["missing"], summary["changed"]) == (1, 0, 1)
    [row] = problems(summary)
    assert row["record_id"] == f"PO-{changed.number}" and row["problem"] == "stale"
    assert row["reason"] == (f"the target's amount {format(before['total'], 'f')} is not the latest revision's "
                             f"{after['total']}")
