"""Who may call the Adobe Commerce emulator, checked as Magento and Adobe IMS check it (reference §A.2).

Integration requests signed with OAuth 1.0a are verified the way Magento's PHP does it, read
in ``Framework\\Oauth\\Oauth``, ``Framework\\Oauth\\Helper\\Request``, ``Integration\\...\\Nonce\\
Generator`` and the Laminas/Zend HMAC signer, because that is where real clients fail:
- the query string is split on ``&`` and ``=`` and read with ``rawurldecode``: a ``+`` stays a
  plus (a space sent as ``+`` is signed by Magento as ``%2B``), a pair holding a second ``=`` is
  dropped, a repeated name keeps its last value; ``oauth_reader="rfc5849"`` reads it the RFC way;
- the encoded names are sorted with PHP's ``strnatcmp`` (``...[2]...`` before ``...[10]...``);
- the checks run in Magento's order and each fails with Magento's own message: version,
  required parameters, token length (32), signature method (HMAC-SHA1 or HMAC-SHA256),
  consumer key, timestamp (refused only when <= 0 or more than 600 s ahead), nonce (burned even
  when the signature then fails), token, and last the signature itself.
Admin tokens are HS256 JWTs (``Magento_JwtUserToken``) that expire after ``ttl`` (4 h by
default); IMS tokens (ACCS) expire after 86 399 s; every expiry reads the injected clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cmp_to_key
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

import httpx

from .errors import AdobeError

SIGNATURE_METHODS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
TOKEN_LENGTH = 32
TIME_DEVIATION = 600
_ALNUM = string.ascii_lowercase + string.digits
_DEFAULT_PORTS = {"http": 80, "https": 443}


def magento_secret() -> str:
    """A 32-character key as Magento's ``generateRandomString`` makes them."""
    return "".join(secrets.choice(_ALNUM) for _ in range(TOKEN_LENGTH))


def rawurlencode(value: str) -> str:
    """PHP's ``rawurlencode`` (RFC 3986: everything but ``A-Z a-z 0-9 - _ . ~``)."""
    return quote(value.encode("utf-8"), safe="-_.~")


def strnatcmp(a: str, b: str) -> int:
    """PHP's natural-order comparison: digit runs compare as numbers."""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i].isdigit() and b[j].isdigit():
            ri, rj = i, j
            while ri < len(a) and a[ri].isdigit():
                ri += 1
            while rj < len(b) and b[rj].isdigit():
                rj += 1
            left, right = a[i:ri], b[j:rj]
            if left[0] == "0" or right[0] == "0":  # a fraction: compared left-aligned
                if left != right:
                    return -1 if left < right else 1
            elif int(left) != int(right):
                return -1 if int(left) < int(right) else 1
            i, j = ri, rj
            continue
        if a[i] != b[j]:
            return -1 if a[i] < b[j] else 1
        i, j = i + 1, j + 1
    return (len(a) - i > 0) - (len(b) - j > 0)


@dataclass
class Integration:
    """An activated integration: what Admin > Integrations shows after activation."""

    consumer_id: int
    consumer_key: str = field(default_factory=magento_secret)
    consumer_secret: str = field(default_factory=magento_secret)
    access_token: str = field(default_factory=magento_secret)
    access_token_secret: str = field(default_factory=magento_secret)
    revoked: bool = False


def _oauth_error(message: str, parameters=None, status: int = 401) -> AdobeError:
    return AdobeError(status, message, parameters)


def header_params(value: str) -> dict[str, str]:
    """``Helper\\Request::_processHeader``: the ``oauth_*`` pairs of an ``OAuth`` header."""
    params: dict[str, str] = {}
    if value[:5].lower() != "oauth":
        return params
    for part in value[6:].split(","):
        name, sep, raw = part.strip().partition("=")
        if sep and name.startswith("oauth_"):
            params[unquote(name)] = unquote(raw.strip('"'))
    return params


