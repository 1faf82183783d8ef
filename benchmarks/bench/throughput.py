"""One timed run of one path of one integration, on a fresh world: the product (the deployed
flow through Prefect, with ledger and dedup), the raw pipeline (``raw_pipelines``) and the
naive design (``naive``). Each returns ``world.finish``'s record, with the wall time and the
CPU time of this process (all its threads): on a shared machine the CPU time is the steadier
of the two, since a noisy neighbour stretches wall time but not the work done."""

from __future__ import annotations

import time
from pathlib import Path

from . import QBO_TENANT, TENANT
from .emulator_host import EmulatorHost
from .naive import naive_flow
from .raw_pipelines import raw_intacct_to_sps, raw_sps_to_intacct, raw_sps_to_qbo
from .world import count_task_runs, finish, fresh_world


def _timed_flow(host: EmulatorHost, name: str, documents: int, world: dict, flow_fn, tenant: str,
                page_size: int) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    state = flow_fn(tenant=tenant, page_size=page_size, return_state=True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    counts = state.result()
    task_runs = count_task_runs(str(state.state_details.flow_run_id))
    return finish(host, name, documents, seconds, counts, world, task_runs, cpu_seconds=cpu)


def _timed_raw(host: EmulatorHost, documents: int, world: dict, raw_fn, tenant: str, page_size: int) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    counts = raw_fn(tenant, page_size)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return finish(host, "raw", documents, seconds, counts, world, cpu_seconds=cpu)


def product_inbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                    bad_fraction: float = 0.0) -> dict:
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    world = fresh_world(host, work, documents=documents, seed=seed, bad_fraction=bad_fraction)
    return _timed_flow(host, "product", documents, world, sps_to_intacct, TENANT, page_size)


def raw_inbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                bad_fraction: float = 0.0) -> dict:
    world = fresh_world(host, work, documents=documents, seed=seed, bad_fraction=bad_fraction)
    return _timed_raw(host, documents, world, raw_sps_to_intacct, TENANT, page_size)


def naive_inbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                  bad_fraction: float = 0.0) -> dict:
    flow_fn = naive_flow()
    world = fresh_world(host, work, documents=documents, seed=seed, bad_fraction=bad_fraction)
    return _timed_flow(host, "naive", documents, world, flow_fn, TENANT, page_size)


def product_outbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    from ml_connector.flows.intacct_to_sps import intacct_to_sps

    world = fresh_world(host, work, ar_invoices=documents, seed=seed)
    result = _timed_flow(host, "product", documents, world, intacct_to_sps, TENANT, page_size)
    result["invoices_missing"] = world["expected_invoices"] - result["sps_in"]
    return result


def raw_outbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    world = fresh_world(host, work, ar_invoices=documents, seed=seed)
    result = _timed_raw(host, documents, world, raw_intacct_to_sps, TENANT, page_size)
    result["invoices_missing"] = world["expected_invoices"] - result["sps_in"]
    return result


def product_sps_qbo(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    from ml_connector.flows.sps_to_qbo import sps_to_qbo

    world = fresh_world(host, work, documents=documents, seed=seed, target="qbo")
    return _timed_flow(host, "product", documents, world, sps_to_qbo, QBO_TENANT, page_size)


def raw_qbo(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    world = fresh_world(host, work, documents=documents, seed=seed, target="qbo")
    return _timed_raw(host, documents, world, raw_sps_to_qbo, QBO_TENANT, page_size)
