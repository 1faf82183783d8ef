"""The Adobe Commerce emulator's order revisions over HTTP: cancel (Magento's ``canCancel``: the
API answers ``false`` where Magento would not cancel), hold and unhold, an order edited in place
and an admin edit that cancels the order and places ``<increment_id>-1``; each moves
``updated_at``, which is what the change feed reads by."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from ml_connector.sandbox.adobe import AdobeEmulator
from ml_connector.sandbox.adobe.errors import AdobeError


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world():
    clock = Clock()
    emu = AdobeEmulator(clock=clock)
    with emu.lock:
        store = emu.store
        store.add_product("SKU-1", "Widget", "10.00")
        customer = store.create_customer({"email": "ada@example.org", "firstname": "Ada", "lastname": "Ng"})
    http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    creds = emu.credentials()
    token = http.post("/rest/V1/integration/admin/token",
                      json={"username": creds["username"], "password": creds["password"]}).json()
    return emu, http, clock, {"Authorization": f"Bearer {token}"}, customer


def place(emu: AdobeEmulator, customer: dict, qty: int = 2) -> dict:
    with emu.lock:
        product = emu.store.product_by_sku("SKU-1")
        line = {"sku": "SKU-1", "name": "Widget", "product_id": product["id"], "price": product["price"], "qty": qty}
        return emu.store.place_order(store_id=1, lines=[line], customer=customer)


def read(http: httpx.Client, auth: dict, order_id: int) -> dict:
    answer = http.get(f"/rest/V1/orders/{order_id}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_cancel_answers_true_then_false_and_an_invoiced_order_cannot_be_cancelled(world):
    emu, http, clock, auth, customer = world
    order = place(emu, customer)
    clock.now += 60
    assert http.post(f"/rest/V1/orders/{order['entity_id']}/cancel", headers=auth).json() is True
    seen = read(http, auth, order["entity_id"])
    assert seen["state"] == seen["status"] == "canceled" and seen["updated_at"] > seen["created_at"]
    assert Decimal(str(seen["items"][0]["qty_canceled"])) == 2
    assert http.post(f"/rest/V1/orders/{order['entity_id']}/cancel", headers=auth).json() is False
    invoiced = place(emu, customer)
    with emu.lock:
        emu.store.invoice(invoiced["entity_id"])
    assert http.post(f"/rest/V1/orders/{invoiced['entity_id']}/cancel", headers=auth).json() is False
    assert read(http, auth, invoiced["entity_id"])["state"] == "processing"


def test_hold_and_unhold_keep_the_state_before_and_a_held_order_cannot_be_cancelled(world):
    emu, http, clock, auth, customer = world
    order = place(emu, customer)
    clock.now += 60
    assert http.post(f"/rest/V1/orders/{order['entity_id']}/hold", headers=auth).json() is True
    held = read(http, auth, order["entity_id"])
    assert (held["state"], held["status"]) == ("holded", "holded") and held["updated_at"] > held["created_at"]
    assert http.post(f"/rest/V1/orders/{order['entity_id']}/cancel", headers=auth).json() is False
    assert http.post(f"/rest/V1/orders/{order['entity_id']}/unhold", headers=auth).json() is True
    assert (read(http, auth, order["entity_id"])["state"], read(http, auth, order["entity_id"])["status"]) == (
        "new", "pending")
    assert http.post(f"/rest/V1/orders/{order['entity_id']}/unhold", headers=auth).json() is False


def test_an_order_edited_in_place_keeps_its_numbers_and_its_totals_follow_the_lines(world):
    emu, http, clock, auth, customer = world
    order = place(emu, customer, qty=2)
    clock.now += 60
    with emu.lock:
        emu.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 5})
    seen = read(http, auth, order["entity_id"])
    assert (seen["entity_id"], seen["increment_id"]) == (order["entity_id"], order["increment_id"])
    assert Decimal(str(seen["items"][0]["qty_ordered"])) == 5
    assert Decimal(str(seen["subtotal"])) == Decimal("50.00")
    assert Decimal(str(seen["grand_total"])) == Decimal("50.00") + Decimal(str(seen["shipping_amount"]))
    assert seen["updated_at"] > seen["created_at"]
    with emu.lock:
        emu.store.invoice(order["entity_id"])
        with pytest.raises(AdobeError):
            emu.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 1})


def test_an_admin_edit_cancels_the_order_and_places_its_dash_one_linked_both_ways(world):
    emu, http, clock, auth, customer = world
    order = place(emu, customer, qty=2)
    clock.now += 60
    product = emu.store.product_by_sku("SKU-1")
    with emu.lock:
        new = emu.store.edit_by_reorder(order["entity_id"], [
            {"sku": "SKU-1", "name": "Widget", "product_id": product["id"], "price": product["price"], "qty": 3}])
        again = emu.store.edit_by_reorder(new["entity_id"], [
            {"sku": "SKU-1", "name": "Widget", "product_id": product["id"], "price": product["price"], "qty": 4}])
    old, first = read(http, auth, order["entity_id"]), read(http, auth, new["entity_id"])
    assert old["state"] == "canceled" and old["relation_child_real_id"] == f"{order['increment_id']}-1"
    assert (first["increment_id"], first["relation_parent_id"], first["customer_id"]) == (
        f"{order['increment_id']}-1", order["entity_id"], customer["id"])
    assert first["state"] == "canceled" and again["increment_id"] == f"{order['increment_id']}-2"
    assert Decimal(str(read(http, auth, again["entity_id"])["subtotal"])) == Decimal("40.00")


def test_seeded_revisions_change_only_what_magento_allows_and_move_updated_at():
    from ml_connector.sandbox.adobe.revise import revise_orders
    from ml_connector.sandbox.adobe.seed import seed_adobe

    emu = AdobeEmulator(clock=Clock())
    with emu.lock:
        seed_adobe(emu.store, orders=40, seed=3, bad=False)
        before = {o["increment_id"]: (o["state"], o["updated_at"], o["grand_total"]) for o in emu.store.rows("order")}
        revised = revise_orders(emu.store, seed=5, share=0.6)
        again = revise_orders(AdobeEmulator(clock=Clock()).store, seed=5, share=0.6)  # an empty world: nothing
    assert revised.cancelled and (revised.edited or revised.reordered) and not (again.cancelled or again.edited)
    by_number = {o["increment_id"]: o for o in emu.store.rows("order")}
    for number in revised.cancelled:
        assert before[number][0] not in ("canceled", "complete", "closed") and by_number[number]["state"] == "canceled"
    for number, total in revised.edited.items():
        assert before[number][0] == "new" and by_number[number]["grand_total"] == total > before[number][2]
    for old, new in revised.reordered.items():
        assert by_number[old]["state"] == "canceled" and by_number[new]["relation_parent_real_id"] == old
    for number in revised.held:
        assert by_number[number]["state"] == before[number][0]
    changed = set(revised.cancelled) | set(revised.edited) | set(revised.reordered) | set(revised.held)
    assert all(by_number[n]["updated_at"] > before[n][1] for n in changed)  # the change feed reads them again
