"""Typed reads from reference-shaped fixtures, and the writes issues 4 and 5 need."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from adobe_fake import FakeMagento, client_for, error, fixture

from ml_connector.connectors.adobe import Customer
from ml_connector.connectors.errors import BadDocument, RejectedError, TransientError


def store() -> FakeMagento:
    return FakeMagento({"orders": [fixture("order_b2b_po.json")], "invoices": [fixture("invoice.json")],
                        "creditmemos": [fixture("creditmemo.json")], "shipments": [fixture("shipment.json")],
                        "customers": [fixture("customer.json")], "products": [fixture("product.json")],
                        "companies": [fixture("company.json")]})


def test_order_reads_po_number_items_addresses_and_money_as_decimal():
    with client_for(store()) as client:
        order = client.get_order(3)
    assert order.po_number == "PO-4471" and order.payment.method == "purchaseorder"
    assert order.grand_total == Decimal("165.10") and isinstance(order.grand_total, Decimal)
    assert order.updated_at == datetime(2017, 8, 21, 22, 22, 20, tzinfo=UTC)
    assert [i.sku for i in order.billable_items] == ["WS12-M-Orange", "24-WG080-24-WG084-24-WG088-24-WG082-blue-24-WG086"]
    assert order.shipping_address.street == ["500 Dock St", "Bay 4"] and order.billing_address.region_code == "NY"
    assert order.extension_attributes.company_order_attributes["company_id"] == 2  # unknown fields kept
    assert order.customer_is_guest is False and order.has_comment("Order placed by purchase order")


def test_other_documents_and_masters():
    with client_for(store()) as client:
        invoice, memo = client.get_invoice(11), client.get_credit_memo(7)
        shipment, customer = client.get_shipment(4), client.get_customer(3)
        product, company = client.get_product("WS12-M-Orange"), client.get_company(2)
    assert invoice.paid and invoice.items[0].order_item_id == 3 and invoice.grand_total == Decimal("165.10")
    assert memo.invoice_id == 11 and memo.state == 2 and memo.items[0].qty == 1
    assert shipment.tracks[0].track_number == "1Z999AA10123456784"
    assert customer.attribute("loyalty_tier") == "gold" and customer.company_id == 2
    assert product.attribute("cost") == "9.5000" and product.price == 22
    assert company.company_name == "Veronica Costello Inc." and company.super_user_id == 3


def test_company_credit():
    magento = store()
    magento.routes[("GET", "companyCredits/company/2")] = lambda r: httpx.Response(200, json=fixture("company_credit.json"))
    with client_for(magento) as client:
        credit = client.get_company_credit(2)
    assert credit.credit_limit == 1000 and credit.available_limit == 1000 and not credit.exceed_limit


def test_a_malformed_single_read_is_bad_document():
    broken = {**fixture("order_b2b_po.json"), "items": [{"item_id": "x", "sku": "A"}]}
    with client_for(FakeMagento({"orders": [broken]})) as client, pytest.raises(BadDocument, match=r"items\.0\.item_id"):
        client.get_order(3)


def comment_store(fail_first: int = 0, *, commit_failed: bool = True) -> FakeMagento:
    magento = store()
    order = magento.entities["orders"][0]
    state = {"failures": fail_first}

    def add(request):
        history = json.loads(request.content)["statusHistory"]
        if state["failures"] and not commit_failed:
            state["failures"] -= 1
            return error(503, "Service Unavailable")
        order["status_histories"].append({**history, "entity_id": 100 + len(order["status_histories"])})
        if state["failures"]:
            state["failures"] -= 1
            return error(503, "Service Unavailable")  # committed, answer lost
        return httpx.Response(200, json=True)

    magento.routes[("POST", "orders/3/comments")] = add
    return magento


def test_add_order_comment_writes_the_documented_body_once():
    magento = comment_store()
    with client_for(magento) as client:
        assert client.add_order_comment(3, "Intacct invoice INV-1001") is True
        assert client.add_order_comment(3, "Intacct invoice INV-1001") is False  # already there
    posts = [r for r in magento.requests if r.method == "POST"]
    assert len(posts) == 1
    assert json.loads(posts[0].content) == {"statusHistory": {"comment": "Intacct invoice INV-1001",
                                                              "is_customer_notified": 0, "is_visible_on_front": 0,
                                                              "parent_id": 3}}


def test_a_comment_whose_answer_was_lost_is_not_written_twice():
    magento = comment_store(fail_first=1)
    with client_for(magento) as client:
        assert client.add_order_comment(3, "Intacct invoice INV-2002") is True
    comments = [h["comment"] for h in magento.entities["orders"][0]["status_histories"]]
    assert comments.count("Intacct invoice INV-2002") == 1


def test_a_comment_that_did_not_commit_is_sent_again():
    magento = comment_store(fail_first=1, commit_failed=False)
    with client_for(magento) as client:
        assert client.add_order_comment(3, "Intacct invoice INV-3003") is True
    assert [h["comment"] for h in magento.entities["orders"][0]["status_histories"]].count("Intacct invoice INV-3003") == 1
    assert len([r for r in magento.requests if r.method == "POST"]) == 2


def test_set_customer_attribute_keeps_the_rest_of_the_customer():
    magento = store()
    saved = {}

    def put(request):
        saved.update(json.loads(request.content))
        return httpx.Response(200, json={**saved["customer"], "updated_at": "2025-06-01 10:00:00"})

    magento.routes[("PUT", "customers/3")] = put
    with client_for(magento) as client:
        customer = client.set_customer_attribute(3, "intacct_customer_id", "C-0042")
    sent = saved["customer"]
    assert sent["id"] == 3 and sent["email"] == "jdoe@example.com" and sent["website_id"] == 1
    assert {"attribute_code": "loyalty_tier", "value": "gold"} in sent["custom_attributes"]
    assert {"attribute_code": "intacct_customer_id", "value": "C-0042"} in sent["custom_attributes"]
    assert sent["addresses"][0]["street"] == ["123 Oak Ave"] and "created_at" not in sent
    assert sent["extension_attributes"]["company_attributes"]["company_id"] == 2
    assert customer.attribute("intacct_customer_id") == "C-0042"
    with client_for(magento) as client:  # already set: nothing written
        magento.entities["customers"][0]["custom_attributes"].append(
            {"attribute_code": "intacct_customer_id", "value": "C-0042"})
        magento.requests.clear()
        client.set_customer_attribute(3, "intacct_customer_id", "C-0042")
    assert [r.method for r in magento.requests] == ["GET"]


def test_create_customer_and_lookup_after_a_lost_answer():
    magento = FakeMagento({"customers": []})
    state = {"lose": True}

    def create(request):
        body = json.loads(request.content)
        if any(c["email"] == body["customer"]["email"] for c in magento.entities["customers"]):
            return error(400, "A customer with the same email address already exists in an associated website.")
        created = {**body["customer"], "id": 50, "created_at": "2025-06-01 00:00:00"}
        magento.entities["customers"].append(created)
        if state.pop("lose", False):
            return httpx.Response(504, text="gateway timeout")
        return httpx.Response(200, json=created)

    magento.routes[("POST", "customers")] = create
    new = Customer(email="new@example.com", firstname="New", lastname="Buyer", website_id=1)
    with client_for(magento) as client:
        created = client.create_customer(new, password="Secr3t-Passw0rd")
        assert created.id == 50 and len(magento.entities["customers"]) == 1
        with pytest.raises(RejectedError, match="same email address already exists"):
            client.create_customer(new)
    first_post = next(r for r in magento.requests if r.method == "POST")
    assert json.loads(first_post.content)["password"] == "Secr3t-Passw0rd"


def test_update_company_credit_and_balance_changes():
    magento = store()
    credit = fixture("company_credit.json")
    seen = []
    magento.routes[("GET", "companyCredits/2")] = lambda r: httpx.Response(200, json=credit)

    def put(request):
        seen.append(json.loads(request.content))
        credit.update(seen[-1]["creditLimit"])
        return httpx.Response(200, json=credit)

    magento.routes[("PUT", "companyCredits/2")] = put
    magento.routes[("POST", "companyCredits/2/decreaseBalance")] = lambda r: seen.append(json.loads(r.content)) or \
        httpx.Response(200, json=True)
    with client_for(magento) as client:
        updated = client.update_company_credit(2, credit_limit=Decimal("2500.50"))
        assert client.change_credit_balance(2, Decimal("-250"), operation_type=3, currency="USD",
                                            purchase_order="PO-4471") is True
        with pytest.raises(ValueError, match="operationType 3"):
            client.change_credit_balance(2, Decimal("10"), operation_type=3, currency="USD")
    assert seen[0] == {"creditLimit": {"id": 2, "company_id": 2, "credit_limit": 2500.5, "currency_code": "USD",
                                       "exceed_limit": False}}
    assert updated.credit_limit == Decimal("2500.5")
    assert seen[1] == {"value": 250, "currency": "USD", "operationType": 3, "comment": "",
                       "options": {"purchase_order": "PO-4471"}}


def test_a_balance_change_with_a_lost_answer_is_not_resent():
    magento = store()
    calls = []
    magento.routes[("POST", "companyCredits/2/increaseBalance")] = lambda r: calls.append(r) or error(502, "Bad Gateway")
    with client_for(magento) as client, pytest.raises(TransientError):
        client.change_credit_balance(2, Decimal("5"), operation_type=5, currency="USD")
    assert len(calls) == 1
