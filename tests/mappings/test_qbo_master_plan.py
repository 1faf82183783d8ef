"""The master-data plan (mappings/qbo_master.py): links, per-field masters, the conflict rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from ml_connector.connectors.qbo.models import Item, Vendor
from ml_connector.mappings.qbo_master import Link, partners_without_vendor, plan_items, plan_vendors
from ml_connector.mappings.tenant import load_tenant

TENANT = load_tenant(Path(__file__).parents[1] / "fixtures" / "golden" / "qbo" / "tenant.yaml")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=-7)))


def item(id: str, sku: str | None, cost: str | None = None, *, name: str | None = None, active: bool = True,
         updated: datetime = T0) -> Item:
    return Item.model_validate({"Id": id, "SyncToken": "3", "Name": name or f"item {id}", "Sku": sku,
                                "PurchaseCost": cost, "Active": active,
                                "MetaData": {"LastUpdatedTime": updated.isoformat()}})


def vendor(id: str, name: str, active: bool = True) -> Vendor:
    return Vendor.model_validate({"Id": id, "DisplayName": name, "Active": active})


def by_key(actions):
    return {(a.key, a.op): a for a in actions}


ALIGNED = [item("11", "SPSSupplierHD-20", "20.00"), item("12", "WID-100"), item("13", "WID-200")]


def test_file_links_are_checked_and_an_unlinked_partner_is_matched_by_name_or_created():
    vendors = [vendor("56", "SPS Test Partner (vendor)"), vendor("57", "Acme (vendor)", active=False)]
    actions = by_key(plan_vendors(TENANT, {}, vendors))
    assert ("SPSALLTESTID", "ok") in actions
    assert "inactive" in actions[("ACMEDIST0001", "conflict")].reason
    gone = by_key(plan_vendors(TENANT, {}, vendors[:1]))
    assert "does not exist" in gone[("ACMEDIST0001", "conflict")].reason
    mapping = TENANT.model_copy(update={"qbo": TENANT.qbo.model_copy(update={"partners": {}})})
    assert partners_without_vendor(mapping, {"ACMEDIST0001": Link("9")}) == ["SPSALLTESTID"]
    new = by_key(plan_vendors(mapping, {}, []))
    assert new[("SPSALLTESTID", "create")].body == {"DisplayName": "SPS Test Partner", "CompanyName": "SPS Test Partner"}
    matched = by_key(plan_vendors(mapping, {}, [vendor("70", "  sps test   PARTNER ")]))
    assert matched[("SPSALLTESTID", "link")].qbo_id == "70"
    refused = by_key(plan_vendors(mapping, {}, [vendor("70", "SPS Test Partner", active=False)]))
    assert "never reactivate" in refused[("SPSALLTESTID", "conflict")].reason


def test_unlinked_items_are_adopted_by_sku_or_name_or_created():
    actions = by_key(plan_items(TENANT, {}, ALIGNED + [item("40", "WID-300", "7.25")]))
    assert actions[("WID-300", "link")].qbo_id == "40" and ("WID-300", "conflict") not in actions
    by_name = by_key(plan_items(TENANT, {}, ALIGNED + [item("41", None, "7.25", name="wid-300")]))
    assert by_name[("WID-300", "link")].qbo_id == "41"
    created = by_key(plan_items(TENANT, {}, ALIGNED))[("WID-300", "create")]
    assert created.body["Sku"] == "WID-300" and created.body["ExpenseAccountRef"] == {"value": "7"}
    assert all(op == "ok" for (key, op) in by_key(plan_items(TENANT, {}, ALIGNED)) if key != "WID-300")


def test_an_adopted_item_whose_values_differ_is_linked_and_the_difference_recorded():
    actions = by_key(plan_items(TENANT, {}, ALIGNED + [item("40", "WID-300", "9.99")]))
    assert actions[("WID-300", "link")].qbo_id == "40"
    assert "PurchaseCost: tenant file Decimal('7.25'), QBO Decimal('9.99')" in actions[("WID-300", "conflict")].reason


def test_file_fields_are_written_only_when_qbo_did_not_change_since_our_sync():
    changed = [item("11", "HD20-OLD", "20.00", updated=T0), *ALIGNED[1:]]
    synced_after = {"HD-20": Link("11", T0 + timedelta(minutes=5))}
    update = by_key(plan_items(TENANT, synced_after, changed))[("HD-20", "update")]
    assert update.body == {"Id": "11", "SyncToken": "3", "Sku": "SPSSupplierHD-20"}
    synced_before = {"HD-20": Link("11", T0 - timedelta(minutes=5))}
    conflict = by_key(plan_items(TENANT, synced_before, changed))[("HD-20", "conflict")]
    assert "changed in QBO after our last sync" in conflict.reason and "HD20-OLD" in conflict.reason
    never = by_key(plan_items(TENANT, {}, changed))[("HD-20", "conflict")]
    assert "never synced" in never.reason


def test_synced_links_fill_gaps_but_never_override_the_file():
    qbo = TENANT.qbo.with_links({"SPSALLTESTID": "99", "NEWPARTNER": "77"}, {"WID-300": "12", "HD-20": "50"})
    assert qbo.partners["SPSALLTESTID"].vendor_ref == "56" and qbo.partners["NEWPARTNER"].vendor_ref == "77"
    assert qbo.items["HD-20"] == "11"  # the file's
    assert "WID-300" not in qbo.items  # "12" is WID-100's in the file: the synced link is dropped
    assert qbo.item_for_qbo("11") == "HD-20"
