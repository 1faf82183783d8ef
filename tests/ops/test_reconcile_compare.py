"""How ops/reconcile.py judges an integration's frames against its documents' latest revisions:
missing, duplicated and stale, the same for every integration (frames made by hand here; the
integrations' own frames on real worlds are in tests/flows/test_reconcile_revisions.py)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from ml_connector.integrations import INTEGRATIONS
from ml_connector.ledger.reads import LatestRevision
from ml_connector.ops.reconcile import Frames, compare, revision_frame
from ml_connector.ops.reconcile_ref import Reconciliation

KEY = ["vendor", "record_id"]


def latest(doc_id: int, revision: int, applied: int | None, effect: str | None, status: str = "posted"):
    return LatestRevision(id=doc_id, doc_type="order", partner="P", natural_key=f"N{doc_id}", revision=revision,
                          applied_revision=applied, effect=effect, status=status, target_id=f"R{doc_id}")


def source(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(["vendor", "record_id", "ledger_id", "amount"], row, strict=True)) for row in rows],
                        columns=["vendor", "record_id", "ledger_id", "amount"])


def target(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(["vendor", "record_id", "cancelled", "amount"], row, strict=True)) for row in rows],
                        columns=["vendor", "record_id", "cancelled", "amount"])


def judged(problems: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in problems.to_dict("records"):
        out.setdefault(row["problem"], []).append(row["record_id"])
    return {k: sorted(v) for k, v in out.items()}


def test_the_final_state_is_judged_against_the_latest_revision():
    frames = Frames(
        source(("V", "PO-1", 1, Decimal("10.00")),   # in place, right amount
               ("V", "PO-2", 2, Decimal("25.00")),   # changed: the target still has the old amount
               ("V", "PO-3", 3, None),               # cancelled, gone from the target: fine
               ("V", "PO-4", 4, None),               # cancelled, reversed in the target: fine
               ("V", "PO-5", 5, None),               # cancelled, still live in the target
               ("V", "PO-6", 6, Decimal("5")),       # never reached the target
               ("V", "PO-7", 7, Decimal("7.00"))),   # there twice
        target(("V", "PO-1", False, Decimal("10.0")), ("V", "PO-2", False, Decimal("20.00")),
               ("V", "PO-4", True, Decimal("3.00")), ("V", "PO-5", False, Decimal("4.00")),
               ("V", "PO-7", False, Decimal("7.00")), ("V", "PO-7", False, Decimal("7.00")),
               ("V", "PO-8", True, Decimal("1.00")), ("V", "PO-8", False, Decimal("1.00"))),
        KEY)
    revisions = revision_frame([latest(1, 1, 1, "create"), latest(2, 2, 2, "update"), latest(3, 2, 2, "cancel"),
                                latest(4, 2, 2, "cancel"), latest(5, 2, 2, "cancel"), latest(6, 1, None, "create",
                                                                                             status="failed"),
                                latest(7, 1, 1, None)])
    problems = compare(frames, revisions)
    assert judged(problems) == {"missing": ["PO-6"], "duplicated": ["PO-7"], "stale": ["PO-2", "PO-5"]}
    reasons = {r["record_id"]: r["reason"] for r in problems.to_dict("records") if r["problem"] == "stale"}
    assert reasons == {"PO-2": "the target's amount 20.00 is not the latest revision's 25.00",
                       "PO-5": "cancelled at the source, still live in the target"}


def test_a_revision_the_ledger_has_not_applied_is_stale_once_with_every_reason():
    frames = Frames(source(("V", "PO-1", 1, Decimal("30")), ("V", "PO-2", 2, None), ("V", "PO-3", 3, Decimal("9"))),
                    target(("V", "PO-1", False, Decimal("20")), ("V", "PO-2", False, Decimal("2")),
                           ("V", "PO-3", False, Decimal("9"))), KEY)
    revisions = revision_frame([latest(1, 2, 1, "update", status="received"),
                                latest(2, 3, 1, "cancel", status="quarantined"),
                                latest(3, 2, 1, "needs_person", status="quarantined")])
    problems = compare(frames, revisions)
    assert judged(problems) == {"stale": ["PO-1", "PO-2", "PO-3"]}
    reasons = {r["record_id"]: r["reason"] for r in problems.to_dict("records")}
    assert reasons["PO-1"] == ("the target holds revision 1 of 2 (update), the document is received; "
                               "the target's amount 20 is not the latest revision's 30")
    assert reasons["PO-2"] == ("the target holds revision 1 of 3 (cancel), the document is quarantined; "
                               "cancelled at the source, still live in the target")
    assert reasons["PO-3"] == "the target holds revision 1 of 2 (needs_person), the document is quarantined"


def test_without_revision_columns_it_compares_by_key_as_before():
    frames = Frames(pd.DataFrame({"n": ["a", "b", "c"]}), pd.DataFrame({"n": ["a", "a", "c", "z"]}), ["n"])
    problems = compare(frames)
    assert sorted(zip(problems["problem"], problems["n"], strict=True)) == [("duplicated", "a"), ("missing", "b")]
    assert compare(Frames(pd.DataFrame({"n": ["a"]}), pd.DataFrame({"n": ["a"]}), ["n"])).empty


def test_every_integration_in_the_catalogue_reconciles_through_its_pipeline():
    for name, spec in INTEGRATIONS.items():
        ref = spec.pipeline.reconcile
        assert isinstance(ref, Reconciliation), name
        module = __import__(f"ml_connector.ops.{ref.module}", fromlist=[ref.function])
        assert callable(getattr(module, ref.function)), name
