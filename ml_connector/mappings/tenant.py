"""The tenant mapping file: trading partners, cost centers, GL accounts and item cross-references.

A tenant file is YAML validated by these models; a mistake in it (an unknown route, an item
claimed by two cross-references) fails at load time with the path of the bad value, not in
the middle of a run. See ``tenants/demo.yaml`` for a complete example.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .commerce_tenant import CommerceSettings
from .qbo_tenant import QboMapping
from .sterling_config import SterlingSettings

DocType = Literal["order", "invoice", "shipment"]
# Where an inbound SPS document goes. "skip" records it in the ledger as skipped, on purpose;
# "salesorder" (orders only) makes a retailer's order an Intacct Order Entry sales order
# (create_sotransaction) for the partner's customer_id instead of an AP bill.
Route = Literal["apbill", "skip", "salesorder"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimensions(Strict):
    """The cost center: Intacct has no such dimension, so it is department/location/class."""

    department: str | None = None
    location: str | None = None
    class_: str | None = Field(default=None, alias="class")


class GlAccounts(Strict):
    order: str
    invoice: str
    shipment: str
    charges: str
    allowances: str


class PartnerMapping(Strict):
    """One SPS trading partner: who it is in Intacct and where its documents post."""

    name: str
    vendor_id: str = Field(description="Intacct VENDORID that inbound documents bill against.")
    customer_id: str | None = Field(default=None, description="Intacct CUSTOMERID whose AR invoices go out to this partner.")
    dimensions: Dimensions = Dimensions()
    gl_accounts: GlAccounts
    routes: dict[DocType, Route] = {"order": "apbill", "invoice": "apbill", "shipment": "apbill"}
    due_days: int = Field(default=30, ge=0, le=365)
    currency: str = "USD"
    so_transaction_type: str = Field(default="Sales Order", min_length=1,
                                     description="The Order Entry transaction definition of routed orders.")

    @model_validator(mode="after")
    def _sales_orders_need_a_customer(self):
        routed = [doc_type for doc_type, route in self.routes.items() if route == "salesorder"]
        if any(doc_type != "order" for doc_type in routed):
            raise ValueError("routes: only order can go to salesorder")
        if routed and not self.customer_id:
            raise ValueError("routes: order -> salesorder needs the partner's customer_id")
        return self


class ItemXref(Strict):
    """One item, known by any of the identifiers a partner may send."""

    item_id: str
    buyer_part: str | None = None
    vendor_part: str | None = None
    upc: str | None = None
    gl_account: str | None = Field(default=None, description="Overrides the partner's account for this item.")
    unit_cost: Decimal | None = Field(default=None, description="Price used when a shipment line carries none.")

    @model_validator(mode="after")
    def _has_an_identifier(self):
        if not (self.buyer_part or self.vendor_part or self.upc):
            raise ValueError(f"item {self.item_id}: give at least one of buyer_part, vendor_part, upc")
        return self


class OutboundSettings(Strict):
    send_orderacks: bool = True
    invoice_format: Literal["xml", "json"] = "xml"


# What a bill dated in a closed GL period does (SPS -> Intacct): "keep" fails it, naming the
# closed period; "first_open_period" posts it (WHENPOSTED) on the first day of the first open one.
PostingDate = Literal["keep", "first_open_period"]
# How a cancelled bill leaves Intacct: "delete" (the default), or "reverse" for a company that
# enabled "reversal of unpaid bills" to keep an audit trail (the bill stays, reversed).
BillCancel = Literal["delete", "reverse"]


class TenantMapping(Strict):
    tenant: str
    partners: dict[str, PartnerMapping]
    items: list[ItemXref] = []
    posting_date: PostingDate = "keep"
    bill_cancel: BillCancel = "delete"
    outbound: OutboundSettings = OutboundSettings()
    sterling: SterlingSettings | None = None  # Intacct -> Sterling X12 (mappings/sterling_config.py)
    qbo: QboMapping | None = None  # SPS <-> QuickBooks Online references (mappings/qbo_tenant.py)
    commerce: CommerceSettings | None = None  # Adobe Commerce <-> Intacct (mappings/commerce_tenant.py)
    _item_index: dict = PrivateAttr(default_factory=dict)
    _by_customer: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_identifiers(self):
        for field in ("buyer_part", "vendor_part", "upc"):
            seen: dict[str, str] = {}
            for item in self.items:
                value = getattr(item, field)
                if value and value in seen and seen[value] != item.item_id:
                    raise ValueError(f"{field} {value!r} is claimed by items {seen[value]} and {item.item_id}")
                if value:
                    seen[value] = item.item_id
        return self

    def model_post_init(self, _context) -> None:
        index: dict[tuple[str, str], ItemXref] = {}
        for item in self.items:
            for field in ("buyer_part", "vendor_part", "upc"):
                if getattr(item, field):
                    index[(field, getattr(item, field))] = item
        self._item_index = index
        self._by_customer = {p.customer_id: pid for pid, p in self.partners.items() if p.customer_id}

    def find_item(self, *, buyer_part: str | None, vendor_part: str | None, upc: str | None) -> ItemXref | None:
        """The cross-reference by buyer part number, then vendor part number, then UPC."""
        for field, value in (("buyer_part", buyer_part), ("vendor_part", vendor_part), ("upc", upc)):
            if value and (field, value) in self._item_index:
                return self._item_index[(field, value)]
        return None

    def partner_for_customer(self, customer_id: str) -> str | None:
        return self._by_customer.get(customer_id)


class TenantFileError(ValueError):
    """A tenant mapping file that cannot be used, in one line: the file, the line where known,
    the key path and what is allowed there. Every command and flow that loads a tenant gets it."""


class TenantNotFound(TenantFileError, FileNotFoundError):
    """No mapping file for the tenant (still a FileNotFoundError for callers that expect one)."""


def load_tenant(path: str | Path) -> TenantMapping:
    """Load and validate a tenant mapping file; raises TenantFileError with a one-line message."""
    path = Path(path)
    shown = _shown(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TenantNotFound(f"{shown}: no such tenant mapping file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TenantFileError(f"{shown}: cannot read it ({_one_line(exc)})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        reason = f"{context}, {problem}" if context else problem
        raise TenantFileError(f"{shown}{where}: not valid YAML: {_one_line(reason)}") from None
    if not isinstance(data, dict):
        raise TenantFileError(f"{shown}: expected a mapping with tenant: and partners:, "
                              f"found {type(data).__name__ if data is not None else 'an empty file'}")
    try:
        return TenantMapping.model_validate(data)
    except ValidationError as exc:
        raise TenantFileError(_validation_line(shown, text, exc)) from None


def _shown(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _one_line(value) -> str:
    return " ".join(str(value).split())


def _validation_line(shown: str, text: str, exc: ValidationError) -> str:
    """The first error of a validation, as ``file line N: key.path: what is wrong (allowed)``."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    line = _line_of(text, loc)
    where = f"{shown} line {line}" if line else shown
    path = ".".join(map(str, loc)) or "(top level)"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        message = f"{path}: unknown key {loc[-1]!r}" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    elif kind == "missing":
        message = f"{path}: required key missing"
    else:
        msg = first["msg"].removeprefix("Value error, ")
        got = first.get("input")
        shown_input = f" (got {got!r})" if kind not in ("value_error", "assertion_error") and isinstance(
            got, (str, int, float, bool)) else ""
        message = f"{path}: {msg}{shown_input}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _one_line(f"{where}: {message}{more}")


