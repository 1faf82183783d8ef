"""Intacct credentials and the process-wide cache of API sessions.

Why not an ``httpx.Auth`` class, as the design prefers for token lifecycles: an Intacct session
lives in the XML body (``<authentication><sessionid>``), not in a header, and a refused session
comes back as HTTP 200 with an authentication-level failure. An ``httpx.Auth`` flow would have
to parse and rebuild the whole envelope to swap the session id, and to re-read every response
body to notice expiry; and the session also changes the URL (``getAPISession`` names the
endpoint to use). So the lifecycle lives here, in :class:`SessionCache`, and the client's one
``_request`` asks it for a session, reports each response's ``sessiontimeout`` back, and on
:class:`~.codec.SessionExpired` invalidates the session and renews it once.

Sessions are keyed by (endpoint, sender, company, user, entity): a session belongs to one
company, user and entity (reference §3), and the configured endpoint keeps a sandbox and a
production tenant with the same ids apart. A multi-entity tenant posts each document in its
entity: the client asks ``getAPISession<locationid>`` per entity and caches each session under
:meth:`IntacctConfig.session_key_for`.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from .._http import register_secret
from ..errors import AuthError
from .codec import SYSTEM, Login, ParsedResponse

DEFAULT_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"


class IntacctConfig(BaseModel):
    """How to reach one Intacct company. Passwords are ``SecretStr``: never in a repr or log,
    and registered for redaction as soon as the config exists."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)  # never echo a password

    endpoint_url: str = DEFAULT_ENDPOINT
    sender_id: str
    sender_password: SecretStr
    company_id: str
    user_id: str
    user_password: SecretStr
    location_id: str | None = None
    verify: bool = True
    timeout: float = 60.0

    def model_post_init(self, __context) -> None:
        register_secret(self.sender_password.get_secret_value())
        register_secret(self.user_password.get_secret_value())

    def login(self) -> Login:
        """The ``<login>`` credentials of this config."""
        return Login(self.user_id, self.company_id, self.user_password.get_secret_value(), self.location_id)

    @property
    def session_key(self) -> tuple[str, ...]:
        """What a cached session is shared by."""
        return self.session_key_for(None)

    def session_key_for(self, entity: str | None) -> tuple[str, ...]:
        """The cache key of a session in ``entity`` (a multi-entity company's LOCATIONID), or in
        the configured ``location_id`` when None: one session per entity (reference §7)."""
        return (self.endpoint_url, self.sender_id, self.company_id, self.user_id, entity or self.location_id or "")


@dataclass
class Session:
    """One API session: where to send requests, and until when (on the cache's clock)."""

    session_id: str = field(repr=False)
    endpoint: str
    location_id: str | None
    expires_at: float


class SessionCache:
    """Thread-safe sessions shared by every client of the process, renewed shortly before they
    expire and whenever the gateway refuses them.

    ``margin`` is how long before the projected expiry a session stops being handed out;
    ``fallback_ttl`` is assumed when a response carries no ``sessiontimeout``. ``clock`` is
    monotonic by default so wall-clock jumps cannot keep a dead session alive.
    """

    def __init__(self, *, margin: float = 60.0, fallback_ttl: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.margin = margin
        self.fallback_ttl = fallback_ttl
        self.clock = clock
        self._sessions: dict[tuple, Session] = {}
        self._opening: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, open_session: Callable[[], Session]) -> Session:
        """A live session for ``key``, opening one with ``open_session`` when none is fresh.
        One thread opens per key while the others wait for its result (no login stampede)."""
        with self._lock:
            session = self._fresh(key)
            if session is not None:
                return session
            opening = self._opening.setdefault(key, threading.Lock())
        with opening:
            with self._lock:
                session = self._fresh(key)
            if session is None:
                session = open_session()
                register_secret(session.session_id)
                with self._lock:
                    self._sessions[key] = session
            return session

    def _fresh(self, key: tuple) -> Session | None:
        session = self._sessions.get(key)
        if session is not None and session.expires_at - self.margin > self.clock():
            return session
        return None

    def observe(self, key: tuple, session_id: str, parsed: ParsedResponse) -> None:
        """Slide the expiry of ``session_id`` to what the latest response projects."""
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.session_id == session_id:
                session.expires_at = self.expiry(parsed)

    def invalidate(self, key: tuple, session_id: str | None = None) -> None:
        """Forget the session of ``key`` (only if it is still ``session_id``, when given: another
        thread may already have replaced the refused session with a fresh one)."""
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and (session_id is None or session.session_id == session_id):
                del self._sessions[key]

    def clear(self) -> None:
        """Forget every session (tests and the demo switch sandboxes between runs)."""
        with self._lock:
            self._sessions.clear()

    def expiry(self, parsed: ParsedResponse) -> float:
        """The expiry a response projects, on this cache's clock.

        Measured as ``sessiontimeout - sessiontimestamp`` (both from the server) rather than
        against our own wall clock, so clock skew between us and Intacct does not matter.
        """
        ttl = self.fallback_ttl
        timeout, stamp = parsed.session_timeout, parsed.session_timestamp
        if timeout is not None:
            if stamp is not None and (stamp.tzinfo is None) == (timeout.tzinfo is None):
                reference = stamp
            else:  # no server stamp to measure from: our clock, in the timeout's zone
                reference = datetime.now(timeout.tzinfo)
            ttl = max((timeout - reference).total_seconds(), 0.0)
        return self.clock() + ttl


def session_from_response(parsed: ParsedResponse, config: IntacctConfig, cache: SessionCache) -> Session:
    """The session a ``getAPISession`` response grants, checked before any request goes to it.

    The endpoint it names receives our sender password on every later request, so it must stay
    on the configured scheme and domain (``api.intacct.com`` may hand out ``na12.intacct.com``,
    never another domain).
    """
    result = parsed.results[0] if parsed.results else None
    if result is None or not result.ok or not result.records or not result.records[0].get("sessionid"):
        reason = str(result.error) if result is not None and result.error else "no session in the response"
        raise AuthError(f"getAPISession failed: {reason}", system=SYSTEM, operation="getAPISession")
    api = result.records[0]
    endpoint = api.get("endpoint") or config.endpoint_url
    if not _same_domain(config.endpoint_url, endpoint):
        raise AuthError(f"getAPISession named an endpoint outside {urlsplit(config.endpoint_url).hostname}: "
                        f"{urlsplit(endpoint).hostname}", system=SYSTEM, operation="getAPISession")
    return Session(api["sessionid"], endpoint, api.get("locationid") or None, cache.expiry(parsed))


def _same_domain(configured: str, returned: str) -> bool:
    want, got = urlsplit(configured), urlsplit(returned)
    if got.scheme not in ("https", want.scheme) or not got.hostname or not want.hostname:
        return False
    if got.hostname == want.hostname:
        return True
    try:  # an IP address has no parent domain: only itself will do
        ipaddress.ip_address(want.hostname)
        return False
    except ValueError:
        pass
    labels = want.hostname.split(".")
    return len(labels) >= 3 and got.hostname.endswith("." + ".".join(labels[1:]))


_SHARED = SessionCache()


def shared_sessions() -> SessionCache:
    """The process-wide cache every client uses unless given its own."""
    return _SHARED
