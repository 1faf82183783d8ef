"""One QBO company's data for the emulator: objects, SyncTokens, the change log and CDC.

Writes behave as reference §B.3-B.4 describe: Id and SyncToken "0" on create, SyncToken + 1 on
every change, a stale SyncToken -> Fault 5010, sparse updates merge (``Line`` replaces all
lines), full updates replace every writable field, references must point at existing active
objects, DisplayName is unique across vendors and customers (6240), and an Invoice gets the
``SubTotalLineDetail`` line QBO appends. During a batch only objects that existed when the
batch started are visible (reference §B.7). A bill linked to a purchase order receives it: the
PO lists the bill in its ``LinkedTxn`` and turns ``POStatus`` Closed (docs/revisions-sps-qbo.md).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

TRANSACTIONS = ("PurchaseOrder", "Invoice", "Bill")
LISTS = ("Vendor", "Customer", "Item", "Account")
ENTITIES = TRANSACTIONS + LISTS
_SYSTEM_FIELDS = ("Id", "SyncToken", "MetaData", "domain", "sparse")
_EXPENSE_DETAILS = ("ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail")
_REQUIRED_REFS = {"ItemBasedExpenseLineDetail": ("ItemRef",), "AccountBasedExpenseLineDetail": ("AccountRef",)}
CDC_LOOKBACK = timedelta(days=30)
NOT_FOUND_DETAIL = ("Object Not Found : Something you're trying to use has been made inactive. Check the fields "
                    "with accounts, customers, items, vendors or employees.")
STALE_DETAIL = ("Stale Object Error : You and API API were working on this at the same time. API API finished "
                "before you did, so your work was not saved.")


class QboFault(Exception):
    """A Fault the emulator answers with: HTTP status, code, message, detail, fault type."""

    def __init__(self, status: int, code: str, message: str, detail: str = "", ftype: str = "ValidationFault"):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.ftype = status, code, message, detail, ftype

    def fault(self) -> dict:
        return {"Error": [{"Message": self.message, "Detail": self.detail or self.message, "code": self.code,
                           "element": ""}], "type": self.ftype}


def required(name: str) -> QboFault:
    return QboFault(400, "2020", "Required param missing, need to supply the required value for the API",
                    f"Required parameter {name} is missing in the request")


def encode(body: Any) -> bytes:
    """JSON bytes with ``Decimal`` as numbers, as QBO sends amounts."""
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        raise TypeError(type(value).__name__)
    return json.dumps(body, default=default).encode("utf-8")


def _money(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise QboFault(400, "2030", "Invalid amount", f"{name} is not a number: {value!r}") from None
    if not amount.is_finite():
        raise QboFault(400, "2030", "Invalid amount", f"{name} is not a number: {value!r}")
    return amount


@dataclass
class Change:
    """One entry of the change log: what webhooks and CDC report."""

    realm_id: str
    entity: str
    id: str
    operation: str
    time: str
    event_id: str


class RealmStore:
    """All objects of one realm. Not thread-safe by itself: the emulator's lock guards it."""

    def __init__(self, realm_id: str, clock: Callable[[], float], tz: tzinfo, *, unique_docnumber: bool = False):
        self.realm_id, self.clock, self.tz = realm_id, clock, tz
        self.unique_docnumber = unique_docnumber
        self.objects: dict[str, dict[str, dict]] = {e: {} for e in ENTITIES}
        self._born: dict[tuple[str, str], int] = {}  # (entity, id) -> creation sequence number
        self.seq = 0
        self.visible_seq: int | None = None  # set during a batch: newer objects are invisible
        self.deleted: dict[str, dict[str, str]] = {e: {} for e in ENTITIES}  # entity -> id -> time
        self.changes: list[Change] = []
        self.replies: dict[str, tuple[int, bytes]] = {}  # requestid -> first answer

    def now(self) -> str:
        return datetime.fromtimestamp(self.clock(), self.tz).isoformat(timespec="seconds")

    # -- lookups ------------------------------------------------------------------------

    def get(self, entity: str, oid: str) -> dict | None:
        """The object if it exists and is visible (not created earlier in the running batch)."""
        obj = self.objects[entity].get(str(oid))
        if obj is None:
            return None
        if self.visible_seq is not None and self._born[(entity, str(oid))] > self.visible_seq:
            return None
        return obj

    def read(self, entity: str, oid: str) -> dict:
        """A copy of the object, or Fault 610."""
        obj = self.get(entity, oid)
        if obj is None:
            raise QboFault(400, "610", "Object Not Found", NOT_FOUND_DETAIL)
        return copy.deepcopy(obj)

    def rows(self, entity: str) -> list[dict]:
        """Every object of ``entity`` in Id order (visible ones only)."""
        ids = sorted(self.objects[entity], key=lambda i: (len(i), i))
        return [copy.deepcopy(o) for o in (self.get(entity, i) for i in ids) if o is not None]

    def _ref(self, ref: Any, entity: str, field: str) -> None:
        value = ref.get("value") if isinstance(ref, dict) else None
        if value in (None, ""):
            raise required(f"{field}.value")
        target = self.get(entity, str(value))
        if target is None or target.get("Active") is False:
            raise QboFault(400, "2500", "Invalid Reference Id",
                           f"Invalid Reference Id : {entity} assigned to this transaction has been deleted. "
                           f"Before you can modify this transaction, you must restore {entity} {value}")

    # -- writes -------------------------------------------------------------------------

    def create(self, entity: str, body: dict) -> dict:
        """Create: Id, SyncToken "0", MetaData; the body is validated first."""
        if body.get("Id"):
            raise QboFault(400, "2010", "Request has invalid or unsupported property", "Id is not allowed on create")
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k not in _SYSTEM_FIELDS}
        self._prepare(entity, obj, own_id=None)
        self.seq += 1
        oid = str(self.seq)
        now = self.now()
        obj.update(Id=oid, SyncToken="0", domain="QBO", sparse=False,
                   MetaData={"CreateTime": now, "LastUpdatedTime": now})
        self.objects[entity][oid] = obj
        self._born[(entity, oid)] = self.seq
        self._log(entity, oid, "Create", now)
        if entity == "Bill":
            self._receive_linked_pos(obj)
        return copy.deepcopy(obj)

    def update(self, entity: str, body: dict) -> dict:
        """Sparse (``sparse: true``) or full update; a stale SyncToken -> Fault 5010."""
        oid = str(body.get("Id") or "")
        if not oid:
            raise required("Id")
        current = self.get(entity, oid)
        if current is None:
            raise QboFault(400, "610", "Object Not Found", NOT_FOUND_DETAIL)
        # A missing SyncToken is accepted, as QBO does: it defeats the check (reference §B.4).
        if "SyncToken" in body and str(body["SyncToken"]) != current["SyncToken"]:
            raise QboFault(400, "5010", "Stale Object Error", STALE_DETAIL)
        changes = {k: copy.deepcopy(v) for k, v in body.items() if k not in _SYSTEM_FIELDS}
        if entity == "PurchaseOrder":  # its links are the bills' to make: kept whatever the update says
            changes.pop("LinkedTxn", None)
        if body.get("sparse") is True:
            kept = {k: copy.deepcopy(v) for k, v in current.items() if k not in _SYSTEM_FIELDS}
            merged = {**kept, **changes}
        else:  # full update: writable fields left out are cleared
            merged = changes
            if entity == "PurchaseOrder" and current.get("LinkedTxn"):
                merged["LinkedTxn"] = copy.deepcopy(current["LinkedTxn"])
        self._prepare(entity, merged, own_id=oid)
        now = self.now()
        merged.update(Id=oid, SyncToken=str(int(current["SyncToken"]) + 1), domain="QBO", sparse=False,
                      MetaData={"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": now})
        self.objects[entity][oid] = merged
        self._log(entity, oid, "Update", now)
        return copy.deepcopy(merged)

    def _receive_linked_pos(self, bill: dict) -> None:
        """A bill linked to purchase orders receives them: in the header's ``LinkedTxn`` (the
        whole PO) or a line's (``TxnLineId``: that PO line). Each PO lists the bill in its own
        ``LinkedTxn`` and turns ``POStatus`` Closed once the bill covers it whole (header link, or
        every line linked), as QBO shows a PO billed in full; a change of the PO (SyncToken + 1,
        logged)."""
        whole = {str(t.get("TxnId")) for t in bill.get("LinkedTxn") or [] if t.get("TxnType") == "PurchaseOrder"}
        lines: dict[str, set[str]] = {}
        for line in bill.get("Line") or []:
            for t in line.get("LinkedTxn") or []:
                if t.get("TxnType") == "PurchaseOrder":
                    lines.setdefault(str(t.get("TxnId")), set()).add(str(t.get("TxnLineId")))
        for po_id in sorted(whole | set(lines)):
            po = self.objects["PurchaseOrder"].get(po_id)
            if po is None:
                continue
            now = self.now()
            po.setdefault("LinkedTxn", []).append({"TxnId": bill["Id"], "TxnType": "Bill"})
            if po_id in whole or lines[po_id] >= {str(ln.get("Id")) for ln in po.get("Line") or []}:
                po["POStatus"] = "Closed"
            po.update(SyncToken=str(int(po["SyncToken"]) + 1), MetaData={**po["MetaData"], "LastUpdatedTime": now})
            self._log("PurchaseOrder", po_id, "Update", now)

    def delete(self, entity: str, body: dict) -> dict:
        """Delete a transaction, leaving a CDC stub; lists are deactivated instead."""
        if entity not in TRANSACTIONS:
            raise QboFault(400, "6000", "A business validation error has occurred while processing your request",
                           f"Business Validation Error: {entity} cannot be deleted; make it inactive instead")
        oid = str(body.get("Id") or "")
        current = self.get(entity, oid)
        if current is None:
            raise QboFault(400, "610", "Object Not Found", NOT_FOUND_DETAIL)
        if str(body.get("SyncToken")) != current["SyncToken"]:
            raise QboFault(400, "5010", "Stale Object Error", STALE_DETAIL)
        del self.objects[entity][oid]
        now = self.now()
        self.deleted[entity][oid] = now
        self._log(entity, oid, "Delete", now)
        return {"domain": "QBO", "status": "Deleted", "Id": oid}

    def void(self, entity: str, body: dict) -> dict:
        """Void an invoice (``operation=void``): QBO keeps it, under its number and customer, with
        every amount, quantity, TotalAmt and Balance zeroed and "Voided" in PrivateNote;
        SyncToken + 1, a ``Void`` change. Other entities answer a validation fault here."""
        if entity != "Invoice":
            raise QboFault(400, "6000", "A business validation error has occurred while processing your request",
                           f"Business Validation Error: {entity} cannot be voided through this operation")
        oid = str(body.get("Id") or "")
        current = self.get(entity, oid)
        if current is None:
            raise QboFault(400, "610", "Object Not Found", NOT_FOUND_DETAIL)
        if str(body.get("SyncToken")) != current["SyncToken"]:
            raise QboFault(400, "5010", "Stale Object Error", STALE_DETAIL)
        voided = copy.deepcopy(current)
        for line in voided.get("Line") or []:
            line["Amount"] = Decimal(0)
            detail = line.get("SalesItemLineDetail")
            if detail is not None:
                detail["Qty"] = Decimal(0)
        now = self.now()
        voided.update(TotalAmt=Decimal(0), Balance=Decimal(0), PrivateNote="Voided",
                      SyncToken=str(int(current["SyncToken"]) + 1),
                      MetaData={**current["MetaData"], "LastUpdatedTime": now})
        self.objects[entity][oid] = voided
        self._log(entity, oid, "Void", now)
        return copy.deepcopy(voided)

    def _log(self, entity: str, oid: str, operation: str, when: str) -> None:
        self.changes.append(Change(self.realm_id, entity, oid, operation, when, str(uuid.uuid4())))

    # -- validation and derived fields --------------------------------------------------

    def _prepare(self, entity: str, obj: dict, own_id: str | None) -> None:
        if entity in ("PurchaseOrder", "Bill"):
            self._ref(obj.get("VendorRef"), "Vendor", "VendorRef")
            if obj.get("APAccountRef") is not None:
                self._ref(obj["APAccountRef"], "Account", "APAccountRef")
            self._lines(obj, _EXPENSE_DETAILS)
            if entity == "PurchaseOrder":
                obj.setdefault("POStatus", "Open")
        elif entity == "Invoice":
            self._ref(obj.get("CustomerRef"), "Customer", "CustomerRef")
            self._lines(obj, ("SalesItemLineDetail", "DescriptionOnly", "DiscountLineDetail"))
            obj["Balance"] = obj["TotalAmt"]
        elif entity in ("Vendor", "Customer"):
            self._party(entity, obj, own_id)
        elif entity == "Item":
            self._named("Item", obj, own_id, "Name")
            obj.setdefault("Type", "NonInventory")
            obj.setdefault("Active", True)
        elif entity == "Account":
            self._named("Account", obj, own_id, "Name")
            if not obj.get("AccountType"):
                raise required("AccountType")
            obj.setdefault("Active", True)
        if entity in TRANSACTIONS and self.unique_docnumber and obj.get("DocNumber"):
            self._unique_docnumber(entity, obj["DocNumber"], own_id)

    def _lines(self, obj: dict, allowed: tuple[str, ...]) -> None:
        lines = [ln for ln in obj.get("Line") or [] if ln.get("DetailType") != "SubTotalLineDetail"]
        if not lines:
            raise required("Line")
        total = Decimal("0")
        for n, line in enumerate(lines, start=1):
            kind = line.get("DetailType")
            if kind not in allowed:
                raise QboFault(400, "2010", "Request has invalid or unsupported property",
                               f"Line {n}: DetailType {kind!r} is not supported here")
            detail = line.get(kind) or {}
            for ref_field, entity in (("ItemRef", "Item"), ("AccountRef", "Account")):
                if ref_field in detail or ref_field in _REQUIRED_REFS.get(kind, ()):
                    self._ref(detail.get(ref_field), entity, f"Line.{kind}.{ref_field}")
            if kind != "DescriptionOnly":
                if line.get("Amount") is None:
                    raise required(f"Line {n} Amount")
                line["Amount"] = _money(line["Amount"], "Amount")
                total += line["Amount"] if kind != "DiscountLineDetail" else -line["Amount"]
            line["Id"], line["LineNum"] = str(n), n
        if "SalesItemLineDetail" in allowed:  # QBO appends a subtotal line to invoices
            lines.append({"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        obj["Line"], obj["TotalAmt"] = lines, total

    def _party(self, entity: str, obj: dict, own_id: str | None) -> None:
        if not obj.get("DisplayName"):
            given = " ".join(p for p in (obj.get("GivenName"), obj.get("FamilyName")) if p)
            obj["DisplayName"] = obj.get("CompanyName") or given
        if not obj.get("DisplayName"):
            raise required("DisplayName")
        name = str(obj["DisplayName"]).strip().lower()
        for other in ("Vendor", "Customer"):  # one namespace for vendors, customers, employees
            for oid, existing in self.objects[other].items():
                if str(existing.get("DisplayName", "")).strip().lower() == name and (other, oid) != (entity, own_id):
                    raise QboFault(400, "6240", "Duplicate Name Exists Error",
                                   "The name supplied already exists. : Another customer, vendor or employee is "
                                   f"already using this name. Please use a different name. Id={oid}")
        obj.setdefault("Active", True)
        obj.setdefault("Balance", Decimal("0"))

    def _named(self, entity: str, obj: dict, own_id: str | None, field: str) -> None:
        if not obj.get(field):
            raise required(field)
        name = str(obj[field]).strip().lower()
        for oid, existing in self.objects[entity].items():
            if str(existing.get(field, "")).strip().lower() == name and oid != own_id:
                raise QboFault(400, "6240", "Duplicate Name Exists Error",
                               f"The name supplied already exists. : Another {entity.lower()} is already "
                               f"using this name. Id={oid}")

    def _unique_docnumber(self, entity: str, doc_number: str, own_id: str | None) -> None:
        for oid, existing in self.objects[entity].items():
            if existing.get("DocNumber") == doc_number and oid != own_id:
                raise QboFault(400, "6140", "Duplicate Document Number Error",
                               f"Duplicate Document Number Error : You must specify a different number. "
                               f"This number has already been used. DocNumber={doc_number} is assigned to TxnId={oid}")

    # -- CDC ----------------------------------------------------------------------------

    def cdc(self, entities: list[str], since: datetime, cap: int = 1000) -> list[dict]:
        """The ``QueryResponse`` list of a CDC answer: changed objects in full, deleted ones as
        stubs, at most ``cap`` objects shared across all entities."""
        blocks, left = [], cap
        for entity in entities:
            changed = [o for o in self.rows(entity)
                       if datetime.fromisoformat(o["MetaData"]["LastUpdatedTime"]) >= since]
            gone = [{"domain": "QBO", "status": "Deleted", "Id": oid, "MetaData": {"LastUpdatedTime": when}}
                    for oid, when in self.deleted[entity].items() if datetime.fromisoformat(when) >= since]
            found = sorted(changed + gone, key=lambda o: o["MetaData"]["LastUpdatedTime"])[:left]
            left -= len(found)
            block: dict = {"startPosition": 1, "maxResults": len(found)}
            if found:
                block[entity] = found
            blocks.append(block)
        return blocks

