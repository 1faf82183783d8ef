"""What every emulator shares: fault injection, the in-process transport and the ASGI adapter.

An emulator is one stateful ``handle(httpx.Request) -> httpx.Response`` function. Tests mount
it in-process with :meth:`Emulator.transport`; the demo and end-to-end tests serve the very
same handler over real HTTP through :meth:`Emulator.asgi` and uvicorn, so both paths see the
same behaviour.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import httpx


@dataclass
class FaultPlan:
    """Seeded fault injection. Rates are per request; ``burst`` repeats a 429 that many times."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_timeout: float = 0.0
    rate_lost_write: float = 0.0
    burst: int = 1
    retry_after: float = 0.05
    seed: int = 7
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._burst_left = 0
        self._lock = threading.Lock()

    @classmethod
    def profile(cls, name: str, seed: int = 7) -> FaultPlan:
        """The named fault profiles of ``demo --faults``."""
        if name == "none":
            return cls(seed=seed)
        if name == "light":
            return cls(rate_429=0.03, rate_5xx=0.02, rate_timeout=0.01, rate_lost_write=0.02, seed=seed)
        if name == "heavy":
            return cls(rate_429=0.06, rate_5xx=0.06, rate_timeout=0.03, rate_lost_write=0.08, burst=3, seed=seed)
        raise ValueError(f"unknown fault profile {name!r} (none, light, heavy)")

    def _hit(self, kind: str, rate: float) -> bool:
        if rate and self._rng.random() < rate:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return True
        return False

    def before(self) -> str | None:
        """A fault to inject before the request is handled: '429', '5xx', 'timeout' or None."""
        with self._lock:
            if self._burst_left > 0:
                self._burst_left -= 1
                self.counts["429"] = self.counts.get("429", 0) + 1
                return "429"
            if self._hit("429", self.rate_429):
                self._burst_left = self.burst - 1
                return "429"
            if self._hit("5xx", self.rate_5xx):
                return "5xx"
            if self._hit("timeout", self.rate_timeout):
                return "timeout"
            return None

    def lose_response(self) -> bool:
        """Whether a write that just committed should lose its response."""
        with self._lock:
            return self._hit("lost_write", self.rate_lost_write)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class SimulatedTimeout(Exception):
    """The request never got an answer (before or after the emulator acted on it)."""


class Emulator:
    """Base of every emulator. Subclasses implement :meth:`dispatch` and :meth:`is_write`."""

    system = "emulator"

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.faults = faults or FaultPlan()
        self.lock = threading.RLock()
        self.requests = 0
        self.base_url = f"https://{self.system}.sandbox.invalid"

    # -- to implement ------------------------------------------------------------------
    def dispatch(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def is_write(self, request: httpx.Request) -> bool:
        return request.method in {"POST", "PUT", "PATCH", "DELETE"}

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response:
        """The body the real system sends for an injected 429 or 5xx."""
        if kind == "429":
            return httpx.Response(429, headers={"Retry-After": str(self.faults.retry_after)}, text="Too Many Requests")
        return httpx.Response(503, text="Service Unavailable")

    def credentials(self) -> dict:
        """The sandbox credentials a client needs, as printed by ``sandbox serve``."""
        return {}

    # -- shared ------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Handle one request, injecting faults per the plan. Thread-safe."""
        with self.lock:
            self.requests += 1
            fault = self.faults.before()
            if fault == "timeout":
                raise SimulatedTimeout("request timed out before it was processed")
            if fault is not None:
                return self.fault_response(fault, request)
            response = self.dispatch(request)
            if self.is_write(request) and response.status_code < 400 and self.faults.lose_response():
                raise SimulatedTimeout("write committed, response lost")
            return response

    def transport(self) -> httpx.MockTransport:
        """An in-process transport: simulated timeouts surface as httpx.ReadTimeout."""

        def handler(request: httpx.Request) -> httpx.Response:
            request.read()
            try:
                return self.handle(request)
            except SimulatedTimeout as exc:
                raise httpx.ReadTimeout(str(exc), request=request) from None

        return httpx.MockTransport(handler)

    def asgi(self):
        """An ASGI app serving this emulator. A lost response becomes 524, as Intacct's CDN sends
        while the origin is still working, and a pre-commit timeout becomes 504."""
        emulator = self

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            query = scope.get("query_string", b"").decode()
            url = f"{emulator.base_url}{scope['path']}" + (f"?{query}" if query else "")
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            request = httpx.Request(scope["method"], url, headers=headers, content=body)
            try:
                response = emulator.handle(request)
            except SimulatedTimeout as exc:
                status = 524 if "committed" in str(exc) else 504
                response = httpx.Response(status, text=str(exc))
            raw_headers = [
                (k.encode(), v.encode())
                for k, v in response.headers.items()
                if k.lower() not in {"content-length", "transfer-encoding"}
            ]
            await send({"type": "http.response.start", "status": response.status_code, "headers": raw_headers})
            await send({"type": "http.response.body", "body": response.content})

        return app
