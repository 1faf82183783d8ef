"""Adobe Commerce authentication, one ``httpx.Auth`` per mode (reference §A.2).

    OAuth1Auth        PaaS integration: every request signed (OAuth 1.0a, HMAC-SHA256); nothing
                      to renew, so a 401 is final (revoked integration, missing ACL resource)
    StaticBearerAuth  PaaS integration access token as a Bearer, where the store enabled it
    AdminTokenAuth    PaaS admin user: POST /V1/integration/admin/token -> a bare JSON string
                      living 4 h by default; renewed before expiry and once on a 401
    ImsAuth           SaaS (ACCS): IMS client credentials -> a 24 h bearer, no refresh token;
                      minted again before expiry and once on a 401, with x-api-key and
                      x-gw-ims-org-id on every call

Token requests are yielded through the client that sends the API call, so they share its
transport, timeouts and TLS settings, and an in-process emulator serves both. One thread at a
time renews a token; the others reuse what it got.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx

from .._http import excerpt, parse_retry_after, register_secret
from ..errors import AuthError, RateLimited, TransientError
from . import oauth1
from .config import AdobeConfig
from .errors import SYSTEM, error_for, loads

_FORM = "application/x-www-form-urlencoded"


class OAuth1Auth(httpx.Auth):
    """Signs each request with the integration's four OAuth 1.0a values.

    The query string is re-encoded RFC 3986-style (``%20`` for spaces) before signing, because
    Magento reads it with ``rawurldecode`` (see :mod:`.oauth1`)."""

    requires_request_body = True  # form bodies are part of the signature

    def __init__(self, config: AdobeConfig, *, clock: Callable[[], float] = time.time,
                 nonce: Callable[[], str] | None = None) -> None:
        self.config = config
        self._clock = clock  # wall clock: Magento refuses timestamps too far from its own
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"OAuth1Auth(consumer_key={self.config.consumer_key!r}, method={self.config.signature_method!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sign_request(request, self.config, timestamp=int(self._clock()), nonce=self._nonce() if self._nonce else None)
        yield request


def sign_request(request: httpx.Request, config: AdobeConfig, *, timestamp: int, nonce: str | None = None) -> None:
    """Normalize ``request``'s query and set its OAuth 1.0a ``Authorization`` header."""
    pairs = oauth1.decode_query(request.url.query.decode("ascii"))
    request.url = request.url.copy_with(query=oauth1.encode_query(pairs).encode("ascii") or None)
    body_pairs = None
    if request.headers.get("content-type", "").startswith(_FORM):
        body_pairs = oauth1.decode_query(request.content.decode("utf-8", "replace"))
    request.headers["Authorization"] = oauth1.signed_header(
        request.method, request.url, consumer_key=config.consumer_key or "",
        consumer_secret=_reveal(config.consumer_secret), token=_reveal(config.access_token),
        token_secret=_reveal(config.access_token_secret), signature_method=config.signature_method,
        timestamp=timestamp, nonce=nonce, body_pairs=body_pairs)