def query_params(raw_query: str, reader: str) -> list[tuple[str, str]]:
    """The query pairs that enter the signature (see the module docstring)."""
    if reader == "rfc5849":
        return [(k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True) if not k.startswith("oauth_")]
    found: dict[str, str] = {}
    for pair in raw_query.split("&") if raw_query else []:
        parts = pair.split("=")
        if len(parts) == 2 and not parts[0].startswith("oauth_"):
            found[unquote(parts[0])] = unquote(parts[1])
    return list(found.items())


def base_url(url: httpx.URL) -> str:
    scheme = url.scheme.lower()
    port = f":{url.port}" if url.port is not None and url.port != _DEFAULT_PORTS.get(scheme) else ""
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    return f"{scheme}://{url.host.lower()}{port}{path}"


def signature(request: httpx.Request, oauth: dict[str, str], consumer_secret: str, token_secret: str,
              reader: str = "magento") -> str:
    """The signature Magento computes for ``request`` (``oauth`` without ``oauth_signature``)."""
    pairs = [(k, v) for k, v in oauth.items() if k != "oauth_signature"]
    pairs += query_params(request.url.query.decode("ascii"), reader)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        pairs += [(k, v) for k, v in parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True)
                  if not k.startswith("oauth_")]
    encoded = [(rawurlencode(k), rawurlencode(v)) for k, v in pairs]
    if reader == "rfc5849":
        encoded.sort()
    else:
        encoded.sort(key=cmp_to_key(lambda x, y: strnatcmp(x[0], y[0])))
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    base = "&".join((request.method.upper(), rawurlencode(base_url(request.url)), rawurlencode(normalized)))
    key = f"{rawurlencode(consumer_secret)}&{rawurlencode(token_secret)}".encode()
    digest = SIGNATURE_METHODS[oauth["oauth_signature_method"]]
    return base64.b64encode(hmac.new(key, base.encode("utf-8"), digest).digest()).decode("ascii")


