"""``ml-connector demo --tenants 2``: two tenants side by side on one ledger and one Prefect
server, each with its own companies seeded with the same seed (the same partner ids and document
numbers) at other prices.

One small demo (every integration, light faults) runs once for the module, through the same
functions ``run_demo`` uses (``demo_worlds``, ``run_worlds``, ``demo_report``), so the tests can
read each tenant's emulators while they still run: the report must have a section per tenant that
reconciles on its own, the documents must collide across tenants, and each tenant's targets must
hold documents at that tenant's prices only.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from decimal import Decimal

import pytest

from ml_connector.cli import main
from ml_connector.demo.parts import commerce_intacct_ap, sps_intacct, sps_qbo
from ml_connector.demo.parts.intacct_sterling import delivered_documents, sterling
from ml_connector.demo.parts.sps_intacct import inbox_documents, latest_documents
from ml_connector.demo.run import demo_passed, demo_report, demo_worlds, render, run_worlds
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.report import render_demo
from ml_connector.sandbox.catalogue import demo_catalogue

DOCUMENTS = 16
TENANTS = {"demo": ["demo", "demo-qbo", "demo-commerce"], "demo-2": ["demo-2", "demo-qbo-2", "demo-commerce-2"]}
# The integrations whose targets hold money (master data, vendors and 997s carry none).
# The integrations whose revisions have landed, with orders changed and cancelled in the demo
# (demo/parts/revisions.py); QBO -> SPS edits and voids invoices (demo/parts/sps_qbo.py).
REVISED = ("sps-intacct", "sps-qbo")
WITH_CONTENT = ("sps-intacct", "intacct-sps", "sps-qbo", "qbo-sps", "intacct-sterling", "commerce-intacct-o2c",
                "commerce-intacct-ap")


def base_prices() -> dict[str, Decimal]:
    """Every identifier of every item (item id, buyer part, vendor part, UPC) -> the first
    tenant's price; the generator's catalogue prices the items as the tenant files cost them."""
    prices: dict[str, Decimal] = {}
    for item in load_tenant(tenant_path("demo-qbo")).items:
        for ident in (item.item_id, item.buyer_part, item.vendor_part, item.upc):
            if ident:
                prices[ident] = item.unit_cost
    for item in demo_catalogue().items:
        assert prices[item.vendor_part] == item.unit_price, item
    return prices


def priced_lines(node, found: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """(item identifier, unit price) of every line in a document (RSX, X12 or QBO, as plain data)."""
    if hasattr(node, "model_dump"):
        node = node.model_dump()
    if isinstance(node, dict):
        price = next((node[k] for k in ("purchase_price", "unit_price", "UnitPrice") if node.get(k) is not None), None)
        ids = [node.get(k) for k in ("vendor_part_number", "buyer_part_number", "consumer_package_code")]
        ids += [p.get("value") or p.get("id") for p in node.get("product_ids") or [] if isinstance(p, dict)]
        if isinstance(node.get("ItemRef"), dict):  # QBO: the item's Id ("qbo:<Id>", see world_facts)
            ids.append(f"qbo:{node['ItemRef'].get('value')}")
        if price is not None:
            found += [(i, Decimal(str(price))) for i in ids if i]
        for value in node.values():
            priced_lines(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            priced_lines(value, found)
    return found


def world_facts(world) -> dict:
    """What the tests read from one world's own emulators (while they run)."""
    base = base_prices()
    qbo_items = load_tenant(tenant_path(world.tenant_name("demo-qbo"))).qbo.items  # item id -> QBO Id
    base |= {f"qbo:{qbo_id}": base[item_id] for item_id, qbo_id in qbo_items.items()}
    lines: dict[str, list[tuple[str, Decimal, Decimal]]] = {}  # integration -> (item, price, its base)

    def collect(integration: str, documents) -> None:
        for doc in documents:
            lines.setdefault(integration, []).extend(
                (ident, price, base[ident]) for ident, price in priced_lines(doc, []) if ident in base)

    for bill in sps_intacct.intacct(world).bills():  # memo: "<item> x <qty> @ <unit price>"
        for line in bill["lines"]:
            if m := re.fullmatch(r"(\S+) x \S+ @ (\S+)", line.get("ENTRYDESCRIPTION") or ""):
                lines.setdefault("sps-intacct", []).append((m[1], Decimal(m[2]), base[m[1]]))
    sent = [(key, doc) for key, doc in inbox_documents(sps_intacct.sps(world)) if doc is not None]
    collect("intacct-sps", [doc for key, doc in sent if key[0] == "orderack"])  # an order's own prices
    # An Intacct AR invoice line has an amount and no quantity, so its RSX line is 1 at the
    # amount: each RSX invoice is compared with the AR invoice of its number in this world.
    ar_lines = {r["RECORDID"]: sorted(line["TRX_AMOUNT"] for line in r["lines"])
                for r in sps_intacct.intacct(world).ar_invoices()}
    # the latest file of each (an edited invoice goes out again as a replacement of its own)
    invoices_out = [(key[2], sorted(li.invoice_line.extended_item_total for li in doc.line_item), ar_lines[key[2]])
                    for key, doc in latest_documents(sps_intacct.sps(world)) if key[0] == "invoice"]
    collect("qbo-sps", [doc for _, doc in inbox_documents(sps_qbo.sps(world)) if doc is not None])
    collect("sps-qbo", [po.get("Line") for po in sps_qbo.qbo(world).entities("PurchaseOrder")])
    x12 = [(key, doc) for key, doc in delivered_documents(sterling(world)) if doc is not None]
    collect("intacct-sterling", [doc for key, doc in x12 if key[0] == "850"])  # purchase orders' own prices
    # an AP bill line has an amount and no quantity (an 810 line is 1 at the amount): each 810
    # is compared with the bill of its number in this world
    bills = {b["RECORDID"]: b["total"] for b in sps_intacct.intacct(world).bills()}
    invoices_out += [(key[2], [doc.total], [bills[key[2]]]) for key, doc in x12 if key[0] == "810"]
    adobe, intacct = commerce_intacct_ap.commerce_sandboxes(world)
    with adobe.lock:
        orders = {o["increment_id"]: Decimal(str(o["grand_total"])) for o in adobe.store.rows("order")
                  if re.fullmatch(r"[\d.]+", str(o["grand_total"]))}
    invoices = {r["RECORDID"].removeprefix("CO-"): r["total"] for r in intacct.ar_invoices()}
    # the revision traffic each part seeded: integration -> (orders changed, orders cancelled)
    revisions = {spec.integration: (len(part.revisions.revised()), len(part.revisions.cancelled()))
                 for part, spec in world.run_specs() if spec.integration in REVISED}
    qbo_part = next(part for part, spec in world.run_specs() if spec.integration == "qbo-sps")
    revisions["qbo-sps"] = (len(qbo_part.invoice_changes["edit"]), len(qbo_part.invoice_changes["void"]))
    ar_part = next(part for part, spec in world.run_specs() if spec.integration == "intacct-sps")
    revisions["intacct-sps"] = (len(ar_part.invoice_changes["edit"]), len(ar_part.invoice_changes["reverse"]))
    return {"lines": lines, "orders": orders, "ar_invoices": invoices, "invoices_out": invoices_out,
            "revisions": revisions}


