"""``ml-connector preview``: what one document becomes, without posting anything.

Each integration's pipeline says what its preview shows (engine/pipeline.py ``preview``)."""

from __future__ import annotations

from pathlib import Path

from . import integrations
from .mappings.tenant import load_tenant, tenant_path


def preview(integration: str, path: Path, *, tenant: str | None = None) -> str:
    """The target request(s) for the document(s) in ``path``; raises with a one-line reason."""
    spec = integrations.get(integration)
    tenant = tenant or spec.sandbox_tenant
    show = spec.pipeline.preview
    if show is None:
        raise ValueError(f"{integration} has no preview: its documents are not mapped from a file")
    return show(tenant, load_tenant(tenant_path(tenant)), path.read_bytes(), path.name)