class OAuthVerifier:
    """Verifies integration requests; remembers nonces per consumer, as Magento's table does."""

    REQUIRED = ("oauth_consumer_key", "oauth_signature", "oauth_signature_method", "oauth_nonce",
                "oauth_timestamp", "oauth_token")

    def __init__(self, integrations: list[Integration], clock: Callable[[], float], reader: str = "magento"):
        self.integrations, self.clock, self.reader = integrations, clock, reader
        self.nonces: dict[int, set[str]] = {}

    def verify(self, request: httpx.Request, oauth: dict[str, str]) -> Integration:
        """The integration that signed ``request``; raises :class:`AdobeError` as Magento would."""
        version = oauth.get("oauth_version")
        if version is not None and version != "1.0":
            raise _oauth_error('The "%1" Oauth version isn\'t supported.', [version], 400)
        missing = [name for name in self.REQUIRED if name not in oauth]
        if missing:
            errors = [{"message": '"%fieldName" is required. Enter and try again.', "parameters": {"fieldName": m}}
                      for m in missing]
            if len(errors) == 1:
                raise _oauth_error(errors[0]["message"], errors[0]["parameters"], 400)
            raise AdobeError(400, "One or more input exceptions have occurred.", errors=errors)
        if len(oauth["oauth_token"]) != TOKEN_LENGTH:
            raise _oauth_error("The token length is invalid. Check the length and try again.", status=400)
        method = oauth["oauth_signature_method"]
        if method not in SIGNATURE_METHODS:
            raise _oauth_error("Signature method %1 is not supported", [method], 400)
        integration = self._consumer(oauth["oauth_consumer_key"])
        self._nonce(integration, oauth["oauth_nonce"], oauth["oauth_timestamp"])
        token = next((i for i in self.integrations if i.access_token == oauth["oauth_token"]), None)
        if token is None:
            raise _oauth_error("Specified token does not exist")
        if token is not integration:
            raise _oauth_error("Token is not associated with the specified consumer")
        if integration.revoked:
            raise _oauth_error("Access token has been revoked")
        expected = signature(request, oauth, integration.consumer_secret, integration.access_token_secret,
                             self.reader)
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            raise _oauth_error("The signature is invalid. Verify and try again.")
        return integration

    def _consumer(self, key: str) -> Integration:
        if len(key) != TOKEN_LENGTH:
            raise _oauth_error("Consumer key is not the correct length")
        found = next((i for i in self.integrations if i.consumer_key == key), None)
        if found is None:
            raise _oauth_error("A consumer having the specified key does not exist")
        return found

    def _nonce(self, integration: Integration, nonce: str, raw_timestamp: str) -> None:
        try:
            timestamp = int(raw_timestamp)
        except ValueError:
            timestamp = 0  # PHP's (int) cast of junk
        if timestamp <= 0 or timestamp > self.clock() + TIME_DEVIATION:
            raise _oauth_error("Incorrect timestamp value in the oauth_timestamp parameter")
        used = self.nonces.setdefault(integration.consumer_id, set())
        if nonce in used:
            raise _oauth_error("The nonce is already being used by the consumer with ID %1", [integration.consumer_id])
        used.add(nonce)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class AdminTokens:
    """Admin user tokens: HS256 JWTs with ``exp``, as ``Magento_JwtUserToken`` issues them."""

    def __init__(self, clock: Callable[[], float], ttl: float = 4 * 3600.0) -> None:
        self.clock, self.ttl = clock, ttl
        self._key = secrets.token_bytes(32)
        self.generation = 0  # bumped by expire_all(): older tokens stop working
        self.issued = 0

    def issue(self, user_id: int) -> str:
        now = int(self.clock())
        header = _b64url(json.dumps({"kid": "1", "alg": "HS256"}).encode())
        payload = _b64url(json.dumps({"uid": user_id, "utypid": 2, "iat": now, "exp": now + int(self.ttl),
                                      "gen": self.generation}).encode())
        mac = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        self.issued += 1
        return f"{header}.{payload}.{_b64url(mac)}"

    def valid(self, token: str) -> bool:
        parts = token.split(".")
        if len(parts) != 3:
            return False
        mac = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_b64url(mac), parts[2]):
            return False
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return payload["exp"] > self.clock() and payload.get("gen") == self.generation

    def expire_all(self) -> None:
        self.generation += 1


class ImsTokens:
    """Adobe IMS server-to-server tokens (reference §A.2.5): client credentials, 24 h, no refresh."""

    SCOPE = "commerce.accs"

    def __init__(self, clock: Callable[[], float], client_id: str, client_secret: str, org_id: str,
                 ttl: float = 86_399.0) -> None:
        self.clock, self.client_id, self.client_secret, self.org_id, self.ttl = clock, client_id, client_secret, org_id, ttl
        self._live: dict[str, float] = {}
        self.issued = 0

    def token_endpoint(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True))
        if request.method != "POST":
            return _ims_error(405, "method_not_allowed", "POST only")
        if form.get("grant_type") != "client_credentials":
            return _ims_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_id") != self.client_id:
            return _ims_error(400, "invalid_client", "invalid client_id parameter")
        if not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
            return _ims_error(401, "invalid_client", "invalid client_secret parameter")
        scopes = {s.strip() for s in unquote_plus(form.get("scope", "")).replace(" ", ",").split(",")}
        if self.SCOPE not in scopes:
            return _ims_error(400, "invalid_scope", f"{self.SCOPE} is required")
        token = "eyJhbGciOiJSUzI1NiJ9.ims." + secrets.token_urlsafe(32)
        now = self.clock()
        self._live = {t: exp for t, exp in self._live.items() if exp > now}
        self._live[token] = now + self.ttl
        self.issued += 1
        return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": int(self.ttl)})

    def valid(self, token: str) -> bool:
        return self._live.get(token, float("-inf")) > self.clock()

    def expire_all(self) -> None:
        self._live = {t: float("-inf") for t in self._live}


def _ims_error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})
