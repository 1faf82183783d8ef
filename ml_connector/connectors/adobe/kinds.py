"""The entity kinds the client reads: endpoint paths, id field, model, and the one parser that
turns a raw JSON entity into its model or a :class:`BadDocument` with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import BadDocument
from .errors import SYSTEM
from .models import Company, CompanyCredit, CreditMemo, Customer, Invoice, Order, Product, Shipment


@dataclass(frozen=True)
class Kind:
    """One entity kind. ``id_field`` is the JSON key of its id; ``incremental`` says whether it has
    ``updated_at`` to sync on. Sorting on the id uses ``entity_id``, the column every one of
    these collections has, whatever the JSON calls it [P]."""

    name: str
    list_path: str
    item_path: str  # with "{id}"
    model: type[BaseModel]
    id_field: str = "entity_id"
    incremental: bool = True


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("orders", "orders", "orders/{id}", Order),
    Kind("invoices", "invoices", "invoices/{id}", Invoice),
    Kind("creditmemos", "creditmemos", "creditmemo/{id}", CreditMemo),
    Kind("shipments", "shipments", "shipment/{id}", Shipment),
    Kind("customers", "customers/search", "customers/{id}", Customer, id_field="id"),
    Kind("products", "products", "products/{id}", Product, id_field="id"),
    Kind("companies", "company/", "company/{id}", Company, id_field="id", incremental=False),
    Kind("company_credits", "companyCredits/", "companyCredits/{id}", CompanyCredit, id_field="id", incremental=False),
)}


def kind_of(name: str) -> Kind:
    """The :class:`Kind` called ``name``; ValueError for an unknown one."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown Adobe Commerce entity kind {name!r}; one of {sorted(KINDS)}") from None


def raw_id(kind: Kind, raw: Any) -> str | None:
    """The id of a raw entity as a string, or None when it has none usable."""
    value = raw.get(kind.id_field) if isinstance(raw, dict) else None
    if value is None and isinstance(raw, dict) and kind.name == "products":
        value = raw.get("sku")
    return None if value is None or isinstance(value, (dict, list, bool)) or value == "" else str(value)


def parse_entity(kind: Kind | str, raw: Any) -> Any:
    """``raw`` as the kind's model; anything unreadable -> ``BadDocument`` naming the fields."""
    kind = kind_of(kind) if isinstance(kind, str) else kind
    label = f"{kind.name} {raw_id(kind, raw) or '?'}"
    if not isinstance(raw, dict):
        raise BadDocument(f"Adobe Commerce {kind.name} entry is not an object ({type(raw).__name__})",
                          system=SYSTEM, operation=f"parse-{kind.name}")
    try:
        return kind.model.model_validate(raw)
    except ValidationError as exc:
        raise BadDocument(f"Adobe Commerce {label} is malformed: {_reasons(exc)}",
                          system=SYSTEM, operation=f"parse-{kind.name}") from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:  # a validator's own failure
        raise BadDocument(f"Adobe Commerce {label} is malformed: {type(exc).__name__}",
                          system=SYSTEM, operation=f"parse-{kind.name}") from None


def _reasons(exc: ValidationError, limit: int = 3) -> str:
    """The first few field errors as ``items.0.sku: Field required``; input values left out (PII)."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:limit]]
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts)[:400] + more
