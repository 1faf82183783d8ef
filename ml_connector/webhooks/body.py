"""A webhook's body, read as a stream and refused as soon as it passes the limit, so an
unsigned oversized POST costs the service at most the limit in memory, not the whole body."""

from __future__ import annotations

from starlette.requests import Request

MAX_BODY = 1_000_000  # bytes: a QBO or Commerce notification is a few kilobytes


class BodyTooLarge(Exception):
    """The body declared or passed the limit; nothing more of it was read."""


async def capped_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"declares {int(declared):,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"passed {limit:,} bytes")
    return bytes(body)
