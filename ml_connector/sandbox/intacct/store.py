"""The Intacct sandbox company: its records, the rules of generic ``create``, and seeding.

Records are kept the way the gateway renders them: a dict of UPPERCASE field -> text (empty
text for null), line items apart. RECORDNOs come from one sequence and are never reused, even
after a rollback, as in a real database.

Other modules register objects here (``FIELDS``, ``ID_FIELD``, ``ITEMS``, ``LINE_FIELDS``), generic
creators (``CREATORS``) and what removing a record must undo (``ON_REMOVE``: a payment gives the
invoices their due back, an inventory transaction its quantities), so a rollback is always
"remove the records created", whatever they changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ...connectors.intacct._xml import DATE_FORMAT, DATETIME_FORMAT, format_value, to_record

# Every record also carries the entity that owns it ("" = top level), after its own fields.
ENTITY_FIELDS = ("MEGAENTITYID", "MEGAENTITYNAME")
_HEADER = ("RECORDNO", "STATE", "WHENCREATED", "WHENDUE", "WHENMODIFIED", "DOCNUMBER", "DESCRIPTION",
           "CURRENCY", "TOTALENTERED", "TRX_TOTALENTERED", "TOTALDUE", "TRX_TOTALDUE")
# The contact of a vendor or customer, flattened with dots as readByQuery names it.
_CONTACT = tuple(f"DISPLAYCONTACT.{name}" for name in (
    "PRINTAS", "COMPANYNAME", "FIRSTNAME", "LASTNAME", "EMAIL1", "PHONE1", "MAILADDRESS.ADDRESS1",
    "MAILADDRESS.ADDRESS2", "MAILADDRESS.CITY", "MAILADDRESS.STATE", "MAILADDRESS.ZIP", "MAILADDRESS.COUNTRY",
    "MAILADDRESS.COUNTRYCODE"))
# object -> its readable fields, in the order the sandbox renders them
FIELDS: dict[str, tuple[str, ...]] = {
    "VENDOR": ("RECORDNO", "VENDORID", "NAME", "STATUS", "CURRENCY", "WHENCREATED", "WHENMODIFIED", "TERMNAME")
    + _CONTACT,
    "CUSTOMER": ("RECORDNO", "CUSTOMERID", "NAME", "STATUS", "CURRENCY", "WHENCREATED", "WHENMODIFIED", "TERMNAME",
                 "CREDITLIMIT") + _CONTACT,
    "APBILL": ("RECORDNO", "RECORDID", "VENDORID", "VENDORNAME") + _HEADER[1:],
    "ARINVOICE": ("RECORDNO", "RECORDID", "CUSTOMERID", "CUSTOMERNAME") + _HEADER[1:] + ("TOTALPAID", "TRX_TOTALPAID"),
}
ID_FIELD = {"VENDOR": "VENDORID", "CUSTOMER": "CUSTOMERID", "APBILL": "RECORDID", "ARINVOICE": "RECORDID"}
# object -> (items container, row tag): what ``read`` adds to a record
ITEMS = {"APBILL": ("APBILLITEMS", "apbillitem"), "ARINVOICE": ("ARINVOICEITEMS", "arinvoiceitem")}
ITEM_FIELDS = ("RECORDNO", "LINE_NO", "ACCOUNTNO", "AMOUNT", "TRX_AMOUNT", "ENTRYDESCRIPTION",
               "LOCATIONID", "DEPARTMENTID", "CLASSID", "ITEMID")
LINE_FIELDS: dict[str, tuple[str, ...]] = {}  # object -> line fields beyond ITEM_FIELDS
# object -> creator(store, element, values, entity) -> (values, line rows): generic create of it
CREATORS: dict[str, Callable[..., tuple[dict, list[dict]]]] = {}
ON_REMOVE: dict[str, Callable[..., None]] = {}  # object -> hook(store, record, lines) before removal
MASTER_OBJECTS = frozenset({"VENDOR", "CUSTOMER", "ITEM"})
DIMENSIONS = {"department": "DEPARTMENTID", "location": "LOCATIONID", "class": "CLASSID"}
CENT = Decimal("0.01")
PERIOD_CLOSED = "PERIOD_CLOSED"  # synthetic: Intacct's errorno for a closed period is not published


class FunctionFailure(Exception):
    """A function-level failure: becomes ``<result><status>failure</status>`` with these errors."""

    def __init__(self, description2: str, *, errorno: str = "BL01001973", description: str = "",
                 correction: str = "") -> None:
        super().__init__(description2)
        self.errors = [(errorno, description, description2, correction)]


class Store:
    """Records by object, GL accounts and dimensions. Not thread-safe: the emulator's lock is."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, str]]] = {name: {} for name in FIELDS}
        self.items: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.controlids: dict[tuple[str, str], str] = {}
        self.gl_accounts: set[str] = set()
        self.dimensions: dict[str, set[str]] = {kind: set() for kind in DIMENSIONS}
        self.custom_fields: dict[str, list[str]] = {}  # object -> declared custom field names
        self.entities: dict[str, str] = {}  # entity id -> name; not empty = a multi-entity company
        self.location_entity: dict[str, str] = {}  # location id -> the entity it belongs to
        self.warehouses: dict[str, str] = {}  # warehouse id -> its entity ("" = top level)
        self.ic_definitions: dict[str, int] = {}  # inventory transaction definition -> +1 / -1 on hand
        self.allow_negative_inventory = False
        self.closed_periods: set[tuple[int, int]] = set()  # (year, month) of closed GL periods
        self._recordno = 1000

    def fields(self, object_name: str) -> tuple[str, ...]:
        """The readable fields of ``object_name``: its own, the owning entity, its custom fields."""
        return FIELDS[object_name] + ENTITY_FIELDS + tuple(self.custom_fields.get(object_name, ()))

    def next_recordno(self) -> str:
        self._recordno += 1
        return str(self._recordno)

    # -- records -------------------------------------------------------------------------

    def insert(self, object_name: str, values: dict[str, Any], items: Iterable[dict[str, Any]] = ()) -> str:
        """Add a record (missing fields render empty) and its line items; returns its RECORDNO."""
        recordno = self.next_recordno()
        record = {name: "" for name in self.fields(object_name)}
        record.update({k: _text(v) for k, v in values.items() if k in record})
        record["RECORDNO"] = recordno
        self.tables.setdefault(object_name, {})[recordno] = record
        line_fields = ITEM_FIELDS + LINE_FIELDS.get(object_name, ())
        rows = [{name: _text(row.get(name)) for name in line_fields} for row in items]
        for number, row in enumerate(rows, start=1):
            row.update(RECORDNO=self.next_recordno(), LINE_NO=str(number))
        if object_name in ITEMS:
            self.items[(object_name, recordno)] = rows
        return recordno

    def remove(self, object_name: str, recordno: str) -> None:
        """Undo an insert (transaction rollback), with what the record changed elsewhere."""
        record = self.tables[object_name].get(recordno)
        if record is not None and object_name in ON_REMOVE:
            ON_REMOVE[object_name](self, record, self.items.get((object_name, recordno), []))
        self.tables[object_name].pop(recordno, None)
        self.items.pop((object_name, recordno), None)
        self.controlids.pop((object_name, recordno), None)

    def records(self, object_name: str) -> list[dict[str, str]]:
        return list(self.tables.get(object_name, {}).values())

    def visible(self, object_name: str, entity: str) -> list[dict[str, str]]:
        """What a session sees: the top level sees every record; an entity session sees its own
        records plus the top level's master data (vendors, customers, items), not the top
        level's transactions (private-entity and sharing options are not modelled)."""
        records = self.records(object_name)
        if not entity:
            return records
        shared = ("", entity) if object_name in MASTER_OBJECTS else (entity,)
        return [r for r in records if r.get("MEGAENTITYID", "") in shared]

    def find(self, object_name: str, value: str) -> dict[str, str] | None:
        """The record whose ID field (VENDORID, CUSTOMERID, RECORDID) is ``value``."""
        field = ID_FIELD[object_name]
        return next((r for r in self.tables.get(object_name, {}).values() if r[field] == value), None)

    def bill_counts(self) -> dict[str, int]:
        return dict(Counter(r["RECORDID"] for r in self.tables["APBILL"].values()))

    # -- generic create ------------------------------------------------------------------

    def create(self, element: etree._Element, now: datetime, controlid: str,
               entity: str = "") -> tuple[str, str, str]:
        """Validate and insert one ``<create>`` object; returns (object, RECORDNO, id value).
        ``entity`` is the session's entity ("" = top level): it owns the record."""
        object_name = element.tag
        if object_name not in ("VENDOR", "CUSTOMER", "APBILL") and object_name not in CREATORS:
            raise FunctionFailure(f"The sandbox cannot create {object_name} with the generic create.",
                                  description="Object definition not supported")
        values = {k: v for k, v in flatten(to_record(element)).items()}
        stamp = now.strftime(DATETIME_FORMAT)
        if object_name == "APBILL":
            values, items = self._apbill(element, values, entity)
        elif object_name in CREATORS:
            values, items = CREATORS[object_name](self, element, values, entity)
        else:
            self._party(object_name, values)
            items = []
        values.setdefault("WHENCREATED", now.strftime(DATE_FORMAT))
        values["WHENMODIFIED"] = stamp
        values.update(MEGAENTITYID=entity, MEGAENTITYNAME=self.entities.get(entity, ""))
        recordno = self.insert(object_name, values, items)
        self.controlids[(object_name, recordno)] = controlid
        return object_name, recordno, values.get(ID_FIELD[object_name]) or recordno

    def _party(self, object_name: str, values: dict[str, str]) -> None:
        id_field = ID_FIELD[object_name]
        if not values.get(id_field):
            raise FunctionFailure(f"{id_field} is required (the sandbox does not auto-number).",
                                  description="Required field missing")
        if not values.get("NAME"):
            raise FunctionFailure(f"{object_name.title()} Name is required for create.")
        if self.find(object_name, values[id_field]) is not None:
            raise FunctionFailure(f"Another {object_name.title()} with the given value(s) "
                                  f"{values[id_field]} already exists", description="Duplicate record")
        values.setdefault("STATUS", "active")

    def _apbill(self, element: etree._Element, values: dict[str, str], entity: str) -> tuple[dict, list[dict]]:
        vendor = self.find("VENDOR", values.get("VENDORID", ""))
        if vendor is None:
            raise FunctionFailure(f"Invalid Vendor '{values.get('VENDORID', '')}' specified.",
                                  correction="Use the VENDORID of an existing vendor.")
        for name in ("WHENCREATED", "WHENDUE") + (("WHENPOSTED",) if values.get("WHENPOSTED") else ()):
            _check_date(name, values.get(name, ""))
        rows = [{k: v for k, v in to_record(row).items() if isinstance(v, str)}
                for row in element.findall("APBILLITEMS/APBILLITEM")]
        if not rows:
            raise FunctionFailure("A bill needs at least one line (APBILLITEMS/APBILLITEM).")
        for number, row in enumerate(rows, start=1):
            self._bill_line(number, row)
            check_line_location(self, entity, number, row.get("LOCATIONID", ""))
        check_open(self, gl_date(values))
        total = format(sum((Decimal(r["TRX_AMOUNT"]) for r in rows), Decimal("0")), "f")
        values.update(VENDORNAME=vendor["NAME"], STATE="Posted", TOTALENTERED=total, TRX_TOTALENTERED=total,
                      TOTALDUE=total, TRX_TOTALDUE=total)
        values.setdefault("CURRENCY", "USD")
        return values, rows

    def _bill_line(self, number: int, row: dict[str, str]) -> None:
        account = row.get("ACCOUNTNO", "")
        if account not in self.gl_accounts:
            raise FunctionFailure(f"Line {number}: invalid GL account '{account}' (ACCOUNTNO).",
                                  correction="Use ACCOUNTNO with an existing GL account number.")
        try:
            amount = Decimal(row.get("TRX_AMOUNT", ""))
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise FunctionFailure(f"Line {number}: TRX_AMOUNT is required and must be a number.") from None
        row["TRX_AMOUNT"] = row["AMOUNT"] = format(amount.quantize(CENT, ROUND_HALF_UP), "f")
        for kind, field in DIMENSIONS.items():
            known = self.dimensions[kind]
            if row.get(field) and known and row[field] not in known:
                raise FunctionFailure(f"Line {number}: invalid {kind} '{row[field]}' ({field}).")


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A generic-create object as readByQuery names its fields: nested elements joined with dots
    (``DISPLAYCONTACT.MAILADDRESS.CITY``); lists of rows (line items) are left out."""
    out: dict[str, str] = {}
    for name, value in record.items():
        if isinstance(value, str):
            out[prefix + name] = value
        elif isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{name}."))
    return out


def check_line_location(store: Store, entity: str, number: int, location: str) -> None:
    """Multi-entity rules for a line's LOCATIONID (reference §7): required once the company has
    entities, and inside an entity session it must be that entity or one of its locations."""
    if not store.entities:
        return
    if not location:
        raise FunctionFailure(f"Line {number}: LOCATIONID is required in a multi-entity company.",
                              description="Required field missing", correction="Give every line a location.")
    owner = store.location_entity.get(location)
    if owner is None:
        raise FunctionFailure(f"Line {number}: invalid location '{location}' (LOCATIONID).")
    if entity and owner != entity:
        raise FunctionFailure(f"Line {number}: location '{location}' belongs to entity '{owner}', "
                              f"not to the entity of this session '{entity}'.", description="Invalid location")


def check_open(store: Store, day: date | None) -> None:
    """Fail the function when ``day`` is in a closed period."""
    if day is not None and (day.year, day.month) in store.closed_periods:
        raise FunctionFailure(
            f"Your transaction date ({day.strftime(DATE_FORMAT)}) is within a period that's been closed. You can "
            "add, modify, or delete a transaction only if the date of the transaction is within a period that's open.",
            errorno=PERIOD_CLOSED, description="Periods are closed.")


def gl_date(values: dict[str, str]) -> date | None:
    """The GL posting date of a bill's values: WHENPOSTED, else WHENCREATED."""
    for name in ("WHENPOSTED", "WHENCREATED"):
        if values.get(name):
            try:
                return datetime.strptime(values[name], DATE_FORMAT).date()
            except ValueError:
                return None
    return None


def _check_date(name: str, value: str) -> None:
    try:
        datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        raise FunctionFailure(f"{name} is required, as mm/dd/yyyy (got '{value}').",
                              description="Invalid date") from None


def _text(value: Any) -> str:
    return "" if value is None else format_value(value)


def ar_invoice_row(line: Any) -> dict[str, Any]:
    """An ARINVOICEITEM row from an ``ArInvoiceLine`` or a mapping (seeding)."""
    get = line.get if isinstance(line, Mapping) else (lambda name, default=None: getattr(line, name, default))
    amount = get("amount")
    if amount is None:
        amount = Decimal(get("quantity")) * Decimal(get("unit_price"))
    amount = format(Decimal(amount).quantize(CENT, ROUND_HALF_UP), "f")
    return {"ACCOUNTNO": get("account_no"), "TRX_AMOUNT": amount, "AMOUNT": amount,
            "ENTRYDESCRIPTION": get("memo"), "ITEMID": get("item_id")}


def naive_utc(moment: datetime) -> datetime:
    """Intacct timestamps have no zone; the sandbox keeps UTC wall time."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