def _allowed_keys(loc: tuple) -> list[str]:
    """The keys the model at ``loc`` accepts (by alias where it has one)."""
    import typing

    annotation: object = TenantMapping
    for part in loc:
        annotation = _model_in(annotation, typing)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for name, f in annotation.model_fields.items() if (f.alias or name) == part), None)
            if field is None:
                return []
            annotation = field.annotation
        else:
            origin = typing.get_origin(annotation)
            args = typing.get_args(annotation)
            if origin in (dict, list, tuple) and args:  # a dict key or a list index: the value type
                annotation = args[-1] if origin is dict else args[0]
            else:
                return []
    model = _model_in(annotation, typing)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _model_in(annotation, typing):
    """``X | None`` -> X (the first model among a union's members)."""
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return arg
    return annotation


def _line_of(text: str, loc: tuple) -> int | None:
    """The 1-based line of the deepest node of ``loc`` in the YAML text (a key's own line)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def tenant_path(tenant: str, directory: str | Path | None = None) -> Path:
    """Where a tenant's mapping file lives: ``$ML_CONNECTOR_TENANTS`` or ./tenants, then the
    examples shipped in the repository."""
    import os

    candidates = [Path(directory)] if directory else []
    if os.environ.get("ML_CONNECTOR_TENANTS"):
        candidates.append(Path(os.environ["ML_CONNECTOR_TENANTS"]))
    candidates += [Path.cwd() / "tenants", Path(__file__).resolve().parents[2] / "tenants"]
    for folder in candidates:
        path = folder / f"{tenant}.yaml"
        if path.exists():
            return path
    raise TenantNotFound(f"no mapping file for tenant {tenant!r} (looked in {', '.join(map(str, candidates))})")
