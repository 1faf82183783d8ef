"""The one place for HTTP retries, Retry-After, error classification and redaction.

Every connector's ``_request`` goes through :func:`send`. It retries only
:class:`TransientError` (exponential backoff with full jitter, Retry-After honoured and
clamped, bounded attempts); everything else is raised at once, because retrying a bad
credential or a rejected document only repeats the failure.

Every answer is read as a stream and bounded twice: in size (``max_bytes``, default
``ML_CONNECTOR_MAX_RESPONSE_BYTES``, 64 MiB), so a hostile or broken peer cannot fill memory,
and in time (``deadline``, default ``ML_CONNECTOR_CALL_DEADLINE``, 300 s), since httpx's timeout
applies per read and a body trickling a byte at a time would otherwise hold a call for ever.
The deadline is checked as each chunk arrives, so a call ends at most one read timeout past it.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from .. import settings
from .errors import (
    AuthError,
    IntegrationError,
    NotFound,
    RateLimited,
    RejectedError,
    ResponseTooLarge,
    TransientError,
)

log = logging.getLogger("ml_connector.http")

# status -> error class. 524 is Cloudflare's "origin still working": the write may have
# committed, so it is transient only for writes that carry an idempotency key (all of ours).
_STATUS_TABLE: dict[int, type[IntegrationError]] = {
    400: RejectedError,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    408: TransientError,
    409: RejectedError,
    422: RejectedError,
    429: RateLimited,
}


def error_class_for_status(status: int) -> type[IntegrationError] | None:
    """The error class for an HTTP status, or None for success."""
    if status < 400:
        return None
    if status in _STATUS_TABLE:
        return _STATUS_TABLE[status]
    if status >= 500:
        return TransientError
    return RejectedError


# --- redaction ---------------------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
# Each pattern captures (prefix, value, suffix); the value is what gets masked.
_PATTERNS = [
    re.compile(r"(<(?:password|sessionid|client_secret|refresh_token)>)([^<]+)(</)", re.I),
    re.compile(r'("(?:access_token|refresh_token|client_secret|password|sessionid)"\s*:\s*")([^"]*)(")', re.I),
    re.compile(r"((?:client_secret|password|refresh_token|access_token)=)([^&\s]+)()", re.I),
    re.compile(r"(Bearer\s+)([A-Za-z0-9._~+/=-]+)()", re.I),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so :func:`redact` removes it wherever it appears."""
    if value and len(value) >= 4:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """Text with every registered secret and every credential-shaped value masked."""
    if not text:
        return text
    for secret in list(_SECRETS):
        if secret in text:
            text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***\3", text)
    return text


_WINDOW = 65_536  # bytes of a body an excerpt looks at
# A credential element or a registered secret cut off by the window has no closing tag or
# full value left to match; these catch what remains at the cut.
_UNTERMINATED = re.compile(r"(<(?:password|sessionid|client_secret|refresh_token)>)[^<]*$", re.I)


def excerpt(body: bytes | str, limit: int = 300) -> str:
    """A short, redacted, single-line excerpt of a body for error messages.

    Redaction runs on the collapsed text *before* it is cut to ``limit``, and whatever a cut
    of the body left of a secret at its end is masked too, so no prefix of a secret survives."""
    if isinstance(body, bytes):
        cut = len(body) > _WINDOW
        text = body[:_WINDOW].decode("utf-8", "replace")
    else:
        cut, text = len(body) > _WINDOW, body[:_WINDOW]
    text = redact(" ".join(text.split()))
    if cut:
        text = _scrub_tail(text)
    text = text[:limit]
    return _scrub_tail(text)


