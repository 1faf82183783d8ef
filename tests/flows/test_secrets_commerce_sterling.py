"""Canary secrets for Adobe Commerce (procure and order to cash) and IBM Sterling: after real
runs in every auth mode, with faults, a credential the system refuses, and a signed and a
forged webhook, no canary appears in the logs (this process's and the Prefect server's run
logs), the ledger file, the error texts the ledger stores, the artifacts, the Prefect
server's database file, or the text of any exception a run ended with."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogHandler

from ml_connector.sandbox.base import FaultPlan

TENANT = "demo-commerce"
ADOBE_CANARY = {
    "consumer_secret": "CANARY-adobe-consumer-secret-1a7e",
    "access_token_secret": "CANARY-adobe-token-secret-6b2d",
    "password": "CANARY-adobe-admin-password-c9f0",
    "ims_client_secret": "CANARY-adobe-ims-secret-3e58",
    "webhook_hmac_secret": "CANARY-adobe-webhook-hmac-77d4",
}
ADOBE_REFUSED = "CANARY-adobe-refused-secret-0b91"  # a secret the store does not know: a failed run
STERLING_CANARY = "CANARY-sterling-password-5f3a"
STERLING_REFUSED = "CANARY-sterling-refused-8c12"
SAAS_ORIGIN = "https://canary.api.commerce.adobe.com"  # an ACCS host name: IMS is the only auth there


def exception_texts(states) -> str:
    """What each run ended with, as an operator sees it: state message and exception text."""
    texts = []
    for state in states:
        texts.append(state.message or "")
        if not state.is_completed():
            texts.append(repr(state.result(raise_on_failure=False)))
    return " ".join(texts)


def read_all(read, page: int = 200) -> list:
    """Every item of a Prefect API listing (the server answers at most 200 per call)."""
    items: list = []
    while True:
        got = read(limit=page, offset=len(items))
        items += got
        if len(got) < page:
            return items


def haystacks(ledger, integrations, caplog, prefect_home: Path, states) -> dict[str, str]:
    found = {"logs": caplog.text,
             "ledger": Path(ledger.url.removeprefix("sqlite:///")).read_bytes().decode("latin-1"),
             "exceptions": exception_texts(states)}
    rows = [r for name in integrations for r in ledger.documents(name)]
    found["ledger errors"] = " ".join(r.last_error or "" for r in rows)
    APILogHandler().flush()  # the runs' logs still queued for the server: sent and stored first
    with get_client(sync_client=True) as client:
        found["artifacts"] = " ".join(str(a.data) for a in read_all(client.read_artifacts))
        found["prefect run logs"] = " ".join(log.message for log in read_all(client.read_logs))
    for db in sorted(prefect_home.glob("*.db*")):  # block documents are stored encrypted, the rest plain
        found[f"prefect database {db.name}"] = db.read_bytes().decode("latin-1")
    assert any(k.startswith("prefect database") for k in found)
    assert found["prefect run logs"] and found["exceptions"].strip()  # searched, not empty
    return found


def assert_no_canary(found: dict[str, str], canaries) -> None:
    for where, text in found.items():
        for canary in canaries:
            assert canary not in text, f"{canary} leaked into {where}"


def canary_commerce(world) -> None:
    """Re-key the Adobe sandbox with the canaries."""
    adobe = world.adobe
    adobe.integration.consumer_secret = ADOBE_CANARY["consumer_secret"]
    adobe.integration.access_token_secret = ADOBE_CANARY["access_token_secret"]
    adobe.admin_password = ADOBE_CANARY["password"]
    adobe.ims.client_secret = ADOBE_CANARY["ims_client_secret"]
    adobe.signer.hmac_secret = ADOBE_CANARY["webhook_hmac_secret"]


def save_adobe(world, **overrides) -> None:
    """The tenant's Adobe block: the canaries, HMAC webhooks (no public key), then ``overrides``."""
    from ml_connector.runtime.tenant import reset

    world.save_blocks(webhook_public_key=None, webhook_hmac_secret=ADOBE_CANARY["webhook_hmac_secret"], **overrides)
    reset()  # the next run builds its Adobe client from the block just saved


