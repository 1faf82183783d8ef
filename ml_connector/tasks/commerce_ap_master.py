"""Vendor master both ways: Intacct vendors <-> the Commerce customers they were matched or
created for (the links in ledger integration ``commerce-ap-vendors``).

The conflict rule is the tenant's ``commerce.conflicts`` (mappings/commerce_tenant.py,
README): each field has one master - Intacct for the financial fields (ids, status, currency,
credit limit, terms), Commerce for the contact fields (name, email, first/last name, phone,
address) - and a field outside both lists goes to the side changed last (Intacct on a tie).
Per linked pair, every field whose values differ is a *conflict*: written to the ledger (doc
type ``conflict``, key ``<VENDORID>:<field>:<digest of both values>``, status skipped, class
``conflict``, the decision as the reason), then the winner's value is written to the loser:
the vendor is updated in Intacct (keeping what Intacct masters, such as its status), the
customer in Commerce. A conflict recorded once is not recorded again while the values stay
the same; after the update both sides agree and nothing is recorded at all.

Vendors that Intacct already had with the customer's Commerce id in the custom field but no
link (made by hand, or before this integration) are linked here too.
"""

from __future__ import annotations

import hashlib
import json
import logging

from prefect import task

from ..connectors.adobe import ID_CHUNK, Customer, Filter, SearchCriteria
from ..connectors.errors import BadDocument, DuplicateWrite
from ..connectors.intacct.functions_parties import vendor_update_function
from ..ledger.schema import POSTED, SKIPPED
from ..ledger.store import Incoming, Outcome
from ..mappings import commerce_to_intacct_ap as ap
from ..mappings.commerce_parties import FieldConflict, intacct_party
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .commerce_ap_vendors import MASTER, VENDOR
from .posting import one_line
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.commerce_ap_master")