@pytest.fixture(scope="module")
def demo(prefect_server, tmp_path_factory):
    """The two-tenant demo's report, rendering and per-world facts (the process's environment,
    which the demo sets for its ledger and tenant files, restored afterwards)."""
    saved = dict(os.environ)
    os.environ["PREFECT_API_URL"] = prefect_server  # the session's server: the demo starts none
    try:
        workdir = tmp_path_factory.mktemp("demo-tenants")
        with demo_worlds(documents=DOCUMENTS, faults="light", seed=7, workdir=str(workdir),
                         tenants=2) as (_, _, worlds):
            report = demo_report(worlds, run_worlds(worlds))
            report.update(prefect_api=prefect_server, workdir=str(workdir), seconds=0.0, documents=DOCUMENTS,
                          faults="light", tenant_count=2)
            facts = {w.tenant: world_facts(w) for w in worlds}
            indexes = {w.tenant: w.index for w in worlds}
        yield {"report": json.loads(json.dumps(report, default=str)), "text": render(report), "facts": facts,
               "index": indexes, "workdir": workdir}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_report_has_a_section_per_tenant_and_keeps_the_first_at_the_top(demo):
    report = demo["report"]
    assert report["tenant_count"] == 2
    assert list(report["tenants"]) == list(TENANTS)
    assert report["integrations"] == report["tenants"]["demo"]["integrations"]  # existing readers keep working
    for name, section in report["tenants"].items():
        assert section["ledger_tenants"] == TENANTS[name]
        assert set(section["integrations"]) == set(report["integrations"])
        assert set(section["faults_injected"]) == set(report["faults_injected"])
        suffix = "" if name == "demo" else "-2"
        for integration, data in section["integrations"].items():
            assert data["tenant"] in {t for t in TENANTS[name]}, (name, integration)
            assert data["tenant"].endswith(suffix) and data["runs"], (name, integration)
    assert sorted(p.name for p in (demo["workdir"] / "tenants").glob("*.yaml")) == sorted(
        f"{t}.yaml" for names in TENANTS.values() for t in names)
    assert "tenant: demo-qbo-2\n" in (demo["workdir"] / "tenants" / "demo-qbo-2.yaml").read_text()


