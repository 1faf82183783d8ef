"""Sandbox worlds for flow tests, from the builder the demo and the benchmarks use
(``ml_connector/demo/sandboxes.py``): emulators mounted in-process, blocks saved on the
session's Prefect test server, a fresh SQLite ledger per test."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from ml_connector.connectors import _http
from ml_connector.demo.sandboxes import RSA_WEBHOOKS, Sandboxes, mounted
from ml_connector.demo.sandboxes import fresh_ledger as start_ledger
from ml_connector.mappings.tenant import TenantMapping, load_tenant, tenant_path
from ml_connector.runtime.tenant import reset, tenant
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
from ml_connector.sandbox.sps import SpsEmulator


@dataclass
class World:
    intacct: IntacctEmulator
    sps: SpsEmulator
    mapping: TenantMapping
    seeded: Seeded
    sandboxes: Sandboxes

    @property
    def ledger(self):
        return tenant("demo").ledger

    def add_documents(self, n: int, *, seed: int = 3, bad_fraction: float = 0.0) -> None:
        seed_sps_documents(self.sps, self.mapping, n, seed, bad_fraction, self.seeded)

    def add_ar_invoices(self, n: int, *, seed: int = 3) -> None:
        seed_ar_invoices(self.intacct, self.mapping, n, seed, self.seeded)

    def save_blocks(self) -> None:
        """Save the emulators' current credentials as the demo tenant's blocks."""
        self.sandboxes.save_blocks("demo", ["intacct", "sps"])

    def bill_counts(self) -> dict[tuple[str, str], int]:
        counts: dict = {}
        for bill in self.intacct.bills():
            key = (bill["VENDORID"], bill["RECORDID"])
            counts[key] = counts.get(key, 0) + 1
        return counts


def fresh_ledger(tmp_path, monkeypatch, home: bool = True) -> None:
    """A fresh SQLite ledger (and ML_CONNECTOR_HOME) for one test, the settings restored after
    it; cached tenant resources and Intacct sessions dropped."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", url)
    if home:
        monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    start_ledger(url)


@pytest.fixture()
def mount():
    """``mount(base_url, transport)`` routes a base URL to an in-process emulator for one test;
    everything mounted is unmounted (and tenant resources dropped) afterwards."""
    routed: list[str] = []

    def _mount(base_url: str, transport) -> None:
        _http.mount(base_url, transport)
        routed.append(base_url)

    yield _mount
    reset()
    for base_url in routed:
        _http.unmount(base_url)


def make_world(tmp_path, monkeypatch, *, intacct_faults=None, sps_faults=None, session_ttl=3600.0,
               token_ttl=3600.0) -> World:
    from ml_connector.sandbox.sterling import SterlingEmulator

    fresh_ledger(tmp_path, monkeypatch)
    sandboxes = Sandboxes(mounted())
    intacct = sandboxes.add(IntacctEmulator(faults=intacct_faults or FaultPlan(), session_ttl=session_ttl))
    sps = sandboxes.add(SpsEmulator(faults=sps_faults or FaultPlan(), token_ttl=token_ttl))
    sandboxes.add(SterlingEmulator())  # the demo tenant has a sterling: section: `check` expects its block
    mapping = load_tenant(tenant_path("demo"))
    seed_intacct_master(intacct, mapping)
    sandboxes.save_blocks("demo")
    return World(intacct, sps, mapping, Seeded(), sandboxes)


def _closing(factory):
    """A fixture body: ``factory(**knobs)`` makes worlds for one test; all closed (emulators
    unmounted, tenant resources dropped) after it."""
    made: list = []

    def make(**kwargs):
        made.append(factory(**kwargs))
        return made[-1]

    yield make
    reset()
    for w in made:
        w.sandboxes.close()


@pytest.fixture()
def world(tmp_path, monkeypatch, prefect_server):
    w = make_world(tmp_path, monkeypatch)
    yield w
    reset()
    w.sandboxes.close()


@pytest.fixture()
def world_factory(tmp_path, monkeypatch, prefect_server):
    yield from _closing(lambda **kwargs: make_world(tmp_path, monkeypatch, **kwargs))


# --- Adobe Commerce -> Intacct order to cash (tests/flows/test_commerce_o2c_flows.py) ---------


