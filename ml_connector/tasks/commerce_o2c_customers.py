"""Order to cash, the customer master both ways (after Commerce customers were posted).

Intacct customers modified since the last sync (cursor ``intacct-customers``, 5 minutes of
overlap) are read and each one is handled as follows:

* linked to a Commerce customer (by the ``customer_commerce_id_field`` custom field, or by the
  ledger's link from a Commerce-first customer): the pair goes through the documented conflict
  rule (``commerce.conflicts``; mappings/commerce_parties.py). Fields Intacct wins are written to
  Commerce, with the CUSTOMERID kept in ``customer_id_attribute``; fields Commerce wins are
  written to Intacct; every field whose values differed is recorded in the ledger as a
  ``conflict`` row (skipped, error class ``conflict``, the decision as its reason). A credit
  limit set in Intacct on the customer of a B2B company's admin becomes the company's credit
  limit in Commerce (where the company exists);
* created in Intacct (no link): a ledger ``icustomer`` row, then a Commerce customer with that
  CUSTOMERID as its attribute, in the website of the customer's entity, and the Commerce id
  written back to the Intacct custom field. A customer without an email cannot be one in
  Commerce: quarantined with that reason.

Commerce customers that changed after they were linked come through the same rule (the pipeline
passes their ledger ids).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

from prefect import task

from ..connectors.errors import BadDocument, IntegrationError, NotFound
from ..connectors.intacct import functions_parties
from ..connectors.intacct._xml import DATETIME_FORMAT
from ..connectors.intacct.listing import OVERLAP
from ..connectors.intacct.models_commerce import Customer
from ..engine.posting import one_line
from ..ledger.schema import POSTED, QUARANTINED
from ..ledger.store import Incoming, Outcome
from ..mappings import commerce_o2c_customers as mapping
from ..mappings.commerce_common import stamp
from ..mappings.commerce_o2c_rows import INTEGRATION, dumps, loads
from ..mappings.commerce_parties import _modified, commerce_party, intacct_party, reconcile
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .commerce_o2c_post import query
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.commerce_o2c_customers")

CURSOR = "intacct-customers"




def read_changed(res: Tenant, since: datetime | None) -> list[dict]:
    """Intacct customers modified since ``since`` (every customer when None), oldest first."""
    commerce, client = res.commerce("o2c"), res.intacct()
    condition = ("greaterthanorequalto", "WHENMODIFIED", since.strftime(DATETIME_FORMAT)) if since else \
        ("isnotnull", "CUSTOMERID")
    records = query(client, "CUSTOMER", mapping.customer_fields(commerce), condition, None)
    return [mapping.nest(r) for r in records]


def _when(record: dict) -> datetime | None:
    return _modified(record)


# -- one linked pair -------------------------------------------------------------------------




def align_pair(res: Tenant, record: dict, commerce_id: int, counts: dict) -> list[Incoming]:
    """Apply the conflict rule to one linked pair; write each side's losing fields; return
    the conflict rows for the ledger."""
    commerce, client = res.commerce("o2c"), res.adobe()
    o2c = commerce.o2c
    current = client.get_customer(commerce_id)
    doc = loads(dumps(current))
    customer_id = record["CUSTOMERID"]
    _, theirs, _ = commerce_party(doc)
    ours = intacct_party(record)
    merged, conflicts = reconcile(ours, _when(record), theirs, stamp(doc, "updated_at", "customer"), commerce.conflicts)
    body, _ = mapping.intacct_to_commerce_customer(record, doc, commerce)
    wanted = body["customer"]
    changed = {k: wanted[k] for k in ("email", "firstname", "lastname") if wanted.get(k) and wanted[k] != doc.get(k)}
    if changed or current.attribute(o2c.customer_id_attribute) != customer_id:
        client.update_customer(current.model_copy(update=changed).with_attribute(o2c.customer_id_attribute, customer_id))
        counts["commerce_updated"] += 1
    if any(merged.get(f) != ours.get(f) for f in mapping.CONTACT_FIELDS if merged.get(f) is not None):
        update = Customer(customer_id=customer_id, name=merged["name"][:100], contact=mapping.merged_contact(merged),
                          status=record.get("STATUS") or "active")
        digest = hashlib.sha256(update.model_dump_json().encode()).hexdigest()[:16]
        [result] = res.intacct().post_functions(
            [functions_parties.customer_update_function(f"mlc-cu-{customer_id[:20]}-{digest}", update)])
        if not result.ok:
            log.warning("customer %s: Intacct update refused: %s", customer_id, one_line(result.error))
        counts["intacct_updated"] += int(result.ok)
    credit_limit(res, record, current, counts)
    return mapping.conflict_rows(customer_id, conflicts)


def credit_limit(res: Tenant, record: dict, customer, counts: dict) -> None:
    """Intacct CREDITLIMIT of a company admin's customer -> the B2B company credit limit."""
    if record.get("CREDITLIMIT") in (None, "") or customer.company_id is None:
        return
    client = res.adobe()
    try:
        company = client.get_company(customer.company_id)
        if company.super_user_id != customer.id:
            return
        credit = client.get_company_credit(customer.company_id)
    except NotFound:
        return  # no such company (any more): nothing to push
    body = mapping.credit_limit_to_company_credit(record, loads(dumps(credit)))
    if body is None:
        return
    client.update_company_credit(credit.id, credit_limit=body["creditLimit"]["credit_limit"])
    counts["credit_limits_pushed"] += 1