def test_every_integration_of_every_tenant_reconciles(demo):
    report = demo["report"]
    for name, section in report["tenants"].items():
        for integration, data in section["integrations"].items():
            recon = data["reconciliation"]
            assert (recon["missing"], recon["duplicated"], recon["unexpected"]) == (0, 0, 0), (name, integration, recon)
            assert recon["present"] == recon["expected"], (name, integration, recon)
            assert data["read"] > 0 or integration == "commerce-ap-vendors", (name, integration, data)
        assert section["ok"], name
    assert demo_passed(report)
    assert demo["text"].count("== tenant ") == 2 and demo["text"].splitlines()[-1].startswith("result (2 tenants): OK")


def test_every_integration_reports_changed_cancelled_and_stale_and_nothing_is_stale(demo):
    """The JSON report gives per integration how many documents ended changed and cancelled and
    how many targets are behind their latest revision (none); the integrations with revision
    traffic count exactly the orders the demo changed and cancelled."""
    for name, section in demo["report"]["tenants"].items():
        for integration, data in section["integrations"].items():
            assert {"changed", "cancelled", "stale"} <= set(data), (name, integration)
            assert data["stale"] == data["reconciliation"]["stale"] == 0, (name, integration, data)
        for integration in REVISED:
            data = section["integrations"][integration]
            changed, cancelled = demo["facts"][name]["revisions"][integration]
            assert changed > 0 and cancelled > 0, (name, integration)
            assert (data["changed"], data["cancelled"]) == (changed, cancelled), (name, integration, data)
        # QBO -> SPS and Intacct -> SPS: the voided or reversed invoice is cancelled; the edited one
        # is among the changed (beside the invoices first read as updates: shipped by a later edit)
        for integration in ("qbo-sps", "intacct-sps"):
            data = section["integrations"][integration]
            edited, voided = demo["facts"][name]["revisions"][integration]
            assert (edited, voided) == (1, 1), (name, integration)
            assert data["cancelled"] == voided and data["changed"] >= edited, (name, integration, data)


def test_anything_stale_fails_the_demo(demo):
    """One integration of one tenant behind its latest revision: the tenant and the demo fail
    (``ml-connector demo`` exits 1), and the tenant's page says so."""
    report = json.loads(json.dumps(demo["report"]))
    assert demo_passed(report)
    section = report["tenants"]["demo-2"]
    section["integrations"]["sps-qbo"]["reconciliation"]["stale"] = 1
    assert not demo_passed(report)
    page = render_demo({**report, "integrations": section["integrations"], "faults_injected": section["faults_injected"]})
    assert page.splitlines()[-1] == "result: PROBLEMS, see above" and "sps-qbo: " in page and "stale 1" in page


