"""IntacctClient against the in-process Intacct sandbox: batches, sessions, faults, pagination."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ml_connector.connectors.errors import AuthError, DuplicateWrite, IntegrationError, RejectedError, TransientError
from ml_connector.connectors.intacct import client as client_module
from ml_connector.connectors.intacct import codec
from ml_connector.connectors.intacct.auth import SessionCache
from ml_connector.connectors.intacct.client import ArInvoicePage
from ml_connector.connectors.intacct.codec import SessionExpired

LOGIN = b"<getAPISession"
CREATE = b"<create>"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- writes --------------------------------------------------------------------------------


def test_batch_with_one_rejected_bill_posts_the_others_in_one_request(wired, make_bill):
    items = [(f"k{n}", make_bill(f"B-{n}")) for n in range(5)]
    items[2] = ("k2", make_bill("B-2", account="9999"))
    results = wired.client.create_bills(items)
    assert [r.controlid for r in results] == [k for k, _ in items]
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert all(r.key for r in results if r.ok)
    assert type(results[2].error) is RejectedError and "9999" in str(results[2].error)
    assert sorted(b["RECORDID"] for b in wired.emulator.bills()) == ["B-0", "B-1", "B-3", "B-4"]
    assert wired.recorder.count(CREATE) == 1 and wired.recorder.count(LOGIN) == 1


def test_bills_are_chunked_by_max_functions(wired, make_bill):
    wired.client.max_functions = 2
    results = wired.client.create_bills([(f"k{n}", make_bill(f"B-{n}")) for n in range(5)])
    assert all(r.ok for r in results) and wired.recorder.count(CREATE) == 3


def test_posted_bill_matches_the_model(wired, make_bill):
    bill = make_bill("B-1", amount="10.005", memo="paper", department_id="OPS", location_id="HQ")
    [result] = wired.client.create_bills([("k1", bill)])
    [posted] = wired.emulator.bills()
    assert (posted["RECORDNO"], posted["VENDORID"], posted["controlid"]) == (result.key, "V100", "k1")
    assert posted["total"] == Decimal("10.01") and posted["lines"][0]["DEPARTMENTID"] == "OPS"


def test_transactional_execute_rolls_back_and_reports_aborted(wired, make_bill):
    functions = [codec.bill_function("t1", make_bill("B-1")), codec.bill_function("t2", make_bill("B-2", vendor_id="V9"))]
    first, second = wired.client.execute(functions, transaction=True)
    assert type(first.error) is TransientError and first.error.code == "XL03000009"
    assert type(second.error) is RejectedError
    assert wired.emulator.bills() == []
    # rolled back functions did not complete, so the same controlids may run again
    [again] = wired.client.execute([codec.bill_function("t1", make_bill("B-1"))])
    assert again.ok


# --- sessions ------------------------------------------------------------------------------


def test_session_expiry_mid_run_renews_once_and_continues(wired, make_bill):
    assert all(r.ok for r in wired.client.create_bills([("k1", make_bill("B-1"))]))
    wired.emulator.expire_sessions()
    assert all(r.ok for r in wired.client.create_bills([("k2", make_bill("B-2"))]))
    assert wired.recorder.count(LOGIN) == 2
    assert wired.emulator.count_bills_by_record_id() == {"B-1": 1, "B-2": 1}


def test_session_is_renewed_proactively_and_slides(new_emulator, wire, make_bill):
    clock = FakeClock()
    emulator = new_emulator(session_ttl=300, clock=clock)
    wired = wire(emulator, sessions=SessionCache(margin=60, clock=clock))
    wired.client.create_bills([("k1", make_bill("B-1"))])
    clock.now += 200
    wired.client.create_bills([("k2", make_bill("B-2"))])  # slides the expiry to now + 300
    clock.now += 200
    wired.client.create_bills([("k3", make_bill("B-3"))])
    assert wired.recorder.count(LOGIN) == 1
    clock.now += 250  # inside the 60 s margin: renewed before use, not after a failure
    wired.client.create_bills([("k4", make_bill("B-4"))])
    assert wired.recorder.count(LOGIN) == 2
    assert not any(b"<authentication><status>failure" in body for body in wired.recorder.responses)


def test_a_session_refused_twice_is_an_auth_error(new_emulator, wire, make_bill):
    wired = wire(new_emulator(session_ttl=0))
    with pytest.raises(SessionExpired) as caught:
        wired.client.create_bills([("k1", make_bill("B-1"))])
    assert isinstance(caught.value, AuthError) and wired.recorder.count(LOGIN) == 2
    assert wired.emulator.bills() == []


def test_concurrent_clients_share_one_session(emulator, wire, make_bill):
    sessions = SessionCache()
    clients = [wire(emulator, sessions=sessions) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda pair: pair[1].client.create_bills([(f"k{pair[0]}", make_bill(f"B-{pair[0]}"))]),
                      enumerate(clients)))
    assert sum(w.recorder.count(LOGIN) for w in clients) == 1
    assert len(emulator.bills()) == 6


def test_bad_credentials_are_auth_errors(emulator, wire):
    with pytest.raises(AuthError) as user:
        wire(emulator, user_password="wrong-user-password").client.ping()
    assert not isinstance(user.value, SessionExpired) and user.value.code == "XL03000006"
    with pytest.raises(AuthError) as sender:
        wire(emulator, sender_password="wrong-sender-password").client.ping()
    assert "Partner ID" in str(sender.value)


def test_ping_signs_in_and_returns_the_session_endpoint(wired):
    assert wired.client.ping() == wired.emulator.endpoint_url


# --- faults --------------------------------------------------------------------------------


def test_429_burst_and_5xx_are_retried(new_emulator, wire, make_bill, scripted_faults):
    emulator = new_emulator(faults=scripted_faults(["429", "429", "429", "5xx", None, "timeout"]))
    wired = wire(emulator)
    results = wired.client.create_bills([(f"k{n}", make_bill(f"B-{n}")) for n in range(3)])
    assert all(r.ok for r in results)
    # Retry-After honoured, plus at most 10% jitter so workers don't retry in lockstep
    after = emulator.faults.retry_after
    assert all(after <= s <= after * 1.1 + 0.01 for s in wired.sleeps[:3]), wired.sleeps
    assert len(wired.sleeps) == 5
    assert emulator.count_bills_by_record_id() == {"B-0": 1, "B-1": 1, "B-2": 1}


def test_lost_response_after_commit_is_a_duplicate_write_resolved_by_find_bills(new_emulator, wire, make_bill,
                                                                                 scripted_faults):
    emulator = new_emulator(faults=scripted_faults(lose={1}))
    wired = wire(emulator)
    [result] = wired.client.create_bills([("sps-810-ACME-42", make_bill("B-42"))])
    assert isinstance(result.error, DuplicateWrite) and not result.ok
    assert wired.recorder.count(b'controlid="sps-810-ACME-42"') == 2  # the same key on the retry
    found = wired.client.find_bills(["B-42", "B-missing"], vendor_id="V100")
    [bill] = emulator.bills()
    assert found == {"B-42": bill["RECORDNO"]}
    assert emulator.count_bills_by_record_id() == {"B-42": 1}


def test_retry_of_a_lost_batch_reexecutes_only_what_failed(new_emulator, wire, make_bill, scripted_faults):
    emulator = new_emulator(faults=scripted_faults(lose={1}))
    wired = wire(emulator)
    items = [("k1", make_bill("B-1")), ("k2", make_bill("B-2", vendor_id="V9")), ("k3", make_bill("B-3"))]
    first, second, third = wired.client.create_bills(items)
    assert isinstance(first.error, DuplicateWrite) and isinstance(third.error, DuplicateWrite)
    assert type(second.error) is RejectedError
    assert emulator.count_bills_by_record_id() == {"B-1": 1, "B-3": 1}


def test_find_bills_chunks_ids_and_pages_results(wired, make_bill, monkeypatch):
    wired.client.create_bills([(f"k{n}", make_bill(f"B-{n}", vendor_id="V100" if n % 2 else "V200"))
                               for n in range(7)])
    monkeypatch.setattr(client_module, "_IN_LIMIT", 3)
    monkeypatch.setattr(client_module, "_QUERY_PAGE", 2)
    everything = wired.client.find_bills([f"B-{n}" for n in range(7)] + ["B-1"])
    assert sorted(everything) == [f"B-{n}" for n in range(7)]
    assert sorted(wired.client.find_bills([f"B-{n}" for n in range(7)], vendor_id="V100")) == ["B-1", "B-3", "B-5"]


# --- reads ---------------------------------------------------------------------------------


def seed_invoices(emulator, count: int, start: datetime) -> None:
    for n in range(count):
        lines = [{"amount": Decimal("10.00") + n % 7, "item_id": f"W-{n % 3}", "memo": "widgets"}]
        emulator.add_ar_invoice(f"AR-{n:05d}", "C-0001", lines, date(2024, 5, 1),
                                when_modified=start + timedelta(seconds=n), po_number=f"PO-{n}")


def test_read_by_query_and_read_more_page_through_2500_invoices(wired):
    seed_invoices(wired.emulator, 2500, datetime(2024, 5, 1, 8, 0, 0))
    pages = list(wired.client.iter_ar_invoices(datetime(2024, 5, 1), page_size=1000))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    invoices = [i for page in pages for i in page]
    assert len({i.record_id for i in invoices}) == 2500
    assert invoices[7].lines[0].amount == Decimal("10.00") and invoices[7].lines[0].item_id == "W-1"
    assert invoices[7].po_number == "PO-7" and invoices[7].customer_id == "C-0001"
    assert wired.recorder.count(b"<readByQuery>") == 1 and wired.recorder.count(b"<readMore>") == 2
    assert wired.recorder.count(b"<read>") == 3  # line items: one request per page


def test_modified_window_is_half_open_and_aware_times_are_utc(wired):
    seed_invoices(wired.emulator, 10, datetime(2024, 5, 1, 8, 0, 0))
    since = datetime(2024, 5, 1, 10, 0, 2, tzinfo=timezone(timedelta(hours=2)))  # 08:00:02 UTC
    until = datetime(2024, 5, 1, 8, 0, 7)
    ids = [i.record_id for page in wired.client.iter_ar_invoices(since, until, include_lines=False) for i in page]
    assert ids == [f"AR-{n:05d}" for n in range(2, 7)]
    assert wired.recorder.count(b"<read>") == 0


def test_page_api_hands_back_the_cursor_until_nothing_remains(wired):
    seed_invoices(wired.emulator, 5, datetime(2024, 5, 1, 8, 0, 0))
    first = wired.client.read_ar_invoices(datetime(2024, 5, 1), page_size=3)
    assert (len(first.invoices), first.num_remaining) == (3, 2) and first.result_id
    last = wired.client.read_more_ar_invoices(first.result_id)
    assert (len(last.invoices), last.num_remaining, last.result_id) == (2, 0, None)
    with pytest.raises(RejectedError):  # the cursor is closed once read to the end
        wired.client.read_more_ar_invoices(first.result_id)
    empty = wired.client.read_ar_invoices(datetime(2030, 1, 1))
    assert empty == ArInvoicePage([], None, 0)


def test_a_stalled_cursor_and_the_page_cap_raise_instead_of_looping(wired, monkeypatch):
    seed_invoices(wired.emulator, 30, datetime(2024, 5, 1, 8, 0, 0))
    wired.client.max_pages = 2
    with pytest.raises(TransientError):
        list(wired.client.iter_ar_invoices(datetime(2024, 5, 1), page_size=10, include_lines=False))
    wired.client.max_pages = 100
    stuck = wired.client.read_ar_invoices(datetime(2024, 5, 1), page_size=10, include_lines=False)
    monkeypatch.setattr(wired.client, "read_more_ar_invoices", lambda result_id, include_lines=True: stuck)
    with pytest.raises(TransientError):
        list(wired.client.iter_ar_invoices(datetime(2024, 5, 1), page_size=10, include_lines=False))


# --- errors --------------------------------------------------------------------------------


def test_no_secret_reaches_any_raised_error(new_emulator, wire, make_bill, scripted_faults):
    emulator = new_emulator(faults=scripted_faults(lose={1}))
    wired = wire(emulator)
    errors: list[BaseException] = []
    results = wired.client.create_bills([("k1", make_bill("B-1")), ("k2", make_bill("B-2", vendor_id="V9"))])
    errors += [r.error for r in results if r.error]
    emulator.expire_sessions()
    wired.client.find_bills(["B-1"])
    for overrides in ({"user_password": "bad-user-secret"}, {"sender_password": "bad-sender-secret"}):
        with pytest.raises(IntegrationError) as caught:
            wire(emulator, **overrides).client.ping()
        errors.append(caught.value)
    expiring = wire(new_emulator(session_ttl=0))
    with pytest.raises(SessionExpired) as caught:
        expiring.client.create_bills([("k9", make_bill("B-9"))])
    errors.append(caught.value)
    session_ids = [r.records[0]["sessionid"] for body in wired.recorder.responses + expiring.recorder.responses
                   if b"<sessionid>" in body for r in codec.parse_response(body).results]
    secrets = [emulator.sender_password, emulator.user_password, "bad-user-secret", "bad-sender-secret", *session_ids]
    assert len(session_ids) == 4 and len(errors) == 5
    for error in errors:
        for text in (str(error), repr(error), error.body_excerpt, str(pickle.loads(pickle.dumps(error)))):
            assert not any(secret in text for secret in secrets), text
    assert emulator.sender_password not in repr(wired.client.config)


def test_client_errors_round_trip_through_pickle(new_emulator, wire, make_bill, scripted_faults):
    wired = wire(new_emulator(faults=scripted_faults(lose={1})))
    [result] = wired.client.create_bills([("k1", make_bill("B-1"))])
    copy = pickle.loads(pickle.dumps(result))
    assert isinstance(copy.error, DuplicateWrite) and copy.error.code == result.error.code
    assert str(copy.error) == str(result.error) and copy.error.classification == "duplicate"


def test_a_client_without_http_uses_the_transport_mounted_for_the_gateway_origin(emulator):
    from ml_connector.connectors import _http
    from ml_connector.connectors.intacct.auth import IntacctConfig
    from ml_connector.connectors.intacct.client import IntacctClient

    _http.mount(emulator.base_url, emulator.transport())
    try:
        with IntacctClient(IntacctConfig(**emulator.credentials()), sessions=SessionCache()) as client:
            assert client.ping() == emulator.endpoint_url
    finally:
        _http.unmount(emulator.base_url)
