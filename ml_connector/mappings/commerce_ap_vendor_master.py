"""Vendor master both ways, the rules: what a linked pair (an Intacct vendor and the Commerce
customer it was matched or created for) becomes under the tenant's conflict rule. Pure: the
reads and writes are pipelines/commerce_ap_vendors.py and tasks/commerce_ap_master.py.

Per pair, every field whose values differ is a *conflict*: a ledger row (doc type ``conflict``,
key ``<VENDORID>:<field>:<digest of both values>``, status skipped, class ``conflict``, the
decision as the reason), so a conflict recorded once is not recorded again while the values
stay the same. The winner's value goes to the loser: the vendor update keeps what Intacct
masters (its status whatever the contact fields say), the customer update is the whole
customer with the fields Intacct won (a PUT sets everything it is given).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..connectors.adobe import Customer
from ..connectors.intacct.models_commerce import Vendor
from ..ledger.schema import SKIPPED
from ..ledger.store import Incoming
from . import commerce_to_intacct_ap as ap
from .commerce_parties import FieldConflict, intacct_party
from .commerce_tenant import CommerceSettings

CONFLICT = "conflict"
_CONTACT = {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone"}
# Intacct winning these is written back to the Commerce customer (the fields Commerce keeps of a person)
_TO_COMMERCE = ("email", "first_name", "last_name")


@dataclass(frozen=True)
class Pair:
    """A linked vendor and customer as both systems hold them (the vendor as nested fields)."""

    customer_id: str
    vendor_id: str
    customer: dict
    record: dict


@dataclass
class Alignment:
    """What one pair becomes: its conflicts as ledger rows and the updates of each side."""

    rows: list[Incoming] = field(default_factory=list)
    vendor: Vendor | None = None
    customer: Customer | None = None


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


def adoptable(vendors: dict[str, dict], links: dict[str, str], field_name: str) -> dict[str, str]:
    """Vendors carrying a Commerce customer id in ``field_name`` but no link (made by hand, or
    before this integration), customer id -> VENDORID; a customer already linked keeps its link."""
    linked = set(links.values())
    return {str(v.get(field_name)): vid for vid, v in vendors.items()
            if str(v.get(field_name) or "").isdigit() and vid not in linked and str(v.get(field_name)) not in links}


def conflict_row(vendor_id: str, customer_id: str, conflict: FieldConflict) -> Incoming:
    values = json.dumps([conflict.as_dict()["intacct_value"], conflict.as_dict()["commerce_value"]], default=str)
    digest = hashlib.sha256(values.encode()).hexdigest()[:12]
    reason = (f"{conflict.field}: Intacct {conflict.intacct_value!r} vs Commerce {conflict.commerce_value!r} -> "
              f"{conflict.winner} wins ({conflict.reason})")
    return Incoming(doc_type=CONFLICT, partner="", natural_key=f"{vendor_id}:{conflict.field}:{digest}",
                    source_ref=f"customers/{customer_id}", raw_payload=json.dumps(conflict.as_dict()).encode(),
                    status=SKIPPED, error_class=CONFLICT, last_error=" ".join(reason.split())[:1000])


def vendor_update(customer: dict, record: dict, conflicts: list[FieldConflict], commerce: CommerceSettings) -> Vendor:
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


def customer_update(customer: dict, body: dict[str, Any]) -> Customer:
    """The whole Commerce customer with the fields Intacct won (PUT sets everything it is given)."""
    return Customer.model_validate({**customer, **{k: v for k, v in body["customer"].items() if v is not None}})


def align(pair: Pair, commerce: CommerceSettings) -> Alignment:
    """One pair's conflicts and updates; bad data on either side -> BadDocument."""
    body, conflicts = ap.vendor_to_commerce_customer(pair.record, pair.customer, commerce)
    out = Alignment(rows=[conflict_row(pair.vendor_id, pair.customer_id, c) for c in conflicts])
    if any(c.winner == "commerce" for c in conflicts):
        out.vendor = vendor_update(pair.customer, pair.record, conflicts, commerce)
    if any(c.winner == "intacct" and c.field in _TO_COMMERCE for c in conflicts):
        out.customer = customer_update(pair.customer, body)
    return out


def update_controlid(vendor: Vendor) -> str:
    """The controlid of a VENDOR update: a digest of the values written, so a retry is "already
    done" and a later change is a new write."""
    return f"mlc-vendor-{hashlib.sha256(vendor.model_dump_json().encode()).hexdigest()[:24]}"
