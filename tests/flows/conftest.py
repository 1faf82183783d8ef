"""A sandbox world for flow tests: both emulators mounted in-process, demo tenant, blocks
saved on the session's Prefect test server, a fresh SQLite ledger per test."""

from __future__ import annotations

import time

from dataclasses import dataclass

import pytest

from ml_connector.connectors import _http
from ml_connector.connectors.intacct.auth import shared_sessions
from ml_connector.credentials import save_block
from ml_connector.mappings.tenant import TenantMapping, load_tenant, tenant_path
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
from ml_connector.sandbox.sps import SpsEmulator
from ml_connector.runtime.tenant import reset, tenant


@dataclass
class World:
    intacct: IntacctEmulator
    sps: SpsEmulator
    mapping: TenantMapping
    seeded: Seeded

    @property
    def ledger(self):
        return tenant("demo").ledger

    def add_documents(self, n: int, *, seed: int = 3, bad_fraction: float = 0.0) -> None:
        seed_sps_documents(self.sps, self.mapping, n, seed, bad_fraction, self.seeded)

    def add_ar_invoices(self, n: int, *, seed: int = 3) -> None:
        seed_ar_invoices(self.intacct, self.mapping, n, seed, self.seeded)

    def save_blocks(self) -> None:
        """Save the emulators' current credentials as the demo tenant's blocks."""
        save_blocks(self.intacct, self.sps)

    def bill_counts(self) -> dict[tuple[str, str], int]:
        counts: dict = {}
        for bill in self.intacct.bills():
            key = (bill["VENDORID"], bill["RECORDID"])
            counts[key] = counts.get(key, 0) + 1
        return counts


def save_blocks(intacct: IntacctEmulator, sps: SpsEmulator) -> None:
    save_block("demo", "intacct", intacct.credentials())
    save_block("demo", "sps", sps.credentials())


def fresh_ledger(tmp_path, monkeypatch) -> None:
    """A fresh SQLite ledger and ML_CONNECTOR_HOME for one test; cached tenant resources dropped."""
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    reset()


@pytest.fixture()
def mount():
    """``mount(base_url, transport)`` routes a base URL to an in-process emulator for one test;
    everything mounted is unmounted (and tenant resources dropped) afterwards."""
    mounted: list[str] = []

    def _mount(base_url: str, transport) -> None:
        _http.mount(base_url, transport)
        mounted.append(base_url)

    yield _mount
    reset()
    for base_url in mounted:
        _http.unmount(base_url)


def make_world(tmp_path, monkeypatch, *, intacct_faults=None, sps_faults=None, session_ttl=3600.0,
               token_ttl=3600.0) -> World:
    fresh_ledger(tmp_path, monkeypatch)
    shared_sessions().clear()  # a session from another test's emulator means nothing here
    intacct = IntacctEmulator(faults=intacct_faults or FaultPlan(), session_ttl=session_ttl)
    sps = SpsEmulator(faults=sps_faults or FaultPlan(), token_ttl=token_ttl)
    _http.mount(intacct.base_url, intacct.transport())
    _http.mount(sps.base_url, sps.transport())
    mapping = load_tenant(tenant_path("demo"))
    # The demo tenant has a sterling: section, so `check` expects a Sterling block too.
    from ml_connector.sandbox.sterling import SterlingEmulator

    sterling = SterlingEmulator()
    _http.mount(sterling.base_url, sterling.transport())
    save_block("demo", "sterling", sterling.credentials())
    seed_intacct_master(intacct, mapping)
    save_blocks(intacct, sps)
    return World(intacct, sps, mapping, Seeded())


@pytest.fixture()
def world(tmp_path, monkeypatch, prefect_server):
    w = make_world(tmp_path, monkeypatch)
    yield w
    reset()
    _http.unmount(w.intacct.base_url)
    _http.unmount(w.sps.base_url)


@pytest.fixture()
def world_factory(tmp_path, monkeypatch, prefect_server):
    made: list[World] = []

    def factory(**kwargs) -> World:
        w = make_world(tmp_path, monkeypatch, **kwargs)
        made.append(w)
        return w

    yield factory
    reset()
    for w in made:
        _http.unmount(w.intacct.base_url)
        _http.unmount(w.sps.base_url)


# --- Adobe Commerce -> Intacct order to cash (tests/flows/test_commerce_o2c_flows.py) ---------


@dataclass
class O2cWorld:
    """Both order-to-cash sandboxes in-process for tenant demo-commerce."""

    adobe: object
    intacct: IntacctEmulator
    mapping: TenantMapping
    seeded: object
    opening: dict

    @property
    def ledger(self):
        return tenant("demo-commerce").ledger

    @property
    def commerce(self):
        return self.mapping.commerce