CONFLICT = "conflict"
_CONTACT = {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone"}


def nested(record: dict) -> dict:
    """A readByQuery row's dotted keys (``DISPLAYCONTACT.MAILADDRESS.CITY``) as nested dicts,
    the shape mappings/commerce_parties.py reads."""
    out: dict = {}
    for key, value in record.items():
        node = out
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[last] = value
    return out


def conflict_row(vendor_id: str, customer_id: str, conflict: FieldConflict) -> Incoming:
    values = json.dumps([conflict.as_dict()["intacct_value"], conflict.as_dict()["commerce_value"]], default=str)
    digest = hashlib.sha256(values.encode()).hexdigest()[:12]
    reason = (f"{conflict.field}: Intacct {conflict.intacct_value!r} vs Commerce {conflict.commerce_value!r} -> "
              f"{conflict.winner} wins ({conflict.reason})")
    return Incoming(doc_type=CONFLICT, partner="", natural_key=f"{vendor_id}:{conflict.field}:{digest}",
                    source_ref=f"customers/{customer_id}", raw_payload=json.dumps(conflict.as_dict()).encode(),
                    status=SKIPPED, error_class=CONFLICT, last_error=" ".join(reason.split())[:1000])


def vendor_update(customer: dict, record: dict, conflicts: list[FieldConflict], commerce):
    """The VENDOR update: Commerce's values for what Commerce won, Intacct's for the rest
    (status is Intacct's whatever the contact fields say)."""
    vendor = ap.customer_to_vendor(customer, commerce, record["VENDORID"])
    intacct = intacct_party(record)
    kept = {c.field for c in conflicts if c.winner == "intacct"}
    contact = vendor.contact.model_copy(update={_CONTACT[f]: intacct[f] for f in kept if f in _CONTACT})
    name = intacct["name"] if "name" in kept else vendor.name
    status = (record.get("STATUS") or vendor.status).lower()
    return vendor.model_copy(update={"name": name, "contact": contact.model_copy(update={"print_as": name}),
                                     "status": status if status in ("active", "inactive") else vendor.status})


def customer_update(customer: dict, body: dict) -> Customer:
    """The whole Commerce customer with the fields Intacct won (PUT sets everything it is given)."""
    return Customer.model_validate({**customer, **{k: v for k, v in body["customer"].items() if v is not None}})


def _links(res: Tenant, vendors: dict[str, dict], field_name: str, run_id: str) -> dict[str, str]:
    """Commerce customer id -> VENDORID: the recorded links, plus vendors carrying a Commerce id
    without one (adopted as links)."""
    links = {r.natural_key: r.target_id for r in res.ledger.documents(MASTER, status=POSTED, doc_type=VENDOR)
             if r.target_id in vendors}
    linked = set(links.values())
    adopt = {str(v.get(field_name)): vid for vid, v in vendors.items()
             if str(v.get(field_name) or "").isdigit() and vid not in linked and str(v.get(field_name)) not in links}
    if adopt:
        rows = [Incoming(doc_type=VENDOR, partner="", natural_key=cid, source_ref=f"customers/{cid}",
                         raw_payload=json.dumps({"id": int(cid)}).encode(), target_ref=vid) for cid, vid in adopt.items()]
        new = res.ledger.ingest(MASTER, rows, run_id).new_ids
        claimed = res.ledger.claim(MASTER, new, run_id)
        res.ledger.record_outcomes(MASTER, [Outcome(c.id, POSTED, target_id=c.target_ref) for c in claimed], run_id)
        links.update({c.natural_key: c.target_ref for c in claimed if c.target_ref})
    return links


def _customers(res: Tenant, ids: list[str]) -> dict[str, dict]:
    client, found = res.adobe(), {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start:start + ID_CHUNK]
        page = client.search("customers", SearchCriteria().where(Filter("entity_id", chunk, "in")).page(1, len(chunk)))
        found.update({str(c.id): c.model_dump(mode="json") for c in page.items})
    return found


@task(**retry_options())
def sync_vendor_master(tenant: str, run_id: str) -> dict[str, int]:
    """Align every linked vendor/customer pair under the conflict rule; returns counts."""
    res = tenant_resources(tenant)
    commerce, intacct, adobe = res.commerce("procure"), res.intacct(), res.adobe()
    field_name = commerce.procure.vendor_commerce_id_field  # type: ignore[union-attr]
    vendors = {v["VENDORID"]: nested(v) for v in intacct.list_vendors()}
    links = _links(res, vendors, field_name, run_id)
    customers = _customers(res, sorted(links, key=int))
    counts = {"pairs": 0, "conflicts_recorded": 0, "vendors_updated": 0, "customers_updated": 0, "unreadable": 0}
    rows, updates = [], []
    for customer_id, vendor_id in sorted(links.items()):
        customer, record = customers.get(customer_id), vendors[vendor_id]
        if customer is None:
            continue  # the customer is gone from Commerce: nothing to align
        counts["pairs"] += 1
        try:
            body, conflicts = ap.vendor_to_commerce_customer(record, customer, commerce)
            rows += [conflict_row(vendor_id, customer_id, c) for c in conflicts]
            if any(c.winner == "commerce" for c in conflicts):
                updates.append(vendor_update(customer, record, conflicts, commerce))
            if any(c.winner == "intacct" and c.field in ("email", "first_name", "last_name") for c in conflicts):
                adobe.update_customer(customer_update(customer, body))
                counts["customers_updated"] += 1
        except BadDocument as exc:
            counts["unreadable"] += 1
            log.warning("vendor %s / customer %s not aligned: %s", vendor_id, customer_id, one_line(exc))
    if rows:
        counts["conflicts_recorded"] = len(rows) - res.ledger.ingest(MASTER, rows, run_id).duplicates
    counts["vendors_updated"] = _update_vendors(res, updates)
    return counts


def _update_vendors(res: Tenant, updates: list) -> int:
    """One envelope of VENDOR updates; the controlid is a digest of the values written, so a
    retry is "already done" and a later change is a new write."""
    if not updates:
        return 0
    functions = []
    for vendor in updates:
        digest = hashlib.sha256(vendor.model_dump_json().encode()).hexdigest()[:24]
        functions.append(vendor_update_function(f"mlc-vendor-{digest}", vendor))
    done = 0
    for vendor, result in zip(updates, res.intacct().post_functions(functions, operation="update_vendor"), strict=True):
        if result.ok or isinstance(result.error, DuplicateWrite):
            done += 1
        else:
            log.warning("vendor %s not updated: %s", vendor.vendor_id, one_line(result.error))
    return done