def _scrub_tail(text: str) -> str:
    text = _UNTERMINATED.sub(r"\1***", text)
    for secret in list(_SECRETS):
        for n in range(min(len(secret), len(text)), 3, -1):  # a partial secret of 4+ chars at the end
            if text.endswith(secret[:n]):
                return text[:-n] + "***"
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in every log record that passes through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler of the root and Prefect loggers."""
    for name in ("", "prefect", "ml_connector", "httpx", "uvicorn"):
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


# --- retries -----------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter; Retry-After wins when given."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            # A little jitter on top, so many workers told the same Retry-After do not return
            # in lockstep and trip the limit again together.
            wait = min(max(exc.retry_after, 0.0), self.max_retry_after)
            return wait + random.uniform(0, 0.1 * wait + 0.01)
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in either of its forms (delta or HTTP-date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def error_from_response(response: httpx.Response, *, system: str, operation: str) -> IntegrationError | None:
    """The typed error an HTTP response stands for, or None when it succeeded."""
    cls = error_class_for_status(response.status_code)
    if cls is None:
        return None
    context = dict(
        system=system,
        operation=operation,
        status=response.status_code,
        request_id=response.headers.get("x-request-id") or response.headers.get("intuit_tid"),
        body_excerpt=excerpt(response.content),
    )
    message = f"HTTP {response.status_code} from {system}"
    if cls is RateLimited:
        return RateLimited(message, retry_after=parse_retry_after(response.headers.get("retry-after")), **context)
    return cls(message, **context)


def max_response_bytes() -> int:
    return settings.max_response_bytes()


def call_deadline() -> float:
    return settings.call_deadline()


@dataclass(frozen=True)
class Bounds:
    """How much of an answer one attempt reads, and for how long. ``too_large`` makes the
    error for a body past ``max_bytes`` (a connector may call it a bad document instead)."""

    max_bytes: int
    deadline: float
    too_large: Callable[[httpx.Response, str], IntegrationError] | None = None


def send(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    *,
    system: str,
    operation: str,
    check: Callable[[httpx.Response], None] | None = None,
    policy: RetryPolicy | None = None,
    bounds: Bounds | None = None,
) -> httpx.Response:
    """Send a request built by ``build`` (called afresh per attempt), retrying transient failures.

    ``check`` raises a typed error for failures carried inside a successful HTTP response
    (Intacct's ``<status>failure</status>``, QBO's ``Fault``); it runs after the status check,
    so one classifier per connector sees every body. ``bounds`` caps each answer's size and
    each attempt's time (the module's defaults when not given).
    """
    policy = policy or RetryPolicy()
    bounds = bounds or Bounds(max_response_bytes(), call_deadline())

    # tenacity 8 calls ``wait`` with ``retry_state=`` as a keyword, 9 positionally: keep the name.
    def wait(retry_state: RetryCallState) -> float:
        return policy.delay(retry_state.attempt_number, _failure(retry_state))

    def before_sleep(retry_state: RetryCallState) -> None:
        sleep = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.info("%s %s: %s; retry %d/%d in %.2fs", system, operation, _failure(retry_state),
                 retry_state.attempt_number, policy.attempts - 1, sleep)

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,  # the caller sees the last typed error itself, never tenacity's RetryError
    )
    return retrying(_attempt, client, build, system=system, operation=operation, check=check, bounds=bounds)


def _failure(retry_state: RetryCallState) -> BaseException:
    """The error of the attempt just made. Tenacity waits and sleeps only after an attempt that
    raised (``retry_if_exception_type``), so there is one."""
    error = retry_state.outcome.exception() if retry_state.outcome is not None else None
    if error is None:
        raise RuntimeError("a retry was scheduled after an attempt that did not fail")
    return error


def _attempt(client, build, *, system, operation, check, bounds: Bounds) -> httpx.Response:
    try:
        response = _bounded(client, build(), bounds, system=system, operation=operation)
    except httpx.TimeoutException as exc:
        raise TransientError(f"timeout talking to {system}: {type(exc).__name__}",
                             system=system, operation=operation) from None
    except httpx.TransportError as exc:
        raise TransientError(f"connection to {system} failed: {type(exc).__name__}",
                             system=system, operation=operation) from None
    error = error_from_response(response, system=system, operation=operation)
    if error is not None and not (check and _body_speaks(response)):
        raise error
    if check is not None:
        check(response)
    if error is not None:
        raise error
    return response


def _bounded(client, request: httpx.Request, bounds: Bounds, *, system: str, operation: str) -> httpx.Response:
    """The response with its body read in full, or an error once it passes either bound."""
    started = time.monotonic()
    response = client.send(request, stream=True)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > bounds.max_bytes:
            raise _too_large(response, bounds, f"declares {int(declared):,} bytes", system, operation)
        body = bytearray()
        for chunk in response.iter_bytes():  # decoded bytes: a compressed bomb is counted as it inflates
            body += chunk
            if len(body) > bounds.max_bytes:
                raise _too_large(response, bounds, f"passed {len(body):,} bytes, reading stopped", system, operation)
            if time.monotonic() - started > bounds.deadline:
                raise TransientError(f"no complete answer from {system} within {bounds.deadline:g} s "
                                     f"({len(body):,} bytes so far)", system=system, operation=operation,
                                     status=response.status_code)
    finally:
        response.close()
    # The body is decoded already: the copy must not claim an encoding or the old length.
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")]
    return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request,
                          extensions=response.extensions)


def _too_large(response: httpx.Response, bounds: Bounds, what: str, system: str, operation: str) -> IntegrationError:
    if bounds.too_large is not None:
        return bounds.too_large(response, what)
    return ResponseTooLarge(f"answer from {system} {what}, over the {bounds.max_bytes:,} byte limit",
                            system=system, operation=operation, status=response.status_code,
                            request_id=response.headers.get("x-request-id"))


def _body_speaks(response: httpx.Response) -> bool:
    # Some systems explain a 4xx in a structured body (Intacct's XML errors, SPS's
    # problem+json, QBO's Fault, Sterling's errorCode); let the connector's classifier read it
    # first, since it knows more than the status line. 429 and 5xx stay with the status table:
    # they are retried either way.
    ctype = response.headers.get("content-type", "")
    structured = "xml" in ctype or "json" in ctype
    return response.status_code < 500 and response.status_code != 429 and structured


# --- transports --------------------------------------------------------------------------

_MOUNTS: dict[str, httpx.BaseTransport] = {}


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.netloc.decode()}"


def mount(base_url: str, transport: httpx.BaseTransport) -> None:
    """Route every client built for a URL on ``base_url``'s origin through ``transport``
    (in-process emulators in tests)."""
    _MOUNTS[_origin(base_url)] = transport


def unmount(base_url: str) -> None:
    _MOUNTS.pop(_origin(base_url), None)


def build_client(
    base_url: str,
    *,
    timeout: float = 60.0,
    verify: bool = True,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An httpx client for one system, with explicit timeouts and TLS verification on."""
    transport = _MOUNTS.get(_origin(base_url))
    if not verify:
        log.warning("TLS verification is OFF for %s (set by configuration)", base_url)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=10.0),
        # keep-alive for every connection a task's bounded pool and the next page's prefetch
        # hold at once (httpx keeps 20 by default; the rest would reconnect per request)
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=48),
        verify=verify,
        auth=auth,
        headers={"User-Agent": "ml-connector/0.1", **(headers or {})},
        transport=transport,
    )
