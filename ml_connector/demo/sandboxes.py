"""The one builder of sandbox worlds, shared by the demo, the flow tests and the benchmarks.

A world is a set of emulators (each made once and attached), the credentials
blocks of the tenants that use them, and a fresh ledger. What differs between its users is a
knob, not a copy:

- how an emulator is attached: :func:`served` over real HTTP on loopback (the demo, the
  benchmarks' emulator host, optionally behind a network delay: :func:`with_latency`) or
  :func:`mounted` in-process on the connectors' transport table (the flow tests, optionally
  through a wrapping transport that loses answers or counts requests);
- each emulator's own options (fault plan, token and session lifetimes, company identity, clock),
  passed where it is made;
- several emulators of one system under names of their own (the demo's QuickBooks tenant has an
  SPS account of its own);
- which emulators a tenant's blocks name, and per-system overrides of the saved fields;
- the tenants' mapping files: written to a folder (:func:`write_tenant_files`, a shipped file under
  another name with :func:`as_tenant`) that ``ML_CONNECTOR_TENANTS`` names (:func:`tenants_in`).

Seeding stays with what knows the data: ``sandbox/seed.py`` and the demo parts.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..sandbox.base import Emulator

Detach = Callable[[], None]
Attach = Callable[[Emulator], Detach]


def served(emulator: Emulator) -> Detach:
    """Serve ``emulator`` over HTTP on a free loopback port (its ``base_url`` becomes that address)."""
    from ..sandbox.serve import serve_in_thread

    return serve_in_thread(emulator).stop


def with_latency(seconds: float) -> Attach:
    """:func:`served`, each request first waiting ``seconds`` (an awaited sleep, so concurrent
    requests wait side by side, as on a WAN)."""
    import asyncio

    def attach(emulator: Emulator) -> Detach:
        if seconds:
            make_app = emulator.asgi

            def asgi():
                app = make_app()

                async def delayed(scope, receive, send):
                    if scope["type"] == "http":
                        await asyncio.sleep(seconds)
                    await app(scope, receive, send)

                return delayed

            emulator.asgi = asgi
        return served(emulator)

    return attach


def mounted(wrap: dict[str, Callable[[Emulator], Any]] | None = None) -> Attach:
    """Mount each emulator in-process at its ``base_url``; ``wrap[system](emulator)`` gives the
    transport to mount instead of the emulator's own, for the systems it names."""
    from ..connectors import _http

    def attach(emulator: Emulator) -> Detach:
        make = (wrap or {}).get(emulator.system)
        base_url = emulator.base_url
        _http.mount(base_url, make(emulator) if make else emulator.transport())
        return lambda: _http.unmount(base_url)

    return attach


RSA_WEBHOOKS = {"adobe": {"webhook_hmac_secret": None}}
"""Overrides for :meth:`Sandboxes.save_blocks`: Adobe Commerce webhooks RSA-signed only (HMAC is an
explicit, legacy option a test may configure)."""


def block_fields(emulator: Emulator, overrides: dict[str, dict] | None = None) -> dict:
    """An emulator's credentials with ``overrides[system]`` on top (a None value drops that field)."""
    fields = {**emulator.credentials(), **(overrides or {}).get(emulator.system, {})}
    return {k: v for k, v in fields.items() if v is not None}


def save_credentials(tenant: str, credentials: dict[str, dict]) -> None:
    """Save ``{system: credentials}`` as ``tenant``'s blocks (extra fields are ignored)."""
    from ..credentials import save_block

    for system, fields in credentials.items():
        save_block(tenant, system, fields)


def fresh_ledger(url: str) -> None:
    """Point the ledger at ``url`` and drop what was cached for the previous world: each
    tenant's clients and ledger handle, and Intacct sessions (a session of another world's
    emulator means nothing to this one)."""
    from ..connectors.intacct.auth import shared_sessions
    from ..runtime.tenant import reset

    os.environ["ML_CONNECTOR_LEDGER_URL"] = url
    reset()
    shared_sessions().clear()


def as_tenant(text: str, name: str) -> str:
    """A tenant mapping file's text as tenant ``name``: its top-level ``tenant:`` line changed,
    everything else (comments included) kept."""
    renamed, found = re.subn(r"(?m)^tenant:.*$", f"tenant: {name}", text, count=1)
    if not found:
        raise ValueError("the mapping file has no top-level 'tenant:' line")
    return renamed


def write_tenant_files(folder: Path, files: dict[str, str]) -> Path:
    """Write each tenant's mapping file text as ``folder/<tenant>.yaml``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


@contextlib.contextmanager
def tenants_in(folder: Path):
    """``ML_CONNECTOR_TENANTS`` names ``folder`` (where tenant files are looked up first) for the duration."""
    before = os.environ.get("ML_CONNECTOR_TENANTS")
    os.environ["ML_CONNECTOR_TENANTS"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("ML_CONNECTOR_TENANTS", None)
        else:
            os.environ["ML_CONNECTOR_TENANTS"] = before


class Sandboxes:
    """One world's emulators by name (by default the system's), attached with ``attach`` (default
    :func:`served`), detached on :meth:`close` (or on leaving the ``with`` block)."""

    def __init__(self, attach: Attach = served) -> None:
        self.attach = attach
        self._emulators: dict[str, Emulator] = {}
        self._detach: list[Detach] = []

    def add(self, emulator: Emulator, name: str | None = None) -> Emulator:
        """Attach ``emulator`` as this world's ``name`` (default: its system)."""
        name = name or emulator.system
        if name in self._emulators:
            raise ValueError(f"this world already has an emulator named {name}")
        self._detach.append(self.attach(emulator))
        self._emulators[name] = emulator
        return emulator

    def get(self, name: str, make: Callable[[], Emulator]) -> Emulator:
        """The world's emulator ``name``, made with ``make`` and attached on first use."""
        return self._emulators[name] if name in self._emulators else self.add(make(), name)

    def __getitem__(self, name: str) -> Emulator:
        return self._emulators[name]

    def __contains__(self, name: str) -> bool:
        return name in self._emulators

    @property
    def emulators(self) -> dict[str, Emulator]:
        return dict(self._emulators)

    def save_blocks(self, tenant: str, names: list[str] | None = None,
                    overrides: dict[str, dict] | None = None) -> None:
        """Save the emulators ``names`` (default: all) as ``tenant``'s blocks, one per system,
        each with ``overrides[system]`` on top (a None value drops that field)."""
        emulators = [self._emulators[name] for name in names or list(self._emulators)]
        save_credentials(tenant, {e.system: block_fields(e, overrides) for e in emulators})

    def close(self) -> None:
        while self._detach:
            self._detach.pop()()

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
