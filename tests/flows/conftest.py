"""A sandbox world for flow tests: both emulators mounted in-process, demo tenant, blocks
saved on the session's Prefect test server, a fresh SQLite ledger per test."""

from __future__ import annotations

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
from ml_connector.tasks.resources import reset, tenant


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


def make_world(tmp_path, monkeypatch, *, intacct_faults=None, sps_faults=None, session_ttl=3600.0,
               token_ttl=3600.0) -> World:
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    reset()
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
