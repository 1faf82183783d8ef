"""Hostile input through the real inbound flow: each bad file is quarantined with a one-line
reason (raw bytes kept, except for a file over the size limit, whose download is cut off at the
limit), the good ones post, the run completes, and memory stays bounded."""

from __future__ import annotations

import csv
import tracemalloc

import httpx
import pandas as pd
import pytest

from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.flows.sps_to_qbo import sps_to_qbo
from ml_connector.ledger.schema import POSTED, QUARANTINED, RECEIVED
from ml_connector.mappings.sps_rows import unwrap
from ml_connector.ops.reconcile import reconcile, spreadsheet_safe
from ml_connector.runtime.tenant import reset, tenant
from ml_connector.sandbox.generator import generate
from tests.flows.conftest import fresh_ledger
from tests.flows.test_sps_qbo_flows import TENANT as QBO_TENANT
from tests.flows.test_sps_qbo_flows import make_world as make_qbo_world

IN = "sps-intacct"
LIMIT = 20_000  # the configured size limit in these tests
ENDLESS = "PO_endless.xml"  # served as a body that never ends and declares no length
CHUNK = 4096
SQLISH = "PO-7'; DROP TABLE documents;--"
FORMULA = "=HYPERLINK(\"http://evil.invalid\",\"x\")"
BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]><Orders xmlns="http://www.spscommerce.com/RSX"><Order>&lol5;</Order></Orders>"""  # noqa: E501 - the expansion attack as it is sent
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Orders><Order>&xxe;</Order></Orders>"""


def order_with_number(number: str) -> tuple[bytes, str]:
    doc = generate(1, seed=99, formats=("xml",))[0]
    while doc.doc_type != "order":
        doc = generate(3, seed=98, formats=("xml",))[-1]
    return doc.content.replace(doc.number.encode(), number.encode()), doc.number


def hostile_files() -> dict[str, bytes]:
    valid, _ = order_with_number("PO-HOSTILE-OK")
    return {
        "PO_bomb.xml": BOMB,
        "PO_xxe.xml": XXE,
        "PO_utf8.xml": valid.replace(b"PO-HOSTILE-OK", b"PO-\xff\xfe-BAD"),
        "PO_deep.xml": b"<Orders>" + b"<a>" * 2000 + b"</a>" * 2000 + b"</Orders>",  # under the limit: reaches the parser
        "PO_ctrl.xml": valid.replace(b"PO-HOSTILE-OK", b"PO-\x01\x02-CTRL"),
        "PO_types.xml": valid.replace(b"<OrderQty>", b"<OrderQty>abc", 1),
        "PO_missing.xml": valid.replace(b"<PurchaseOrderDate>", b"<Ignored>", 1).replace(
            b"</PurchaseOrderDate>", b"</Ignored>", 1),
        "PO_huge.xml": valid.replace(b"</Orders>", b"<!--" + b"x" * 30_000 + b"--></Orders>"),
        "PO_json.json": b'{"Header": {"OrderHeader": {"TradingPartnerId": 5, "PurchaseOrderNumber": [1]',
    }


class EndlessBody(httpx.SyncByteStream):
    """A body far over any limit (64 MB, finite only so that a download without the cap fails
    this test instead of hanging it), counting the bytes it produced."""

    TOTAL = 64 << 20

    def __init__(self) -> None:
        self.produced, self.closed = 0, False

    def __iter__(self):
        while self.produced < self.TOTAL:
            self.produced += CHUNK
            yield b"x" * CHUNK

    def close(self) -> None:
        self.closed = True


class EndlessFile(httpx.BaseTransport):
    """The SPS emulator, except that a GET of ``out/<name>`` streams an :class:`EndlessBody`."""

    def __init__(self, emulator: httpx.BaseTransport, name: str) -> None:
        self.emulator, self.suffix, self.bodies = emulator, "/out/" + name, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith(self.suffix):
            self.bodies.append(EndlessBody())
            return httpx.Response(200, stream=self.bodies[-1], headers={"Content-Type": "application/octet-stream"})
        return self.emulator.handle_request(request)


def serve_endless(sps, mount) -> EndlessFile:
    """List ``ENDLESS`` in the emulator's out/ (its stored bytes are never served) and route
    the emulator's URL through an :class:`EndlessFile`."""
    sps.put_out(ENDLESS, b"<Orders/>")
    transport = EndlessFile(sps.transport(), ENDLESS)
    mount(sps.base_url, transport)
    reset()  # no client built on the plain emulator transport survives
    return transport


def assert_cut_off_at_download(transport: EndlessFile) -> None:
    assert len(transport.bodies) == 1  # refused, not retried
    body = transport.bodies[0]
    assert body.closed and body.produced <= LIMIT + CHUNK  # stopped one chunk past the limit at most


