"""QBO master data (vendors and items both ways, conflicts recorded) and QBO's per-company limits
as Prefect global concurrency limits, on the session's real Prefect server."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import yaml

from ml_connector.demo.parts.sps_qbo import (
    ADOPTED_ITEM,
    CONFLICT_ITEM,
    CREATED_ITEM,
    NEW_PARTNER,
    seed_master_data_cases,
    seed_new_partner_orders,
)
from ml_connector.flows.qbo_master_data import qbo_master_data
from ml_connector.flows.sps_to_qbo import sps_to_qbo
from ml_connector.ledger.schema import FAILED, POSTED, SKIPPED
from ml_connector.mappings.tenant import tenant_path
from ml_connector.runtime.clients import qbo_client
from ml_connector.runtime.qbo_limits import RealmLimits, ensure_limits
from ml_connector.runtime.tenant import reset, tenant
from ml_connector.tasks.qbo_master import CONFLICT, MASTER, effective_mapping
from tests.flows.test_sps_qbo_flows import TENANT, qworld_factory, run  # noqa: F401 - qworld_factory is a fixture


@pytest.fixture()
def qworld(qworld_factory):  # noqa: F811 - the imported fixture
    w = qworld_factory()
    seed_master_data_cases(w.qbo, w.mapping)
    return w


def items_by(qworld, field: str, value: str) -> list[dict]:
    return [i for i in qworld.qbo.entities("Item") if i.get(field) == value]


def conflicts(qworld) -> list:
    return qworld.ledger.documents(MASTER, doc_type=CONFLICT)


def test_master_data_onboards_the_vendor_adopts_and_creates_items_and_records_the_conflict(qworld):
    state, _ = run(qbo_master_data)
    # the open conflict needs a person: the run is Failed, with its count and what differs
    assert state.is_failed() and state.message.startswith("1 of "), state
    assert "documents failed: " in state.message and "quarantined" not in state.message
    # the full reason is the row's
    assert f"item {CONFLICT_ITEM} (QBO " in state.message and "differs in QBO" in state.message
    counts = state.result(raise_on_failure=False)
    assert counts[FAILED] == 1
    assert (counts["created"], counts["adopted"], counts["conflicts_open"]) == (2, 1, 1)
    # the new partner's vendor: created once, under the tenant file's vendor_name
    vendors = [v for v in qworld.qbo.entities("Vendor") if v["DisplayName"] == "Fabrikam Supply Co."]
    assert len(vendors) == 1
    mapping = effective_mapping(tenant(TENANT))
    assert mapping.qbo.partners[NEW_PARTNER].vendor_ref == vendors[0]["Id"]
    # items both ways: the one someone made in QBO is adopted, the unknown one created
    [adopted] = items_by(qworld, "Sku", ADOPTED_ITEM)
    assert adopted["Name"].endswith("(made in QBO)") and mapping.qbo.items[ADOPTED_ITEM] == adopted["Id"]
    [created] = items_by(qworld, "Sku", CREATED_ITEM)
    assert created["Name"] == CREATED_ITEM and Decimal(str(created["PurchaseCost"])) == Decimal("21.50")
    # the SKU someone changed in QBO is not overwritten; the conflict says what differs
    wid = next(i for i in qworld.qbo.entities("Item") if i["Id"] == qworld.mapping.qbo.items[CONFLICT_ITEM])
    assert wid["Sku"] == f"{CONFLICT_ITEM}-OLD"
    [row] = conflicts(qworld)
    assert row.status == FAILED and row.error_class == "conflict" and "\n" not in row.last_error
    assert "Sku: tenant file 'WID-300', QBO 'WID-300-OLD'" in row.last_error

    again, _ = run(qbo_master_data)  # nothing new: no second vendor or item, the conflict not re-reported
    assert again.is_completed(), again
    assert (again.result()["created"], again.result().get("failed", 0)) == (0, 0)
    assert len(qworld.qbo.entities("Vendor")) == len(vendors) + 4 and len(items_by(qworld, "Sku", CREATED_ITEM)) == 1

    qworld.qbo.edit("Item", wid["Id"], Sku=CONFLICT_ITEM)  # someone aligns QBO: the conflict closes
    resolved, _ = run(qbo_master_data)
    assert resolved.result()["conflicts_resolved"] == 1
    [row] = conflicts(qworld)
    assert row.status == SKIPPED and row.error_class == "resolved"


def test_a_tenant_file_change_is_written_to_qbo_when_qbo_did_not_change_since_our_sync(qworld, tmp_path, monkeypatch):
    run(qbo_master_data)
    data = yaml.safe_load(tenant_path(TENANT).read_text())
    for item in data["items"]:
        if item["item_id"] == CREATED_ITEM:
            item["unit_cost"] = "23.00"
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / f"{TENANT}.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(folder))
    reset()  # the tenant's resources (and mapping) are cached per process
    state, _ = run(qbo_master_data)
    assert state.result()["updated_in_qbo"] == 1
    [created] = items_by(qworld, "Sku", CREATED_ITEM)
    assert Decimal(str(created["PurchaseCost"])) == Decimal("23.00") and created["SyncToken"] == "1"


def test_orders_of_a_new_partner_post_after_inline_onboarding(qworld):
    """sps-to-qbo onboards a partner without a vendor before reading orders, so its orders post
    in the same run; the synced items become item-based lines once master data has run."""
    seed_new_partner_orders(qworld.sps, qworld.mapping, 12, 9, qworld.seeded)
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and state.result()["vendors_created"] == 1
    vendor = next(v for v in qworld.qbo.entities("Vendor") if v["DisplayName"] == "Fabrikam Supply Co.")
    pos = qworld.qbo.entities("PurchaseOrder")
    assert {po["DocNumber"] for po in pos} == qworld.expected_numbers()
    assert all(po["VendorRef"]["value"] == vendor["Id"] for po in pos)
    rows = qworld.ledger.documents(MASTER, doc_type="vendor")
    assert [(r.natural_key, r.status, r.target_id) for r in rows] == [(NEW_PARTNER, POSTED, vendor["Id"])]


def test_qbo_calls_take_the_realms_prefect_limits(qworld_factory):  # noqa: F811
    """With the realm's limits created (as ``ml-connector setup`` does), every QBO attempt takes
    a request slot, every batch call a batch slot too, and concurrency slots are given back."""
    from prefect.client.orchestration import get_client

    realm = f"limits-{uuid.uuid4().hex[:8]}"  # its own limits: other tests stay unthrottled
    w = qworld_factory(realm_id=realm)
    names = RealmLimits.of(realm)
    assert ensure_limits(realm) == [names.requests, names.concurrent, names.batch]
    try:
        with get_client(sync_client=True) as client:
            requests = client.read_global_concurrency_limit_by_name(names.requests)
            assert (requests.limit, round(requests.slot_decay_per_second, 2)) == (500, 8.33)
            assert client.read_global_concurrency_limit_by_name(names.concurrent).limit == 10
            assert client.read_global_concurrency_limit_by_name(names.batch).limit == 40
        w.add_documents(80)
        state, _ = run(sps_to_qbo)
        assert state.is_completed() and set(w.po_counts()) == w.expected_numbers()
        limiter = qbo_client(tenant(TENANT)).limiter
        assert limiter.taken >= 3  # vendor lookup, PO lookup, batches: each took its slots
        with get_client(sync_client=True) as client:
            assert client.read_global_concurrency_limit_by_name(names.concurrent).active_slots == 0
    finally:
        with get_client(sync_client=True) as client:
            for name in (names.requests, names.concurrent, names.batch):
                client.delete_global_concurrency_limit_by_name(name)


def test_without_limits_configured_runs_are_not_throttled_and_nothing_is_taken(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.add_documents(30)
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and set(w.po_counts()) == w.expected_numbers()
    assert qbo_client(tenant(TENANT)).limiter.taken == 0
