"""QuickBooks Online authentication: OAuth 2.0 with rotating refresh tokens, as an ``httpx.Auth``.

QBO access tokens live one hour; the refresh token that renews them is single-use in effect:
a refresh may return a *new* refresh token and the previous one stops working. The classic
failures (reference §B.2, peers §2.1) are not saving the new token, saving it non-atomically,
and two workers refreshing at once with the same token so that one of them ends up holding a
dead one. Hence, in this module:

- tokens live in a :class:`TokenStore` (``load``/``save``), the single source of truth; a
  store may also offer ``locked()``, a cross-process lock (:class:`FileTokenStore` does);
- one refresher per realm in a process (a lock keyed by realm id), and under that lock the
  store is *re-read* before refreshing, so a thread that waited for another's refresh uses the
  token it produced instead of spending an already-rotated refresh token;
- the new token set is saved *before* the new access token is used;
- ``invalid_grant`` is final: :class:`AuthError` telling the operator the company must reconnect.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Generator
from contextlib import nullcontext

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from .._http import excerpt, parse_retry_after, register_secret
from ..errors import AuthError, RateLimited, TransientError
from .tokens import FileTokenStore, MemoryTokenStore, TokenSet, TokenStore

__all__ = ["QboConfig", "QboOAuth", "TokenSet", "TokenStore", "MemoryTokenStore", "FileTokenStore", "realm_lock"]

log = logging.getLogger("ml_connector.qbo.auth")

# Refresh this long before the access token's expiry, so it never dies mid-request; capped at
# half the lifetime so a short-lived token is still used at all.
EXPIRY_MARGIN = 300.0
# When the token endpoint omits expires_in, assume QBO's documented hour.
DEFAULT_TTL = 3600.0

_REALM_LOCKS: dict[str, threading.Lock] = {}
_REALM_LOCKS_GUARD = threading.Lock()


def realm_lock(realm_id: str) -> threading.Lock:
    """The process-wide lock that serializes token refreshes for one company (realm). Keyed by
    realm alone: clients of two tenants on one company wait for each other's refresh, which is
    harmless; the tokens themselves stay in each client's store and ``_cached`` copy."""
    with _REALM_LOCKS_GUARD:
        return _REALM_LOCKS.setdefault(realm_id, threading.Lock())


class QboConfig(BaseModel):
    """Where and as which app to reach one QBO company. Secrets never appear in a repr."""

    model_config = ConfigDict(frozen=True)

    realm_id: str
    client_id: str
    client_secret: SecretStr
    base_url: str = "https://quickbooks.api.intuit.com"
    token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    # 1-74 were retired on 2025-08-01; always send one explicitly (reference §B.1).
    minorversion: int = 75
    verify: bool = True
    timeout: float = 60.0

    def model_post_init(self, __context: object) -> None:
        register_secret(self.client_secret.get_secret_value())


