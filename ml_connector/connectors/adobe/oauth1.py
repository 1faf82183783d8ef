"""OAuth 1.0a request signing (RFC 5849 §3.4) as Magento verifies it, pure functions.

The base string and the HMAC are oauthlib's (``oauthlib.oauth1.rfc5849.signature``); what is
ours is only what Magento adds to RFC 5849, listed below, and the header written and read.

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

import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, unquote_plus

import httpx
from oauthlib.oauth1.rfc5849 import signature as rfc5849

METHODS = {"HMAC-SHA256": rfc5849.sign_hmac_sha256, "HMAC-SHA1": rfc5849.sign_hmac_sha1}

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
    # httpx's text form is the one on the wire: path percent-encoded, an IDN host in punycode
    return rfc5849.base_string_uri(str(httpx.URL(url)))


def normalized_parameters(pairs: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.3.2: encode, sort by name then value, join as ``k=v&...``."""
    return rfc5849.normalize_parameters(
        [(str(k), str(v)) for k, v in pairs if k not in ("oauth_signature", "realm")])


def signature_base_string(method: str, url: httpx.URL | str, pairs: Iterable[tuple[str, str]]) -> str:
    """The string that is signed. ``pairs``: oauth values plus query (and form body) parameters."""
    return rfc5849.signature_base_string(method, base_string_uri(url), normalized_parameters(pairs))


def sign(base_string: str, consumer_secret: str, token_secret: str, method: str = "HMAC-SHA256") -> str:
    """The base64 HMAC of ``base_string`` under ``enc(consumer_secret)&enc(token_secret)``."""
    signer = METHODS.get(method)
    if signer is None:
        raise ValueError(f"unsupported OAuth signature method {method!r}")
    return signer(base_string, consumer_secret, token_secret)


def protocol_parameters(consumer_key: str, token: str, method: str, timestamp: int,
                        nonce: str | None = None) -> dict[str, str]:
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
    # The query is read here, not by oauthlib's collect_parameters: that refuses the raw brackets
    # of Magento's searchCriteria keys, which httpx leaves unencoded and Magento accepts.
    query = decode_query(httpx.URL(url).query.decode("ascii"))
    base = signature_base_string(method, url, [*oauth.items(), *query, *(body_pairs or [])])
    oauth["oauth_signature"] = sign(base, consumer_secret, token_secret, signature_method)
    return authorization_header(oauth)