def webhooks(world) -> None:
    """A delivery signed with the canary HMAC secret is stored; a forged one (a real signature,
    of another body) is refused."""
    from starlette.testclient import TestClient

    from ml_connector.webhooks.app import create_app

    with world.adobe.lock:
        first, second = world.adobe.store.rows("order")[:2]
    body, headers = world.adobe.webhook_delivery("order", first["entity_id"], scheme="hmac")
    other = world.adobe.webhook_delivery("order", second["entity_id"], scheme="hmac")[1]
    with TestClient(create_app(TENANT, trigger=None, adobe={"trigger": lambda t, k: None})) as client:
        forged = {**headers, "x-adobe-signature": other["x-adobe-signature"]}
        assert client.post("/webhooks/adobe", content=body, headers=forged).status_code == 401
        good = client.post("/webhooks/adobe", content=body, headers=headers)
        assert good.status_code == 200 and good.headers["x-ml-connector-stored"] == "1"


def test_adobe_procure_canaries_in_every_auth_mode_and_webhooks(commerce_world_factory, mount, caplog, prefect_home):
    from ml_connector.demo.parts.commerce_intacct_ap import seed_procure
    from ml_connector.flows.commerce_to_intacct_ap import commerce_to_intacct_ap
    from ml_connector.inbox import adobe
    from ml_connector.mappings.commerce_ap_documents import INTEGRATION
    from ml_connector.sandbox.adobe.seed import seed_adobe

    world = commerce_world_factory(adobe_faults=FaultPlan(rate_5xx=0.1, rate_lost_write=0.2, seed=4))
    with world.adobe.lock:
        seed_adobe(world.adobe.store, orders=12, seed=7, bad=True)
        seed_procure(world.intacct, world.adobe.store, world.mapping, existing_vendors=False)
    canary_commerce(world)
    mount(SAAS_ORIGIN, world.adobe.transport())
    caplog.set_level(logging.DEBUG)
    states = []

    save_adobe(world)  # OAuth 1.0a: consumer and access token secrets
    webhooks(world)
    states.append(commerce_to_intacct_ap(tenant=TENANT, return_state=True))
    save_adobe(world, auth_mode="admin")
    states.append(commerce_to_intacct_ap(tenant=TENANT, return_state=True))
    world.adobe.expire_tokens()  # the cached admin token dies: the client logs in with the password again
    states.append(commerce_to_intacct_ap(tenant=TENANT, return_state=True))
    credentials = world.adobe.credentials()
    save_adobe(world, base_url=credentials["saas_url"].replace(world.adobe.base_url, SAAS_ORIGIN),
               ims_token_url=credentials["ims_token_url"].replace(world.adobe.base_url, SAAS_ORIGIN))
    states.append(commerce_to_intacct_ap(tenant=TENANT, return_state=True))
    save_adobe(world, consumer_secret=ADOBE_REFUSED)  # refused: the run fails with an AuthError
    refused = commerce_to_intacct_ap(tenant=TENANT, return_state=True)
    states.append(refused)

    assert {"oauth1", "admin", "ims"} <= set(world.adobe.auth_modes)  # each secret really was used
    assert not refused.is_completed()
    assert world.ledger.status_counts(INTEGRATION).get("posted", 0) > 0
    found = haystacks(world.ledger, [INTEGRATION, adobe(INTEGRATION).box], caplog, prefect_home, states)
    assert_no_canary(found, [*ADOBE_CANARY.values(), ADOBE_REFUSED])


