"""OAuth 1.0a request signing (RFC 5849 §3.4) as Magento verifies it, pure functions.

Magento integrations sign every REST call (reference §A.2.2): HMAC-SHA256 (HMAC-SHA1 is
deprecated but accepted) keyed with ``enc(consumer_secret) & enc(token_secret)`` over

    METHOD & enc(scheme://host[:port]/path) & enc(sorted "enc(k)=enc(v)" pairs joined by "&")

where the pairs are the ``oauth_*`` protocol values (not ``oauth_signature``, not ``realm``), the
query-string parameters and, for form-encoded bodies only, the body parameters. JSON bodies
are not signed.

What Magento's side does that shapes ours (``Magento\\Framework\\Oauth\\Helper\\Request``):
- it reads the query string with PHP's ``rawurldecode``, which leaves ``+`` as a plus, so a
  space sent as ``+`` is signed by Magento as ``%2B`` but by an RFC client as ``%20``: we always
  send the query RFC 3986-encoded (``%20``), where both readings agree;
- it splits each pair on every ``=``, dropping a pair whose value holds a raw ``=``: encoding
  every reserved character (ours) avoids that;
- it sorts names with ``strnatcmp`` (natural order), not byte order; the two agree as long as
  no numeric index reaches 10, which :mod:`.search` guarantees for ``searchCriteria`` keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Iterable, Mapping
from urllib.parse import quote, unquote, unquote_plus

import httpx

METHODS = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}
_DEFAULT_PORTS = {"http": 80, "https": 443}

Pairs = list[tuple[str, str]]


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8 text: everything but ``A-Z a-z 0-9 - . _ ~``."""
    return quote(str(value).encode("utf-8"), safe="-._~")


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """A query string with names and values RFC 3986-encoded (space as ``%20``, never ``+``)."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)


def decode_query(query: str, *, plus_is_space: bool = True) -> Pairs:
    """The (name, value) pairs of a raw query string, percent-decoded.

    RFC 5849 decodes ``+`` as a space (form encoding); Magento's reader does not
    (``plus_is_space=False``). Queries built by :func:`encode_query` never hold a ``+``."""
    decode = unquote_plus if plus_is_space else unquote
    pairs: Pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((decode(name), decode(value)))
    return pairs


def base_string_uri(url: httpx.URL | str) -> str:
    """``scheme://host[:port]/path``: lower-case scheme and host, default port dropped, no query."""
    url = httpx.URL(url)
    scheme = url.scheme.lower()
    port = f":{url.port}" if url.port is not None and url.port != _DEFAULT_PORTS.get(scheme) else ""
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    return f"{scheme}://{url.host.lower()}{port}{path}"


def normalized_parameters(pairs: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.3.2: encode, sort by name then value, join as ``k=v&...``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs if k not in ("oauth_signature", "realm"))
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature_base_string(method: str, url: httpx.URL | str, pairs: Iterable[tuple[str, str]]) -> str:
    """The string that is signed. ``pairs``: oauth values plus query (and form body) parameters."""
    return "&".join((method.upper(), percent_encode(base_string_uri(url)), percent_encode(normalized_parameters(pairs))))


def sign(base_string: str, consumer_secret: str, token_secret: str, method: str = "HMAC-SHA256") -> str:
    """The base64 HMAC of ``base_string`` under ``enc(consumer_secret)&enc(token_secret)``."""
    digest = METHODS.get(method)
    if digest is None:
        raise ValueError(f"unsupported OAuth signature method {method!r}")
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}".encode("utf-8")
    return base64.b64encode(hmac.new(key, base_string.encode("utf-8"), digest).digest()).decode("ascii")


def protocol_parameters(consumer_key: str, token: str, method: str, timestamp: int, nonce: str | None = None) -> dict[str, str]:
    """The ``oauth_*`` values of one request (without the signature)."""
    return {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": method,
        "oauth_timestamp": str(int(timestamp)),
        "oauth_token": token,
        "oauth_version": "1.0",
    }


def authorization_header(oauth: Mapping[str, str]) -> str:
    """``OAuth k="v",...`` with every value percent-encoded (the signature included)."""
    return "OAuth " + ",".join(f'{percent_encode(k)}="{percent_encode(v)}"' for k, v in oauth.items())


def parse_authorization_header(value: str) -> dict[str, str]:
    """The ``oauth_*`` values of an ``Authorization: OAuth ...`` header (for verifiers and tests)."""
    if not value or value[:6].lower() != "oauth ":
        return {}
    params: dict[str, str] = {}
    for part in value[6:].split(","):
        name, sep, raw = part.strip().partition("=")
        if sep and name.startswith("oauth_"):
            params[unquote(name)] = unquote(raw.strip().strip('"'))
    return params


def signed_header(
    method: str, url: httpx.URL | str, *, consumer_key: str, consumer_secret: str, token: str, token_secret: str,
    signature_method: str = "HMAC-SHA256", timestamp: int, nonce: str | None = None,
    body_pairs: Pairs | None = None,
) -> str:
    """The ``Authorization`` header for one request; the URL's query is part of what is signed."""
    oauth = protocol_parameters(consumer_key, token, signature_method, timestamp, nonce)
    query = decode_query(httpx.URL(url).query.decode("ascii"))
    base = signature_base_string(method, url, [*oauth.items(), *query, *(body_pairs or [])])
    oauth["oauth_signature"] = sign(base, consumer_secret, token_secret, signature_method)
    return authorization_header(oauth)