@dataclass
class O2cWorld:
    """Both order-to-cash sandboxes in-process for tenant demo-commerce."""

    adobe: object
    intacct: IntacctEmulator
    mapping: TenantMapping
    seeded: object
    opening: dict
    sandboxes: Sandboxes

    @property
    def ledger(self):
        return tenant("demo-commerce").ledger

    @property
    def commerce(self):
        return self.mapping.commerce


def make_o2c_world(tmp_path, monkeypatch, *, orders: int = 30, adobe_faults=None, intacct_faults=None,
                   seed: int = 5, bad: bool = True) -> O2cWorld:
    from ml_connector.demo.parts.commerce_intacct_o2c import seed_catalogue, seed_company, seed_customers
    from ml_connector.sandbox.adobe import AdobeEmulator
    from ml_connector.sandbox.adobe.seed import seed_adobe

    fresh_ledger(tmp_path, monkeypatch, home=False)
    sandboxes = Sandboxes(mounted())
    adobe = sandboxes.add(AdobeEmulator(faults=adobe_faults or FaultPlan()))
    intacct = sandboxes.add(IntacctEmulator(faults=intacct_faults or FaultPlan()))
    mapping = load_tenant(tenant_path("demo-commerce"))
    with adobe.lock:
        seeded = seed_adobe(adobe.store, orders=orders, seed=seed, bad=bad)
    seed_company(intacct, mapping.commerce)
    opening = seed_catalogue(adobe, intacct, mapping.commerce)
    seed_customers(adobe, intacct, mapping.commerce)
    sandboxes.save_blocks("demo-commerce")
    # A run reads changes up to its start, to the second, excluding that second (it may still
    # commit); what was seeded in the same second would wait for the next run. Start after it.
    time.sleep(1.01 - time.time() % 1)
    return O2cWorld(adobe, intacct, mapping, seeded, opening, sandboxes)


@pytest.fixture()
def o2c_world_factory(tmp_path, monkeypatch, prefect_server):
    yield from _closing(lambda **kwargs: make_o2c_world(tmp_path, monkeypatch, **kwargs))


# -- Adobe Commerce -> Intacct (tenant demo-commerce) ---------------------------------------------


@dataclass
class CommerceWorld:
    """The demo-commerce tenant: an Adobe Commerce store and a multi-entity Intacct company,
    both in-process, blocks saved, a fresh ledger."""

    adobe: object
    intacct: IntacctEmulator
    mapping: TenantMapping
    sandboxes: Sandboxes

    @property
    def ledger(self):
        return tenant("demo-commerce").ledger

    def save_blocks(self, **adobe_overrides) -> None:
        overrides = {"adobe": {**RSA_WEBHOOKS["adobe"], **adobe_overrides}}
        self.sandboxes.save_blocks("demo-commerce", overrides=overrides)


def make_commerce_world(tmp_path, monkeypatch, *, adobe_faults=None, intacct_faults=None, adobe_transport=None,
                        intacct_transport=None, **adobe_options) -> CommerceWorld:
    from ml_connector.demo.parts.commerce_intacct_ap import setup_commerce_company
    from ml_connector.sandbox.adobe import AdobeEmulator

    fresh_ledger(tmp_path, monkeypatch, home=False)
    wrap = {system: make for system, make in (("adobe", adobe_transport), ("intacct", intacct_transport)) if make}
    sandboxes = Sandboxes(mounted(wrap))
    # Commerce's clock a few minutes behind ours: what a test makes "now" is already inside the
    # window a run reads (which ends at the run's start, to the second, by design).
    adobe_options.setdefault("clock", lambda: time.time() - 300)
    adobe = sandboxes.add(AdobeEmulator(faults=adobe_faults or FaultPlan(), **adobe_options))
    intacct = IntacctEmulator(faults=intacct_faults or FaultPlan())
    setup_commerce_company(intacct)
    sandboxes.add(intacct)
    world = CommerceWorld(adobe, intacct, load_tenant(tenant_path("demo-commerce")), sandboxes)
    world.save_blocks()
    return world


@pytest.fixture()
def commerce_world_factory(tmp_path, monkeypatch, prefect_server):
    yield from _closing(lambda **kwargs: make_commerce_world(tmp_path, monkeypatch, **kwargs))