def test_adobe_order_to_cash_canaries(o2c_world_factory, caplog, prefect_home):
    from ml_connector.flows.commerce_to_intacct_o2c import commerce_to_intacct_o2c
    from ml_connector.inbox import adobe

    world = o2c_world_factory(orders=12, adobe_faults=FaultPlan(rate_5xx=0.1, seed=6),
                              intacct_faults=FaultPlan(rate_lost_write=0.2, seed=6))
    canary_commerce(world)
    caplog.set_level(logging.DEBUG)
    integration = "commerce-intacct-o2c"
    states = []
    save_adobe_o2c(world)
    webhooks(world)
    states.append(commerce_to_intacct_o2c(tenant=TENANT, return_state=True))
    save_adobe_o2c(world, auth_mode="admin")
    world.adobe.expire_tokens()
    states.append(commerce_to_intacct_o2c(tenant=TENANT, return_state=True))
    save_adobe_o2c(world, access_token_secret=ADOBE_REFUSED)
    refused = commerce_to_intacct_o2c(tenant=TENANT, return_state=True)
    states.append(refused)

    assert {"oauth1", "admin"} <= set(world.adobe.auth_modes)
    assert not refused.is_completed()
    assert world.ledger.status_counts(integration).get("posted", 0) > 0
    # Order to cash keeps no inbox: the procure integration's inbox holds the notification.
    found = haystacks(world.ledger, [integration, adobe("commerce-intacct-ap").box], caplog, prefect_home, states)
    assert_no_canary(found, [*ADOBE_CANARY.values(), ADOBE_REFUSED])


def save_adobe_o2c(world, **overrides) -> None:
    from ml_connector.credentials import save_block
    from ml_connector.runtime.tenant import reset

    creds = {**world.adobe.credentials(), "webhook_public_key": None,
             "webhook_hmac_secret": ADOBE_CANARY["webhook_hmac_secret"], **overrides}
    save_block(TENANT, "adobe", creds)
    reset()


@pytest.fixture()
def sterling_world(world_factory):
    from ml_connector.connectors import _http
    from ml_connector.credentials import save_block
    from ml_connector.sandbox.sterling import SterlingEmulator

    world = world_factory()
    world.sterling = SterlingEmulator(faults=FaultPlan(rate_5xx=0.1, rate_lost_write=0.2, seed=9),
                                      password=STERLING_CANARY)
    _http.mount(world.sterling.base_url, world.sterling.transport())
    save_block("demo", "sterling", world.sterling.credentials())
    yield world
    _http.unmount(world.sterling.base_url)


def test_sterling_canaries_outbound_mailbox_and_a_refused_password(sterling_world, caplog, prefect_home):
    from ml_connector.credentials import save_block
    from ml_connector.flows.intacct_to_sterling import intacct_to_sterling
    from ml_connector.flows.sps_to_intacct import sps_to_intacct
    from ml_connector.flows.sterling_mailbox import sterling_mailbox
    from ml_connector.runtime.tenant import reset

    world = sterling_world
    world.add_documents(10)
    assert sps_to_intacct(tenant="demo", return_state=True).is_completed()  # AP bills to deliver
    world.sterling.answer_with_997("accept")
    world.sterling.answer_with_997("reject", partner="NORTHWIND")
    caplog.set_level(logging.DEBUG)
    states = [intacct_to_sterling(tenant="demo", return_state=True) for _ in range(2)]
    states.append(sterling_mailbox(tenant="demo", overdue_after_minutes=0, return_state=True))
    save_block("demo", "sterling", {**world.sterling.credentials(), "password": STERLING_REFUSED})
    reset()
    refused = [intacct_to_sterling(tenant="demo", return_state=True),
               sterling_mailbox(tenant="demo", return_state=True)]
    states += refused

    assert world.sterling.delivered("ACME_DIST")  # the canary password really was used
    assert not all(state.is_completed() for state in refused)  # the refused one failed a run (AuthError)
    found = haystacks(world.ledger, ["intacct-sterling", "sterling-inbound", "sps-intacct"], caplog, prefect_home,
                      states)
    assert_no_canary(found, [STERLING_CANARY, STERLING_REFUSED])