class QboOAuth(httpx.Auth):
    """Bearer auth for one realm, backed by a :class:`TokenStore`.

    The access token is refreshed shortly before expiry and on a 401 (then the request is
    resent once; a second 401 goes back to the caller's classifier as ``AuthError``).
    Token endpoint failures: ``invalid_grant`` / ``invalid_client`` -> ``AuthError``;
    429 -> ``RateLimited``; 5xx, timeouts and unreadable answers -> ``TransientError``.
    """

    def __init__(self, config: QboConfig, store: TokenStore, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self._clock = clock  # wall clock: expiry times are shared with other processes via the store
        self._cached: TokenSet | None = None
        self.refreshes = 0  # refreshes this instance performed; tests and metrics read it

    def __repr__(self) -> str:
        return f"QboOAuth(realm_id={self.config.realm_id!r}, client_id={self.config.client_id!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Authorize ``request``; on a 401, get a fresh access token once and resend."""
        token = yield from self._access_token(stale=None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        token = yield from self._access_token(stale=token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    async def async_auth_flow(self, request: httpx.Request):  # pragma: no cover - guard only
        raise RuntimeError("QboOAuth is for httpx.Client; its locks are threading locks")
        yield request  # makes this an async generator, as httpx expects

    def invalidate(self) -> None:
        """Forget the in-memory copy; the next request re-reads the store."""
        self._cached = None

    # -- token lifecycle ----------------------------------------------------------------

    def _access_token(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        cached = self._cached
        if cached is not None and self._usable(cached, stale):
            return cached.access_token.get_secret_value()  # type: ignore[union-attr]
        # Both locks are held across the yield on purpose: threads and processes waiting for
        # this refresh then re-read the store and reuse its result. httpx closes the flow on
        # any error, which releases them.
        store_lock = getattr(self.store, "locked", None)
        with realm_lock(self.config.realm_id), (store_lock() if store_lock else nullcontext()):
            current = _newest(self.store.load(), self._cached)
            if self._usable(current, stale):
                self._cached = current
                return current.access_token.get_secret_value()  # type: ignore[union-attr]
            response = yield self._token_request(current)
            response.read()
            fresh = self._read_tokens(response, current)
            self._cached = fresh  # kept in memory even if the save below fails
            self._persist(fresh)
            self.refreshes += 1
            return fresh.access_token.get_secret_value()  # type: ignore[union-attr]

    def _usable(self, tokens: TokenSet, stale: str | None) -> bool:
        """Whether ``tokens`` holds an access token that is not ``stale`` and not near expiry."""
        if tokens.access_token is None:
            return False
        if stale is not None and tokens.access_token.get_secret_value() == stale:
            return False
        lifetime = tokens.access_expires_at - (tokens.refreshed_at or tokens.access_expires_at - DEFAULT_TTL)
        margin = min(EXPIRY_MARGIN, max(lifetime, 0.0) / 2)
        return self._clock() < tokens.access_expires_at - margin

    def _persist(self, fresh: TokenSet) -> None:
        try:
            self.store.save(fresh)
        except Exception:
            # The old refresh token is already dead at Intuit. This process keeps working on the
            # in-memory copy, but a restart before the store is fixed means reconnecting.
            log.error("QBO realm %s: the rotated refresh token could NOT be saved to %r; fix the token "
                      "store now or the company will have to reconnect", self.config.realm_id, self.store)
            raise

    def _token_request(self, current: TokenSet) -> httpx.Request:
        cfg = self.config
        basic = f"{cfg.client_id}:{cfg.client_secret.get_secret_value()}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(basic).decode("ascii"),
            "Accept": "application/json",
        }
        form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token.get_secret_value()}
        return httpx.Request("POST", cfg.token_url, data=form, headers=headers)

    def _read_tokens(self, response: httpx.Response, current: TokenSet) -> TokenSet:
        body = _json_object(response)
        # An error body is never a token set, whatever the status (node-quickbooks #171 stored
        # "undefined" tokens from one).
        if response.status_code >= 400 or (body is not None and "error" in body):
            raise self._token_error(response, body)
        try:
            access = body["access_token"]  # type: ignore[index]
            expires_in = float(body.get("expires_in") or DEFAULT_TTL)  # type: ignore[union-attr]
            refresh_ttl = body.get("x_refresh_token_expires_in")  # type: ignore[union-attr]
            refresh = body.get("refresh_token") or current.refresh_token.get_secret_value()  # type: ignore[union-attr]
        except (TypeError, KeyError, ValueError):
            raise self._unreadable(response) from None
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise self._unreadable(response)
        register_secret(refresh)
        now = self._clock()
        return TokenSet(
            refresh_token=SecretStr(refresh), access_token=SecretStr(access),
            access_expires_at=now + max(expires_in, 1.0), refreshed_at=now,
            refresh_expires_at=now + float(refresh_ttl) if refresh_ttl else current.refresh_expires_at,
        )

    def _context(self, response: httpx.Response) -> dict:
        return dict(system="qbo", operation="token", status=response.status_code,
                    request_id=response.headers.get("intuit_tid"), body_excerpt=excerpt(response.content))

    def _unreadable(self, response: httpx.Response) -> TransientError:
        return TransientError("QBO token endpoint answered without a usable token set", **self._context(response))

    def _token_error(self, response: httpx.Response, body: dict | None) -> Exception:
        status, context = response.status_code, self._context(response)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return RateLimited("QBO token endpoint is rate limiting us", retry_after=retry_after, **context)
        if status >= 500 or status == 408:
            return TransientError(f"QBO token endpoint failed with HTTP {status}", **context)
        code = str(body.get("error")) if body and body.get("error") else None
        description = excerpt(str(body.get("error_description") or ""), 160) if body else ""
        detail = f" ({description})" if description else ""
        realm = self.config.realm_id
        if code == "invalid_grant":
            return AuthError(
                f"QuickBooks refused the refresh token for company {realm}: invalid_grant{detail}. The token "
                "was revoked, expired or already rotated; the company must reconnect (re-authorize the app "
                "in QuickBooks) and the new refresh token must be stored", code=code, **context)
        if code == "invalid_client" or status == 401:
            return AuthError(f"QuickBooks refused the app credentials for company {realm}: "
                             f"{code or 'HTTP 401'}{detail}; check client_id and client_secret", code=code, **context)
        return AuthError(f"QuickBooks token endpoint refused the refresh for company {realm}: "
                         f"{code or 'HTTP ' + str(status)}{detail}", code=code, **context)


def _json_object(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _newest(stored: TokenSet, cached: TokenSet | None) -> TokenSet:
    """The more recently refreshed of the store's and this process's token sets.

    Normally the store wins (another worker may have rotated); the in-memory copy wins only
    when this process refreshed later, i.e. when saving its result failed."""
    if cached is None or (cached.refreshed_at or 0.0) <= (stored.refreshed_at or 0.0):
        return stored
    return cached
