"""The client against the sandbox's Adobe Commerce emulator (built separately from the same
reference sheet): every auth mode, the paging trap in both modes, the seeded ground truth, and
a signed webhook delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.adobe import AdobeClient, AdobeConfig, WebhookVerifier, parse_webhook
from ml_connector.connectors.errors import AuthError
from ml_connector.sandbox.adobe import AdobeEmulator
from ml_connector.sandbox.adobe.seed import seed_adobe


def world(**options):
    emulator = AdobeEmulator(**options)
    with emulator.lock:
        seeded = seed_adobe(emulator.store, bad=True)
    return emulator, seeded, emulator.credentials()


def config_for(mode: str, c: dict) -> AdobeConfig:
    if mode == "ims":
        return AdobeConfig(base_url=c["saas_url"], deployment="saas", ims_client_id=c["ims_client_id"],
                           ims_client_secret=c["ims_client_secret"], ims_org_id=c["ims_org_id"],
                           ims_token_url=c["ims_token_url"])
    if mode == "admin":
        return AdobeConfig(base_url=c["base_url"], store_code="default", username=c["username"], password=c["password"])
    if mode == "bearer":
        return AdobeConfig(base_url=c["base_url"], store_code="default", access_token=c["access_token"])
    return AdobeConfig(base_url=c["base_url"], store_code="default", consumer_key=c["consumer_key"],
                       consumer_secret=c["consumer_secret"], access_token=c["access_token"],
                       access_token_secret=c["access_token_secret"])


def connect(emulator, config) -> AdobeClient:
    return AdobeClient(config, http=httpx.Client(transport=emulator.transport()),
                       policy=RetryPolicy(attempts=3, sleep=lambda _s: None))


@pytest.mark.parametrize(("mode", "past_end"), [("oauth1", "repeat"), ("admin", "empty"), ("ims", "repeat"),
                                                ("bearer", "repeat")])
def test_reads_every_order_once_in_every_auth_mode(mode, past_end):
    emulator, seeded, creds = world(past_end=past_end, bearer_enabled=mode == "bearer")
    with connect(emulator, config_for(mode, creds)) as client:
        feed = client.changes("orders", since=datetime(2000, 1, 1, tzinfo=UTC), page_size=7)
        pages = list(feed)
    items = [o for p in pages for o in p.items]
    rejects = [r for p in pages for r in p.rejects]
    seen = [o.increment_id for o in items] + [r.raw.get("increment_id") for r in rejects]
    assert sorted(seen) == sorted(seeded.orders) and len(set(seen)) == len(seen)
    assert {o.increment_id: o.po_number for o in items if o.po_number} == \
        {k: v for k, v in seeded.po_orders.items() if k in {o.increment_id for o in items}}
    assert all("malformed" in str(r.error) for r in rejects)
    assert all(isinstance(o.grand_total, Decimal) for o in items)


def test_writes_back_and_reads_masters():
    emulator, seeded, creds = world()
    with connect(emulator, config_for("oauth1", creds)) as client:
        order = client.search("orders").items[0]
        assert client.add_order_comment(order.entity_id, "Intacct invoice INV-77") is True
        assert client.add_order_comment(order.entity_id, "Intacct invoice INV-77") is False
        customer_id = next(iter(seeded.customers.values()))
        updated = client.set_customer_attribute(customer_id, "intacct_customer_id", "C-77")
        assert client.get_customer(customer_id).attribute("intacct_customer_id") == "C-77" == \
            updated.attribute("intacct_customer_id")
        company = next(iter(client.pages("companies"))).items[0]
        credit = client.get_company_credit(company.id)
        assert client.update_company_credit(credit.id, credit_limit=Decimal("1234.50")).credit_limit == Decimal("1234.50")


def test_two_factor_admin_is_an_auth_error_and_webhooks_verify():
    emulator, _, creds = world(two_factor=True)
    with connect(emulator, config_for("admin", creds)) as client, pytest.raises(AuthError, match="2fa"):
        client.search("orders")
    body, headers = emulator.webhook_delivery("order", 1)
    WebhookVerifier(creds["webhook_public_key"]).verify(body, headers)
    event = parse_webhook(body)
    assert event.entity_kind == "orders" and event.entity_ids == ("1",)