def make_o2c_world(tmp_path, monkeypatch, *, orders: int = 30, adobe_faults=None, intacct_faults=None,
                   seed: int = 5, bad: bool = True) -> O2cWorld:
    from ml_connector.demo.parts.commerce_intacct_o2c import seed_catalogue, seed_company, seed_customers
    from ml_connector.sandbox.adobe.seed import seed_adobe
    from ml_connector.sandbox.adobe import AdobeEmulator

    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    reset()
    shared_sessions().clear()
    adobe = AdobeEmulator(faults=adobe_faults or FaultPlan())
    intacct = IntacctEmulator(faults=intacct_faults or FaultPlan())
    _http.mount(adobe.base_url, adobe.transport())
    _http.mount(intacct.base_url, intacct.transport())
    mapping = load_tenant(tenant_path("demo-commerce"))
    with adobe.lock:
        seeded = seed_adobe(adobe.store, orders=orders, seed=seed, bad=bad)
    seed_company(intacct, mapping.commerce)
    opening = seed_catalogue(adobe, intacct, mapping.commerce)
    seed_customers(adobe, intacct, mapping.commerce)
    save_block("demo-commerce", "adobe", adobe.credentials())
    save_block("demo-commerce", "intacct", intacct.credentials())
    # A run reads changes up to its start, to the second, excluding that second (it may still
    # commit); what was seeded in the same second would wait for the next run. Start after it.
    time.sleep(1.01 - time.time() % 1)
    return O2cWorld(adobe, intacct, mapping, seeded, opening)


@pytest.fixture()
def o2c_world_factory(tmp_path, monkeypatch, prefect_server):
    made: list[O2cWorld] = []

    def factory(**kwargs) -> O2cWorld:
        w = make_o2c_world(tmp_path, monkeypatch, **kwargs)
        made.append(w)
        return w

    yield factory
    reset()
    for w in made:
        _http.unmount(w.adobe.base_url)
        _http.unmount(w.intacct.base_url)


# -- Adobe Commerce -> Intacct (tenant demo-commerce) ---------------------------------------------


@dataclass
class CommerceWorld:
    """The demo-commerce tenant: an Adobe Commerce store and a multi-entity Intacct company,
    both in-process, blocks saved, a fresh ledger."""

    adobe: object
    intacct: IntacctEmulator
    mapping: TenantMapping

    @property
    def ledger(self):
        return tenant("demo-commerce").ledger

    def save_blocks(self, **adobe_overrides) -> None:
        creds = self.adobe.credentials()
        creds.pop("webhook_hmac_secret", None)  # RSA unless a test configures the HMAC option
        creds.update(adobe_overrides)
        save_block("demo-commerce", "adobe", creds)
        save_block("demo-commerce", "intacct", self.intacct.credentials())


def make_commerce_world(tmp_path, monkeypatch, *, adobe_faults=None, intacct_faults=None, adobe_transport=None,
                        intacct_transport=None, **adobe_options) -> CommerceWorld:
    from ml_connector.demo.parts.commerce_intacct_ap import setup_commerce_company
    from ml_connector.sandbox.adobe import AdobeEmulator

    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    reset()
    shared_sessions().clear()
    # Commerce's clock a few minutes behind ours: what a test makes "now" is already inside the
    # window a run reads (which ends at the run's start, to the second, by design).
    adobe_options.setdefault("clock", lambda: time.time() - 300)
    adobe = AdobeEmulator(faults=adobe_faults or FaultPlan(), **adobe_options)
    intacct = IntacctEmulator(faults=intacct_faults or FaultPlan())
    setup_commerce_company(intacct)
    _http.mount(adobe.base_url, adobe_transport(adobe) if adobe_transport else adobe.transport())
    _http.mount(intacct.base_url, intacct_transport(intacct) if intacct_transport else intacct.transport())
    world = CommerceWorld(adobe, intacct, load_tenant(tenant_path("demo-commerce")))
    world.save_blocks()
    return world


@pytest.fixture()
def commerce_world_factory(tmp_path, monkeypatch, prefect_server):
    made: list[CommerceWorld] = []

    def factory(**kwargs) -> CommerceWorld:
        w = make_commerce_world(tmp_path, monkeypatch, **kwargs)
        made.append(w)
        return w

    yield factory
    reset()
    for w in made:
        _http.unmount(w.adobe.base_url)
        _http.unmount(w.intacct.base_url)
