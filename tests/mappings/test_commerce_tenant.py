"""The commerce: tenant section (validation at load time) and the vendor/customer conflict rule."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ml_connector.mappings import commerce_o2c_customers as customers
from ml_connector.mappings import commerce_to_intacct_ap as ap
from ml_connector.mappings.commerce_parties import reconcile
from ml_connector.mappings.commerce_tenant import ConflictRule
from ml_connector.mappings.tenant import TenantMapping, load_tenant

TENANT_FILE = Path(__file__).parents[2] / "tenants" / "demo-commerce.yaml"
COMMERCE = load_tenant(TENANT_FILE).commerce
FIXTURES = Path(__file__).parents[1] / "fixtures" / "commerce"


def raw() -> dict:
    return yaml.safe_load(TENANT_FILE.read_text())


def doc(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("change,message", [
    (lambda c: c["stores"]["default"].update(website="nowhere"), "unknown website 'nowhere'"),
    (lambda c: c["stores"]["b2b"].update(store_id=1), "store_id is listed twice"),
    (lambda c: c["o2c"].update(entity_id_field="commerce id"), "integration name"),
    (lambda c: c["o2c"]["payment"].update(bank_account_id="BOA"), "exactly one of"),
    (lambda c: c["conflicts"].update(commerce_fields=["name", "credit_limit"]), "two masters: credit_limit"),
    (lambda c: c["procure"].update(surprise=1), "Extra inputs are not permitted"),
])
def test_bad_commerce_sections_fail_at_load_time(change, message):
    data = raw()
    change(data["commerce"])
    with pytest.raises(ValidationError, match=message):
        TenantMapping.model_validate(data)


def test_demo_tenant_routes_every_store():
    assert COMMERCE.entities == ["EU01", "US01"]
    assert COMMERCE.route(2).department == "B2B" and COMMERCE.route(4).warehouse == "WH-EU"
    assert COMMERCE.route(99) is None


def test_master_fields_win_regardless_of_time_and_conflicts_are_reported():
    rule = ConflictRule()
    early, late = datetime(2024, 5, 1), datetime(2024, 5, 2)
    intacct = {"email": "old@example.com", "status": "inactive", "nickname": "I", "phone": None}
    commerce = {"email": "new@example.com", "status": "active", "nickname": "C", "phone": "555"}
    merged, conflicts = reconcile(intacct, late, commerce, early, rule)
    assert merged == {"email": "new@example.com", "status": "inactive", "nickname": "I", "phone": "555"}
    assert [(c.field, c.winner, c.reason) for c in conflicts] == [
        ("email", "commerce", "master"), ("nickname", "intacct", "newer"), ("status", "intacct", "master")]
    _, tie = reconcile(intacct, early, commerce, early, rule)
    assert [(c.field, c.winner, c.reason) for c in tie if c.field == "nickname"] == [("nickname", "intacct", "tie")]
    _, newer = reconcile(intacct, early, commerce, late, rule)
    assert [(c.field, c.winner) for c in newer if c.field == "nickname"] == [("nickname", "commerce")]
    assert conflicts[0].as_dict()["intacct_value"] == "old@example.com"


def test_intacct_customer_id_goes_back_to_commerce_as_an_attribute():
    record = {"CUSTOMERID": "CC-3", "NAME": "Doe Supplies LLC", "WHENMODIFIED": "05/04/2024 10:00:00",
              "DISPLAYCONTACT": {"EMAIL1": "jdoe@example.com", "FIRSTNAME": "Janet"}}
    body, conflicts = customers.intacct_to_commerce_customer(record, doc("customer.json"), COMMERCE)
    attributes = body["customer"]["custom_attributes"]
    assert {"attribute_code": "intacct_customer_id", "value": "CC-3"} in attributes
    assert {"attribute_code": "loyalty_tier", "value": "gold"} in attributes
    # first_name is a Commerce-mastered contact field: Commerce keeps "Jane", and the conflict is reported
    assert body["customer"]["firstname"] == "Jane"
    assert [(c.field, c.winner) for c in conflicts] == [("first_name", "commerce")]
    assert customers.customer_id_for(doc("customer_linked.json"), COMMERCE) == "C-0001"


def test_vendor_master_flows_back_to_the_commerce_customer():
    record = {"VENDORID": "VC-3", "NAME": "Doe Supplies LLC", "DISPLAYCONTACT.EMAIL1": "jdoe@example.com"}
    body, conflicts = ap.vendor_to_commerce_customer(record, doc("customer.json"), COMMERCE)
    assert body["customer"]["id"] == 3 and conflicts == []
    assert all(a["attribute_code"] != "intacct_customer_id" for a in body["customer"]["custom_attributes"])


def test_credit_limit_goes_to_the_company_credit_only_when_it_changed():
    credit = doc("company_credit.json")
    assert customers.credit_limit_to_company_credit({"CUSTOMERID": "CC-3", "CREDITLIMIT": "1000"}, credit) is None
    body = customers.credit_limit_to_company_credit({"CUSTOMERID": "CC-3", "CREDITLIMIT": "2500.00"}, credit)
    assert body == {"creditLimit": {"id": 2, "company_id": 2, "credit_limit": Decimal("2500.00"), "currency_code": "USD",
                                    "exceed_limit": False}}
    assert isinstance(body["creditLimit"]["credit_limit"], Decimal)  # money stays Decimal up to the wire
    from ml_connector.connectors.errors import BadDocument
    with pytest.raises(BadDocument, match="not a number"):
        customers.credit_limit_to_company_credit({"CUSTOMERID": "CC-3", "CREDITLIMIT": "lots"}, credit)