class StaticBearerAuth(httpx.Auth):
    """The integration access token as a plain Bearer (off by default since 2.4.4, §A.2.3)."""

    def __init__(self, config: AdobeConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return "StaticBearerAuth()"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {_reveal(self.config.access_token)}"
        yield request


class _RenewingTokenAuth(httpx.Auth):
    """A cached bearer token, renewed ``margin`` before expiry and once on a 401."""

    margin = 300.0
    operation = "token"
    what = "token endpoint"

    def __init__(self, config: AdobeConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.renewals = 0  # tokens obtained; tests and metrics read it

    def invalidate(self) -> None:
        """Forget the cached token; the next request gets a new one."""
        with self._lock:
            self._token = None

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self._current(stale=None)
        self._decorate(request, token)
        response = yield request
        if response.status_code != 401:
            return
        token = yield from self._current(stale=token)
        self._decorate(request, token)
        yield request  # a second 401 goes to the classifier: AuthError

    async def async_auth_flow(self, request: httpx.Request):  # pragma: no cover - guard only
        raise RuntimeError(f"{type(self).__name__} is for httpx.Client; its lock is a threading lock")
        yield request  # makes this an async generator, as httpx expects

    def _current(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        # The lock is held across the yield on purpose: other threads wait for this renewal
        # and reuse its token. httpx closes the flow on any error, which releases the lock.
        with self._lock:
            if self._token and self._token != stale and self._clock() < self._expires_at:
                return self._token
            response = yield self._token_request()
            response.read()
            if response.status_code >= 400:
                raise self._token_error(response)
            token, ttl = self._read_token(response)
            register_secret(token)
            self._token = token
            self._expires_at = self._clock() + ttl - min(self.margin, ttl / 2)
            self.renewals += 1
            return token

    def _decorate(self, request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"

    def _token_request(self) -> httpx.Request:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_token(self, response: httpx.Response) -> tuple[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _unreadable(self, response: httpx.Response) -> TransientError:
        return TransientError(f"{self.what} answered without a usable token", **_context(response, self.operation))

    def _token_error(self, response: httpx.Response) -> Exception:
        status, context = response.status_code, _context(response, self.operation)
        if status == 429:
            return RateLimited(f"{self.what} is rate limiting us",
                               retry_after=parse_retry_after(response.headers.get("retry-after")), **context)
        if status >= 500 or status == 408:
            return TransientError(f"{self.what} failed with HTTP {status}", **context)
        error = self._explain(response)
        return AuthError(f"{self.what} refused the credentials: {error}", **context)

    def _explain(self, response: httpx.Response) -> str:
        return error_for(response, AuthError, operation=self.operation).message


class AdminTokenAuth(_RenewingTokenAuth):
    """An admin user's token from ``POST /V1/integration/admin/token`` (PaaS only)."""

    what = "Adobe Commerce admin token endpoint"
    operation = "admin-token"

    def __repr__(self) -> str:
        return f"AdminTokenAuth(username={self.config.username!r})"

    def _token_request(self) -> httpx.Request:
        cfg = self.config
        return httpx.Request("POST", cfg.api_root + "V1/integration/admin/token",
                             json={"username": cfg.username, "password": _reveal(cfg.password)},
                             headers={"Accept": "application/json"})

    def _read_token(self, response: httpx.Response) -> tuple[str, float]:
        try:
            token = loads(response.content)  # a bare JSON string (§A.1)
        except (ValueError, UnicodeDecodeError):
            raise self._unreadable(response) from None
        if not isinstance(token, str) or not token:
            raise self._unreadable(response)
        return token, max(self.config.admin_token_ttl_hours * 3600.0, 60.0)


class ImsAuth(_RenewingTokenAuth):
    """Adobe IMS OAuth server-to-server (client credentials) for ACCS."""

    what = "Adobe IMS token endpoint"
    operation = "ims-token"
    margin = 600.0  # of a 24 h token: renew ten minutes early

    def __repr__(self) -> str:
        return f"ImsAuth(client_id={self.config.ims_client_id!r}, org={self.config.ims_org_id!r})"

    def _token_request(self) -> httpx.Request:
        cfg = self.config
        form = {"client_id": cfg.ims_client_id, "client_secret": _reveal(cfg.ims_client_secret),
                "grant_type": "client_credentials", "scope": ",".join(cfg.ims_scopes)}
        return httpx.Request("POST", cfg.ims_token_url, data=form, headers={"Accept": "application/json"})

    def _read_token(self, response: httpx.Response) -> tuple[str, float]:
        try:
            body = loads(response.content)
            token, expires_in = body["access_token"], float(body.get("expires_in") or 86399)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
            raise self._unreadable(response) from None
        if not isinstance(token, str) or not token:
            raise self._unreadable(response)
        return token, max(expires_in, 1.0)

    def _decorate(self, request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"
        request.headers["x-api-key"] = self.config.ims_client_id or ""
        request.headers["x-gw-ims-org-id"] = self.config.ims_org_id or ""

    def _explain(self, response: httpx.Response) -> str:
        try:
            body = loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and body.get("error"):
            detail = body.get("error_description")
            return excerpt(f"{body['error']}: {detail}" if detail else str(body["error"]), 200) + \
                " (check the IMS client id, secret and the commerce.accs scope)"
        return f"HTTP {response.status_code}"


def make_auth(config: AdobeConfig) -> httpx.Auth:
    """The auth object for ``config``'s mode."""
    return {"oauth1": OAuth1Auth, "bearer": StaticBearerAuth, "admin": AdminTokenAuth, "ims": ImsAuth}[config.mode](config)


def _reveal(secret) -> str:
    return secret.get_secret_value() if secret is not None else ""


def _context(response: httpx.Response, operation: str) -> dict:
    return dict(system=SYSTEM, operation=operation, status=response.status_code,
                request_id=response.headers.get("x-request-id"), body_excerpt=excerpt(response.content))
