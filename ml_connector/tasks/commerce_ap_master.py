"""Prefect tasks of the Commerce <-> Intacct vendor master (pipelines/commerce_ap_vendors.py):
read the linked pairs, adopt vendors that carry a Commerce id without a link, write the
winners' values to both sides. The rules are mappings/commerce_ap_vendor_master.py; the links
are the vendor rows of ledger integration ``commerce-ap-vendors``.
"""

from __future__ import annotations

import json
import logging

from prefect import task

from ..connectors.adobe import ID_CHUNK, Customer, Filter, SearchCriteria
from ..connectors.errors import DuplicateWrite, one_line
from ..connectors.intacct.functions_parties import vendor_update_function
from ..connectors.intacct.models_commerce import Vendor
from ..ledger.schema import POSTED
from ..ledger.store import Incoming, Outcome
from ..mappings.commerce_ap_vendor_master import Pair, adoptable, nested, update_controlid
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .commerce_ap_vendors import MASTER, VENDOR
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.commerce_ap_master")


def _vendors(res: Tenant) -> dict[str, dict]:
    return {v["VENDORID"]: nested(v) for v in res.intacct().list_vendors()}


def _links(res: Tenant, vendors: dict[str, dict]) -> dict[str, str]:
    """Commerce customer id -> VENDORID of the recorded links whose vendor Intacct still has."""
    return {r.natural_key: r.target_id for r in res.ledger.documents(MASTER, status=POSTED, doc_type=VENDOR)
            if r.target_id in vendors}


@task(**retry_options())
def adopt_vendor_links(tenant: str, run_id: str) -> dict[str, int]:
    """Link the vendors Intacct already has with a Commerce customer id in the custom field but
    no link (made by hand, or before this integration): recorded as posted, since the vendor
    exists; nothing is written to Intacct."""
    res = tenant_resources(tenant)
    vendors = _vendors(res)
    field_name = res.commerce("procure").procure.vendor_commerce_id_field  # type: ignore[union-attr]
    adopt = adoptable(vendors, _links(res, vendors), field_name)
    if not adopt:
        return {"links_adopted": 0}
    rows = [Incoming(doc_type=VENDOR, partner="", natural_key=cid, source_ref=f"customers/{cid}",
                     raw_payload=json.dumps({"id": int(cid)}).encode(), target_ref=vid) for cid, vid in adopt.items()]
    new = res.ledger.ingest(MASTER, rows, run_id).new_ids
    claimed = res.ledger.claim(MASTER, new, run_id)
    res.ledger.record_outcomes(MASTER, [Outcome(c.id, POSTED, target_id=c.target_ref) for c in claimed], run_id)
    return {"links_adopted": len(claimed)}


@task(**retry_options())
def read_pairs(tenant: str) -> list[Pair]:
    """Every linked vendor with its Commerce customer (a customer gone from Commerce: no pair)."""
    res = tenant_resources(tenant)
    vendors = _vendors(res)
    links = _links(res, vendors)
    customers = _customers(res, sorted(links, key=int))
    return [Pair(customer_id, vendor_id, customers[customer_id], vendors[vendor_id])
            for customer_id, vendor_id in sorted(links.items()) if customer_id in customers]


def _customers(res: Tenant, ids: list[str]) -> dict[str, dict]:
    client, found = res.adobe(), {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start:start + ID_CHUNK]
        page = client.search("customers", SearchCriteria().where(Filter("entity_id", chunk, "in")).page(1, len(chunk)))
        found.update({str(c.id): c.model_dump(mode="json") for c in page.items})
    return found


@task(**retry_options())
def write_alignment(tenant: str, updates: list[Customer | Vendor]) -> dict[str, int]:
    """Write the winners' values, once the conflicts are durable in the ledger: each Commerce
    customer (a PUT), then the Intacct vendors in one envelope; returns how many of each."""
    res = tenant_resources(tenant)
    customers = [u for u in updates if isinstance(u, Customer)]
    for customer in customers:
        res.adobe().update_customer(customer)
    return {"customers_updated": len(customers),
            "vendors_updated": _update_vendors(res, [u for u in updates if isinstance(u, Vendor)])}


def _update_vendors(res: Tenant, updates: list[Vendor]) -> int:
    """One envelope of VENDOR updates, each under a controlid of the values it writes."""
    if not updates:
        return 0
    functions = [vendor_update_function(update_controlid(vendor), vendor) for vendor in updates]
    done = 0
    for vendor, result in zip(updates, res.intacct().post_functions(functions, operation="update_vendor"), strict=True):
        if result.ok or isinstance(result.error, DuplicateWrite):
            done += 1
        else:
            log.warning("vendor %s not updated: %s", vendor.vendor_id, one_line(result.error))
    return done