def test_documents_collide_across_tenants_yet_no_target_holds_the_other_tenants(demo):
    """Both tenants' targets hold documents under the same keys (the same partner ids and
    numbers), and never one with the other tenant's content."""
    for name, section in demo["report"]["tenants"].items():
        for integration in WITH_CONTENT:
            recon = section["integrations"][integration]["reconciliation"]
            assert recon["shared_keys"] > 0 and recon["foreign"] == 0, (name, integration, recon)
        # the same documents: both ledgers hold as many, none counted as the other's duplicate
        assert section["integrations"]["sps-intacct"]["ledger"] == demo["report"]["tenants"]["demo"][
            "integrations"]["sps-intacct"]["ledger"]


def test_each_target_holds_its_own_tenants_prices(demo):
    """Every priced line each tenant's targets received is at that tenant's price: the first
    tenant's as the tenant files cost them, the second's 1.00 dearer."""
    for name, facts in demo["facts"].items():
        shift = Decimal("1.00") * (demo["index"][name] - 1)
        for integration in ("sps-intacct", "intacct-sps", "qbo-sps", "sps-qbo", "intacct-sterling"):
            lines = facts["lines"].get(integration, [])
            assert lines, (name, integration)
            wrong = [(ident, price, base) for ident, price, base in lines if price != base + shift]
            assert not wrong, (name, integration, wrong[:5])
        assert facts["invoices_out"]
        for number, sent, source in facts["invoices_out"]:  # each RSX invoice is its own AR invoice
            assert sent == source, (name, number)
        # order to cash: each AR invoice is its own store's order, to the cent
        assert facts["ar_invoices"]
        for number, total in facts["ar_invoices"].items():
            assert total == facts["orders"][number], (name, number)
    first, second = demo["facts"]["demo"], demo["facts"]["demo-2"]
    assert set(first["ar_invoices"]) == set(second["ar_invoices"])
    assert all(first["ar_invoices"][n] != second["ar_invoices"][n] for n in first["ar_invoices"])
    sent = [{number: amounts for number, amounts, _ in facts["invoices_out"]} for facts in (first, second)]
    assert set(sent[0]) == set(sent[1]) and all(sent[0][n] != sent[1][n] for n in sent[0])


def test_every_run_is_on_the_one_prefect_server_for_its_own_tenant(demo):
    """The tenants' flows ran side by side on the session's server (not an ephemeral one of
    their own thread), each with its own tenant as the parameter."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for name, section in demo["report"]["tenants"].items():
            for integration, data in section["integrations"].items():
                for run in data["runs"]:
                    flow_run = client.read_flow_run(uuid.UUID(run["run_id"]))
                    assert flow_run.parameters.get("tenant") == data["tenant"], (name, integration)


def test_a_document_with_another_tenants_content_fails_the_demo():
    """The cross-tenant check itself: the same key with the same money in two tenants' targets
    is a document that crossed over (unexpected, and the demo fails); other money is not."""
    from ml_connector.demo.run import _ok
    from ml_connector.demo.world import cross_tenant_check, money_of

    def section():
        recon = {"expected": 2, "present": 2, "missing": 0, "duplicated": 0, "unexpected": 0}
        return {"integrations": {"sps-intacct": {"reconciliation": dict(recon)}}}

    reports = {"demo": section(), "demo-2": section()}
    contents = {"demo": {"sps-intacct": {("V", "PO-1"): ("total", "10.00"), ("V", "PO-2"): ("total", "20.00")}},
                "demo-2": {"sps-intacct": {("V", "PO-1"): ("total", "11.00"), ("V", "PO-2"): ("total", "20.00")}}}
    cross_tenant_check(reports, contents)
    for name in reports:
        recon = reports[name]["integrations"]["sps-intacct"]["reconciliation"]
        assert (recon["shared_keys"], recon["foreign"], recon["unexpected"]) == (2, 1, 1)
        assert not _ok(reports[name])
    assert money_of({"Line": [{"UnitPrice": 4.25, "Qty": 3}, {"Amount": "12.75"}], "TotalAmt": "12.75"}) == (
        "12.75", "4.25")
    assert money_of({"memo": "no money"}) is None


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_demo_refuses_a_tenant_count_below_one(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--tenants", value])
    assert exit_.value.code == 2
    assert "--tenants" in capsys.readouterr().err