# -- customers created in Intacct ----------------------------------------------------------




def push_new(res: Tenant, record: dict, run_id: str, counts: dict) -> None:
    """Create an Intacct-created customer in Commerce once (ledger row ``icustomer``)."""
    commerce, ledger = res.commerce("o2c"), res.ledger
    key = record["CUSTOMERID"]
    try:
        body, status, reason = mapping.new_commerce_customer(record, commerce), None, None
    except BadDocument as exc:
        body, status, reason = None, QUARANTINED, one_line(exc)
    row = Incoming(doc_type="icustomer", partner="", natural_key=key, source_ref=f"intacct:CUSTOMER:{key}",
                   raw_payload=json.dumps(record, sort_keys=True, default=str).encode(),
                   **({"status": status, "error_class": "rejected", "last_error": reason} if status else {}))
    new = ledger.ingest(INTEGRATION, [row], run_id).new_ids
    pending = [r.id for r in ledger.documents(INTEGRATION, doc_type="icustomer", status="received")
               if r.natural_key == key]
    claimed = ledger.claim(INTEGRATION, sorted(set(new + pending)), run_id) if body else []
    for c in claimed:
        try:
            made = res.adobe().create_customer(body)
        except IntegrationError as exc:
            ledger.record_outcomes(INTEGRATION, [Outcome(c.id, _status(exc),
                                                         error_class=exc.classification, error=one_line(exc))], run_id)
            continue
        update = Customer(customer_id=key, name=record.get("NAME") or key, contact=mapping.intacct_contact(record),
                          status=record.get("STATUS") or "active",
                          custom={commerce.o2c.customer_commerce_id_field: str(made.id)})
        res.intacct().post_functions([functions_parties.customer_update_function(f"{c.idempotency_key}-link", update)])
        ledger.record_outcomes(INTEGRATION, [Outcome(c.id, POSTED, target_id=str(made.id))], run_id)
        _link(res, made, key, run_id)
        counts["created_in_commerce"] += 1


def _status(exc: IntegrationError) -> str:
    return "received" if exc.retryable else "failed"



def _link(res: Tenant, customer, customer_id: str, run_id: str) -> None:
    """The ``customer`` link row of a Commerce customer we created: the Commerce feed then sees
    it as known instead of creating it in Intacct again."""
    row = Incoming(doc_type="customer", partner="", natural_key=str(customer.id), source_ref=f"customer:{customer.id}",
                   raw_payload=dumps(customer), target_ref=customer_id)
    ids = res.ledger.ingest(INTEGRATION, [row], run_id).new_ids
    for c in res.ledger.claim(INTEGRATION, ids, run_id):
        res.ledger.record_outcomes(INTEGRATION, [Outcome(c.id, POSTED, target_id=customer_id)], run_id)


# -- the task --------------------------------------------------------------------------------


def links_by_customer_id(res: Tenant) -> dict[str, int]:
    """CUSTOMERID -> Commerce customer id, from the ledger's posted links."""
    out = {}
    for r in res.ledger.documents(INTEGRATION, doc_type="customer", status=POSTED):
        if r.target_id and r.natural_key.isdigit():
            out[r.target_id] = int(r.natural_key)
    return out


@task(**retry_options())
def sync_customers(tenant: str, run_id: str, changed_ids: list[int] | None = None) -> dict[str, int]:
    """Intacct customers changed since the last sync, and the linked customers ``changed_ids``
    (ledger ids: the pipeline passes the posted customers its run touched, among them those
    whose Commerce record changed), through the rules above. The cursor moves after all of
    them are handled."""
    res = tenant_resources(tenant)
    commerce = res.commerce("o2c")
    counts = {"commerce_updated": 0, "intacct_updated": 0, "created_in_commerce": 0, "credit_limits_pushed": 0,
              "conflicts": 0}
    cursor = res.ledger.get_cursor(INTEGRATION, name=CURSOR)
    started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    since = datetime.strptime(cursor, DATETIME_FORMAT) - OVERLAP if cursor else None
    records = read_changed(res, since)
    links = links_by_customer_id(res)
    by_id = {r["CUSTOMERID"]: r for r in records}
    for row in res.ledger.documents(INTEGRATION, ids=changed_ids or [], doc_type="customer"):
        if row.target_id and row.target_id not in by_id:
            found = query(res.intacct(), "CUSTOMER", mapping.customer_fields(commerce),
                          ("equalto", "CUSTOMERID", row.target_id), None)
            by_id.update({r["CUSTOMERID"]: mapping.nest(r) for r in found})
    conflicts: list[Incoming] = []
    for customer_id, record in by_id.items():
        linked = record.get(commerce.o2c.customer_commerce_id_field) or links.get(customer_id)
        try:
            if linked and str(linked).isdigit():
                conflicts += align_pair(res, record, int(linked), counts)
            elif not linked and customer_id != commerce.o2c.guest_customer_id:
                push_new(res, record, run_id, counts)
        except (BadDocument, NotFound) as exc:
            log.warning("customer %s left as it is: %s", customer_id, one_line(exc))
    if conflicts:  # each distinct decision once: a conflict seen again is a duplicate
        counts["conflicts"] = len(conflicts) - res.ledger.ingest(INTEGRATION, conflicts, run_id).duplicates
    res.ledger.set_cursor(INTEGRATION, started.strftime(DATETIME_FORMAT), name=CURSOR)
    return counts