def test_hostile_files_are_quarantined_and_the_run_goes_on(world, monkeypatch, tmp_path, mount):
    monkeypatch.setenv("ML_CONNECTOR_MAX_DOCUMENT_BYTES", str(LIMIT))
    world.add_documents(20)
    for name, content in hostile_files().items():
        world.sps.put_out(name, content)
    for number in (SQLISH, FORMULA):
        content, _ = order_with_number(number)
        world.sps.put_out(f"PO_{abs(hash(number))}.xml", content)
    endless = serve_endless(world.sps, mount)
    state = sps_to_intacct(tenant="demo", return_state=True)
    assert_cut_off_at_download(endless)
    quarantined = world.ledger.documents(IN, status=QUARANTINED)
    # the hostile files need a person: the run says so, with their count (issue 15)
    assert state.is_failed() and state.message.startswith(f"{len(quarantined)} of "), state
    assert {r.source_ref.rsplit("/", 1)[-1] for r in quarantined} == set(hostile_files()) | {ENDLESS}
    too_large = {"PO_huge.xml", ENDLESS}  # refused at download: nothing of them was kept
    for row in quarantined:
        assert row.last_error and "\n" not in row.last_error and len(row.last_error) < 1000
        name = row.source_ref.rsplit("/", 1)[-1]
        assert (row.raw_payload is None) if name in too_large else row.raw_payload  # kept for a fix and a replay
    reasons = {r.source_ref.rsplit("/", 1)[-1]: r.last_error for r in quarantined}
    assert "OrderQty" in reasons["PO_types.xml"] and "depth" in reasons["PO_deep.xml"]
    assert "declares" in reasons["PO_huge.xml"] and "reading stopped" in reasons[ENDLESS]  # Content-Length / stream
    assert all("code=file-too-large" in reasons[name] and "limit" in reasons[name] for name in too_large)
    assert world.sps.files("out/") == {}  # every file consumed, the refused ones too
    assert not world.ledger.documents(IN, status=RECEIVED)
    # SQL- and formula-like document numbers are data: stored verbatim, posted, not executed
    posted = {r.natural_key for r in world.ledger.documents(IN, status=POSTED)}
    assert {SQLISH, FORMULA} <= posted
    assert {b["RECORDID"] for b in world.intacct.bills()} >= {f"PO-{SQLISH}", f"PO-{FORMULA}"}
    # ...and the reconciliation CSV carries it as text
    bill = next(b for b in world.intacct.bills() if b["RECORDID"] == f"PO-{FORMULA}")
    world.intacct.store.remove("APBILL", bill["RECORDNO"])
    summary = reconcile(tenant("demo"), IN, tmp_path)
    with open(summary["csv"], newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert f"PO-{FORMULA}" in cells


def test_reconciliation_csv_cells_never_start_a_formula():
    frame = pd.DataFrame({"record_id": [FORMULA, "+1+1", "-2", "@SUM(A1)", "INV-1"], "n": [1, 2, 3, 4, 5]})
    safe = spreadsheet_safe(frame)
    assert list(safe["record_id"]) == [f"'{FORMULA}", "'+1+1", "'-2", "'@SUM(A1)", "INV-1"]
    assert list(safe["n"]) == [1, 2, 3, 4, 5]


def test_bombs_and_deep_nesting_are_refused_in_bounded_memory(world, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_MAX_DOCUMENT_BYTES", "20000")
    tracemalloc.start()
    try:
        for name, content in hostile_files().items():
            rows, bills = unwrap(f"out/{name}", content, world.mapping)
            assert rows[0].status == QUARANTINED and not bills
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"peak {peak:,} bytes"


@pytest.fixture()
def qworld(tmp_path, monkeypatch, prefect_server, mount):
    fresh_ledger(tmp_path, monkeypatch)
    return make_qbo_world(mount)


def test_sps_qbo_refuses_an_endless_file_at_download_and_posts_the_rest(qworld, monkeypatch, mount):
    monkeypatch.setenv("ML_CONNECTOR_MAX_DOCUMENT_BYTES", str(LIMIT))
    qworld.add_documents(20)
    endless = serve_endless(qworld.sps, mount)
    state = sps_to_qbo(tenant=QBO_TENANT, return_state=True)
    assert_cut_off_at_download(endless)
    [row] = qworld.ledger.documents("sps-qbo", status=QUARANTINED)
    assert state.is_failed() and state.message.startswith("1 of 21 documents quarantined: "), state
    assert row.source_ref == "out/" + ENDLESS and row.raw_payload is None
    assert "code=file-too-large" in row.last_error and "\n" not in row.last_error
    assert set(qworld.po_counts()) == qworld.expected_numbers()
    assert qworld.sps.files("out/") == {}
