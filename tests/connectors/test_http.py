"""The shared HTTP layer: status table, Retry-After, redaction, retries in send(), mounts."""

from __future__ import annotations

import email.utils
import logging
import time

import httpx
import pytest

from ml_connector.connectors import _http
from ml_connector.connectors._http import (
    RedactingFilter,
    RetryPolicy,
    build_client,
    error_class_for_status,
    excerpt,
    mount,
    parse_retry_after,
    redact,
    register_secret,
    send,
    unmount,
)
from ml_connector.connectors.errors import (
    AuthError,
    BadDocument,
    NotFound,
    RateLimited,
    RejectedError,
    TransientError,
)

URL = "https://api.example.invalid/v1/things"


@pytest.fixture(autouse=True)
def isolated_globals(monkeypatch):
    """Registered secrets and mounts are process-wide; each test gets its own."""
    monkeypatch.setattr(_http, "_SECRETS", set())
    monkeypatch.setattr(_http, "_MOUNTS", {})


class Sleeps:
    """A RetryPolicy sleep that records instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def policy(attempts: int = 4) -> tuple[RetryPolicy, Sleeps]:
    sleeps = Sleeps()
    return RetryPolicy(attempts=attempts, sleep=sleeps), sleeps


class Script:
    """A MockTransport handler answering from a list of responses/exceptions, in order."""

    def __init__(self, *steps) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("scripted failure", request=request)
        return step

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def builder():
    return lambda: httpx.Request("POST", URL, content=b"<request/>")


# --- status table --------------------------------------------------------------------------


@pytest.mark.parametrize("status, expected", [
    (200, None),
    (204, None),
    (302, None),
    (400, RejectedError),
    (401, AuthError),
    (403, AuthError),
    (404, NotFound),
    (408, TransientError),
    (409, RejectedError),
    (422, RejectedError),
    (429, RateLimited),
    (500, TransientError),
    (502, TransientError),
    (503, TransientError),
    (524, TransientError),
    (418, RejectedError),
])
def test_error_class_for_status(status, expected):
    assert error_class_for_status(status) is expected


# --- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("120", 120.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0), ("-3", 0.0)])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28.0 <= parse_retry_after(when) <= 30.5


def test_parse_retry_after_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", ["soon", "Wed, 99 Foo 2015", "12s", None, ""])
def test_parse_retry_after_garbage_or_missing_is_none(value):
    assert parse_retry_after(value) is None


def test_parse_retry_after_nan_is_not_a_wait():
    value = parse_retry_after("nan")
    assert value is None or 0.0 <= value < float("inf")


def test_send_never_waits_a_non_finite_time_on_a_hostile_retry_after():
    script = Script(httpx.Response(429, headers={"Retry-After": "nan"}), httpx.Response(200))
    retry, sleeps = policy()
    send(script.client(), builder(), system="sps", operation="list", policy=retry)
    assert all(0.0 <= w <= retry.max_retry_after * 1.1 + 0.01 for w in sleeps.waits)


# --- redaction -----------------------------------------------------------------------------


def test_redact_removes_registered_secrets_anywhere():
    register_secret("s3cr3t-sender-pw")
    text = redact("login failed for ws-ml with s3cr3t-sender-pw (tried s3cr3t-sender-pw twice)")
    assert "s3cr3t-sender-pw" not in text
    assert text == "login failed for ws-ml with *** (tried *** twice)"


def test_register_secret_ignores_empty_and_very_short_values():
    register_secret(None)
    register_secret("")
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


@pytest.mark.parametrize("text, secret", [
    ("<login><userid>ws</userid><password>hunter2!x</password></login>", "hunter2!x"),
    ("<authentication><sessionid>SeSsIoN.abc-123</sessionid></authentication>", "SeSsIoN.abc-123"),
    ("<PASSWORD>UpperCase99</PASSWORD>", "UpperCase99"),
    ('{"access_token": "eyJhbGciOi.JIUzI1.NiJ9", "expires_in": 3600}', "eyJhbGciOi.JIUzI1.NiJ9"),
    ('{"refresh_token":"rt-98765", "x": 1}', "rt-98765"),
    ("grant_type=client_credentials&client_secret=cs-ABC123&audience=x", "cs-ABC123"),
    ("password=pw-value-1 next", "pw-value-1"),
    ("Authorization: Bearer abc.DEF-123_~+/=", "abc.DEF-123_~+/="),
])
def test_redact_masks_credential_shaped_values(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


def test_redact_keeps_the_shape_around_a_masked_value():
    assert redact("<password>x1y2z3</password>") == "<password>***</password>"
    assert redact('{"client_secret": "abc"}') == '{"client_secret": "***"}'
    assert redact("a=1&client_secret=xyz&b=2") == "a=1&client_secret=***&b=2"
    assert redact("Bearer tok.en") == "Bearer ***"


@pytest.mark.parametrize("text", [
    "",
    "HTTP 503 from sps",
    "<APBILL><VENDORID>V-SPSALL</VENDORID><RECORDID>IN584616-1</RECORDID></APBILL>",
    '{"title": "Invalid Token", "status": 401}',
    "the password policy requires 12 characters",
    "vendor V-100 is inactive; token expired at 12:00 (retry with a new session)",
])
def test_redact_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def test_excerpt_is_single_line_and_bounded():
    body = b"<response>\n  <control>\n\t<status>failure</status>\n  </control>\n" + b"<x>y</x>\n" * 500
    out = excerpt(body)
    assert "\n" not in out and "\t" not in out and "\r" not in out
    assert len(out) == 300
    assert out.startswith("<response> <control> <status>failure</status> </control>")
    assert len(excerpt(body, limit=40)) == 40


def test_excerpt_accepts_text_and_bad_utf8():
    assert excerpt("a\r\n  b") == "a b"
    assert excerpt(b"ok \xff\xfe end") == "ok \ufffd\ufffd end"


def test_excerpt_is_redacted():
    register_secret("registered-secret-42")
    body = b"<request>\n<password>pw-in-body</password>\n<note>registered-secret-42</note></request>"
    out = excerpt(body)
    assert "pw-in-body" not in out and "registered-secret-42" not in out
    assert out == "<request> <password>***</password> <note>***</note></request>"


@pytest.mark.parametrize("body, leaked", [
    (b"\n" * 1190 + b"registered-secret-42 and more", "regist"),
    (b"<response>" + b"\n    " * 234 + b"<sessionid>LIVE-SESSION-abc123</sessionid></response>", "LIVE-SESS"),
], ids=["registered-secret", "sessionid-element"])
def test_excerpt_never_leaks_part_of_a_secret_cut_at_the_byte_limit(body, leaked):
    register_secret("registered-secret-42")
    assert leaked not in excerpt(body)


def test_redacting_filter_masks_secret_passed_in_log_args():
    register_secret("pw-in-args-123")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("ml_connector.test_http.redaction")
    handler = Keep()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("login with %s and %s failed", "pw-in-args-123", "Bearer tok-xyz.1")
        logger.warning("nothing secret %d", 5)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    masked, plain = (r.getMessage() for r in records)
    assert masked == "login with *** and Bearer *** failed"
    assert plain == "nothing secret 5"


# --- send() --------------------------------------------------------------------------------


def test_send_returns_a_success_at_once():
    script = Script(httpx.Response(200, text="ok"))
    retry, sleeps = policy()
    response = send(script.client(), builder(), system="sps", operation="get", policy=retry)
    assert response.status_code == 200 and response.text == "ok"
    assert len(script.requests) == 1 and sleeps.waits == []


def test_send_retries_429_honouring_retry_after():
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(429, headers={"Retry-After": "3"}),
                    httpx.Response(200))
    retry, sleeps = policy()
    assert send(script.client(), builder(), system="sps", operation="list", policy=retry).status_code == 200
    assert len(script.requests) == 3 and len(sleeps.waits) == 2
    assert 2.0 <= sleeps.waits[0] <= 1.1 * 2 + 0.01
    assert 3.0 <= sleeps.waits[1] <= 1.1 * 3 + 0.01


def test_send_clamps_a_huge_retry_after():
    script = Script(httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200))
    retry, sleeps = policy()
    send(script.client(), builder(), system="sps", operation="list", policy=retry)
    assert retry.max_retry_after <= sleeps.waits[0] <= 1.1 * retry.max_retry_after + 0.01


def test_send_gives_up_on_429_after_bounded_attempts_with_rate_limited():
    script = Script(httpx.Response(429, headers={"Retry-After": "1", "x-request-id": "rq-9"}))
    retry, sleeps = policy(attempts=3)
    with pytest.raises(RateLimited) as info:
        send(script.client(), builder(), system="sps", operation="list", policy=retry)
    assert len(script.requests) == 3 and len(sleeps.waits) == 2
    assert info.value.retry_after == 1.0 and info.value.status == 429 and info.value.request_id == "rq-9"
    assert info.value.system == "sps" and info.value.operation == "list"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 524, 408])
def test_send_retries_transient_statuses_then_raises_transient_error(status):
    script = Script(httpx.Response(status, text="upstream\nbroken"))
    retry, sleeps = policy(attempts=4)
    with pytest.raises(TransientError) as info:
        send(script.client(), builder(), system="intacct", operation="create", policy=retry)
    assert type(info.value) is TransientError
    assert len(script.requests) == 4 and len(sleeps.waits) == 3
    assert info.value.status == status and info.value.body_excerpt == "upstream broken"
    # full jitter under an exponential cap
    assert all(0 <= w <= min(retry.cap, retry.base * 2 ** n) for n, w in enumerate(sleeps.waits))


def test_send_recovers_when_a_5xx_clears():
    script = Script(httpx.Response(503), httpx.Response(502), httpx.Response(200, text="fine"))
    retry, sleeps = policy(attempts=5)
    assert send(script.client(), builder(), system="sps", operation="get", policy=retry).text == "fine"
    assert len(script.requests) == 3 and len(sleeps.waits) == 2


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError])
def test_send_retries_timeouts_and_connection_errors_then_raises_transient_error(exc):
    script = Script(exc)
    retry, sleeps = policy(attempts=3)
    with pytest.raises(TransientError) as info:
        send(script.client(), builder(), system="sps", operation="token", policy=retry)
    assert type(info.value) is TransientError
    assert len(script.requests) == 3 and len(sleeps.waits) == 2
    assert info.value.system == "sps" and info.value.operation == "token" and info.value.status is None
    assert exc.__name__ in str(info.value)


def test_send_recovers_after_a_read_timeout():
    script = Script(httpx.ReadTimeout, httpx.Response(200))
    retry, sleeps = policy()
    assert send(script.client(), builder(), system="sps", operation="get", policy=retry).status_code == 200
    assert len(script.requests) == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize("status, cls", [(401, AuthError), (403, AuthError), (400, RejectedError),
                                         (404, NotFound), (422, RejectedError)])
def test_send_never_retries_non_transient_statuses(status, cls):
    script = Script(httpx.Response(status, text="nope", headers={"x-request-id": "rid-1"}))
    retry, sleeps = policy()
    with pytest.raises(cls) as info:
        send(script.client(), builder(), system="sps", operation="put", policy=retry)
    assert type(info.value) is cls
    assert len(script.requests) == 1 and sleeps.waits == []
    assert info.value.status == status and info.value.request_id == "rid-1"


def test_send_redacts_the_body_excerpt_of_an_error():
    body = '{"error": "invalid_client", "client_secret": "leaked-value"}'
    script = Script(httpx.Response(401, text=body))
    with pytest.raises(AuthError) as info:
        send(script.client(), builder(), system="sps", operation="token", policy=policy()[0])
    assert "leaked-value" not in info.value.body_excerpt and "invalid_client" in info.value.body_excerpt


def test_send_calls_check_for_a_4xx_xml_body_before_the_status_error():
    body = b"<response><errormessage><error><errorno>BL01001973</errorno></error></errormessage></response>"
    script = Script(httpx.Response(400, content=body, headers={"content-type": "application/xml"}))
    seen: list[int] = []

    def check(response: httpx.Response) -> None:
        seen.append(response.status_code)
        raise BadDocument("vendor is inactive", system="intacct", code="BL01001973")

    with pytest.raises(BadDocument) as info:
        send(script.client(), builder(), system="intacct", operation="create", check=check, policy=policy()[0])
    assert seen == [400] and info.value.code == "BL01001973"
    assert len(script.requests) == 1


def test_send_calls_check_for_a_problem_json_body_before_the_status_error():
    problem = {"type": "about:blank", "title": "Invalid Token", "status": 401}
    script = Script(httpx.Response(401, json=problem, headers={"content-type": "application/problem+json"}))
    seen: list[str] = []

    class TokenExpired(AuthError):
        pass

    def check(response: httpx.Response) -> None:
        seen.append(response.json()["title"])
        raise TokenExpired("token expired", system="sps", status=401)

    with pytest.raises(TokenExpired):
        send(script.client(), builder(), system="sps", operation="list", check=check, policy=policy()[0])
    assert seen == ["Invalid Token"]


def test_send_falls_back_to_the_status_error_when_check_finds_nothing():
    script = Script(httpx.Response(404, text="<gone/>", headers={"content-type": "text/xml; charset=utf-8"}))
    seen: list[int] = []
    with pytest.raises(NotFound):
        send(script.client(), builder(), system="x", operation="get", check=lambda r: seen.append(r.status_code),
             policy=policy()[0])
    assert seen == [404]


def test_send_check_is_not_asked_about_unstructured_4xx_or_5xx_and_429():
    seen: list[int] = []
    check = seen.append
    for response, cls in [
        (httpx.Response(400, text="plain"), RejectedError),
        (httpx.Response(503, text="<x/>", headers={"content-type": "application/xml"}), TransientError),
        (httpx.Response(429, text="<x/>", headers={"content-type": "application/xml"}), RateLimited),
    ]:
        with pytest.raises(cls):
            send(Script(response).client(), builder(), system="x", operation="op", check=lambda r: check(r.status_code),
                 policy=policy(attempts=2)[0])
    assert seen == []


def test_send_check_sees_successful_bodies_and_its_transient_errors_are_retried():
    calls: list[int] = []

    def check(response: httpx.Response) -> None:
        calls.append(response.status_code)
        if len(calls) == 1:
            raise TransientError("try again later", system="intacct")

    script = Script(httpx.Response(200, text="<response/>"))
    retry, sleeps = policy()
    send(script.client(), builder(), system="intacct", operation="create", check=check, policy=retry)
    assert calls == [200, 200] and len(script.requests) == 2 and len(sleeps.waits) == 1


def test_send_check_rejection_on_200_is_not_retried():
    script = Script(httpx.Response(200, text="<response/>"))
    retry, sleeps = policy()

    def check(response):
        raise RejectedError("function failed", system="intacct")

    with pytest.raises(RejectedError):
        send(script.client(), builder(), system="intacct", operation="create", check=check, policy=retry)
    assert len(script.requests) == 1 and sleeps.waits == []


def test_send_calls_build_afresh_for_every_attempt():
    script = Script(httpx.Response(503), httpx.ReadTimeout, httpx.Response(200))
    built: list[httpx.Request] = []

    def build() -> httpx.Request:
        request = httpx.Request("POST", URL, content=f"attempt {len(built) + 1}".encode())
        built.append(request)
        return request

    send(script.client(), build, system="sps", operation="put", policy=policy()[0])
    assert len(built) == 3
    assert [r.content for r in script.requests] == [b"attempt 1", b"attempt 2", b"attempt 3"]
    assert len({id(r) for r in built}) == 3


def test_send_with_a_single_attempt_never_sleeps():
    script = Script(httpx.Response(500))
    retry, sleeps = policy(attempts=1)
    with pytest.raises(TransientError):
        send(script.client(), builder(), system="sps", operation="get", policy=retry)
    assert len(script.requests) == 1 and sleeps.waits == []


# --- transports ----------------------------------------------------------------------------


def test_build_client_routes_a_mounted_origin_through_its_transport():
    seen: list[httpx.Request] = []
    mount("https://x.invalid", httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, text="mounted")))
    with build_client("https://x.invalid/some/path") as client:
        assert client.get("things", params={"a": "1"}).text == "mounted"
    assert str(seen[0].url) == "https://x.invalid/some/path/things?a=1"
    assert seen[0].headers["user-agent"] == "ml-connector/0.1"


def test_build_client_mount_matches_by_origin_only():
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    mount("https://x.invalid/ignored/path", transport)
    with build_client("https://x.invalid/other") as same, build_client("https://y.invalid/some/path") as other_host, \
            build_client("http://x.invalid/some/path") as other_scheme:
        assert same._transport is transport
        assert other_host._transport is not transport
        assert other_scheme._transport is not transport


def test_mount_origin_ignores_host_case_and_the_default_port():
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    mount("https://X.Invalid:443", transport)
    with build_client("https://x.invalid/some/path") as client:
        assert client._transport is transport


def test_unmount_stops_routing_that_origin():
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    mount("https://x.invalid", transport)
    unmount("https://x.invalid/any/path")
    with build_client("https://x.invalid/some/path") as client:
        assert client._transport is not transport
    unmount("https://never-mounted.invalid")  # harmless


def test_build_client_sets_timeouts_headers_and_verification():
    with build_client("https://x.invalid", timeout=12.0, headers={"X-Tenant": "demo"}) as client:
        assert client.timeout.read == 12.0 and client.timeout.connect == 10.0
        assert client.headers["x-tenant"] == "demo" and client.headers["user-agent"] == "ml-connector/0.1"
        assert str(client.base_url) == "https://x.invalid"
