"""Reconciliation for Adobe Commerce -> Intacct procure (used by ops/reconcile.py).

The source is Commerce itself, not the ledger: every order, invoice and credit memo the store
has is mapped with the same rules as the flow (mappings/commerce_ap_documents.py), and each one that
should be in Intacct (not skipped, not bad input) is looked for there by its document number:
AP bills by RECORDID, purchase orders by transaction type and DOCNO, AP adjustments by
RECORDID. A document the poll never saw shows up as missing, one posted twice as duplicated.
It reads the whole store: run it nightly, not every few minutes.
"""

from __future__ import annotations

import pandas as pd

from ..connectors.adobe import SearchCriteria
from ..ledger.schema import RECEIVED
from ..mappings.commerce_ap_documents import KINDS, EntityPage, page_rows, parse_ref
from ..tasks.commerce_ap import orders_of, raw_items
from ..tasks.commerce_ap_post import query_all
from .reconcile import Frames

KEY = ["object", "number"]


def _expected(res) -> list[tuple[str, str]]:
    client, commerce = res.adobe(), res.commerce("procure")
    refs = []
    for kind in KINDS:
        for page in client.pages(kind, SearchCriteria().order_by("entity_id", "ASC"), page_size=100, max_pages=100_000):
            items, rejects = raw_items(page)
            entities = EntityPage(kind=kind, items=items, rejects=rejects, orders=orders_of(client, kind, items, rejects))
            refs += [parse_ref(r.target_ref) for r in page_rows(entities, commerce) if r.status == RECEIVED]
    return [(ref[0], ":".join(ref[1:])) for ref in refs if ref]


def _found(client, expected: list[tuple[str, str]]) -> list[dict]:
    """Every Intacct record carrying one of the expected numbers (duplicates included)."""
    rows: list[dict] = []
    for obj, field in (("APBILL", "RECORDID"), ("APADJUSTMENT", "RECORDID")):
        numbers = sorted({n for o, n in expected if o == obj})
        for start in range(0, len(numbers), 100):
            for r in query_all(client, obj, ("RECORDNO", field), ("in", field, numbers[start:start + 100])):
                rows.append({"object": obj, "number": r[field]})
    by_type: dict[str, list[str]] = {}
    for o, n in expected:
        if o == "PODOCUMENT":
            kind, _, docno = n.partition(":")
            by_type.setdefault(kind, []).append(docno)
    for kind, numbers in by_type.items():
        for start in range(0, len(numbers), 100):
            condition = ("and", ("equalto", "DOCPARID", kind), ("in", "DOCNO", numbers[start:start + 100]))
            for r in query_all(client, "PODOCUMENT", ("RECORDNO", "DOCNO"), condition):
                rows.append({"object": "PODOCUMENT", "number": f"{kind}:{r['DOCNO']}"})
    return rows


def commerce_ap_frames(res) -> Frames:
    expected = _expected(res)
    source = pd.DataFrame([{"object": o, "number": n} for o, n in expected], columns=KEY)
    target = pd.DataFrame(_found(res.intacct(), expected), columns=KEY)
    return Frames(source, target, KEY)
