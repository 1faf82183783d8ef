"""ANSI X12 as pydantic models: the envelope and the typed retail documents.

    Interchange (ISA/IEA) > FunctionalGroup (GS/GE) > TransactionSet (ST/SE) > Segment
    PurchaseOrder850, PoAck855, ShipNotice856, Invoice810, FunctionalAck997

The envelope models hold no counts (SE01, GE01, IEA01): the encoder computes them, so a model
cannot disagree with itself. A typed document maps each field in ``x12`` as ``"BEG05:DT"``
(segment BEG, element 05, kind DT). Kinds: (none) string, R decimal, N0 integer, N2 implied-
cents money, DT CCYYMMDD date, ids qualifier/value pairs from there on, list the remaining
elements. Money and quantities are ``Decimal``; unmapped segments stay in the raw set only.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# GS01 functional identifier for each set we know: a 997 echoes it in AK1.
FUNCTIONAL_IDS = {"850": "PO", "855": "PR", "856": "SH", "810": "IN", "997": "FA"}


class X12Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- envelope -----------------------------------------------------------------------------


class Separators(BaseModel):
    """The delimiters of one interchange, read from (and written into) its ISA."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    element: str = "*"
    component: str = ">"
    segment: str = "~"
    repetition: str | None = None  # ISA11 from 4020 on; None writes the 4010 standards id "U"
    suffix: Literal["", "\n", "\r\n"] = ""  # written after every terminator, for readable files

    @model_validator(mode="after")
    def _distinct(self) -> Separators:
        chars = [c for c in (self.element, self.component, self.segment, self.repetition) if c is not None]
        if any(len(c) != 1 or c.isalnum() or c == " " for c in chars) or len(set(chars)) != len(chars):
            raise ValueError(f"separators must be distinct single characters, not letters, digits or space: {chars!r}")
        if self.suffix and self.segment in "\r\n":
            raise ValueError("a newline suffix needs a segment terminator other than a newline")
        return self


class Segment(X12Model):
    """One segment; ``elements[0]`` is element 01. Repetitions stay unsplit inside a value."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,2}$")
    elements: list[str | list[str]] = []  # a composite element is split into its components

    def get(self, n: int) -> str:
        """Element ``n`` (1-based) as text, '' when absent; a composite gives its first component."""
        if n < 1 or n > len(self.elements):
            return ""
        value = self.elements[n - 1]
        return value[0] if isinstance(value, list) else value


class TransactionSet(X12Model):
    """One ST..SE set: its id, control number and the segments between ST and SE."""

    id: str = Field(pattern=r"^[0-9]{3}$")
    control_number: str = Field(pattern=r"^[A-Za-z0-9]{1,9}$")
    implementation: str | None = None  # ST03, 5010 implementation convention reference
    segments: list[Segment] = []


class FunctionalGroup(X12Model):
    """One GS..GE group of sets of one functional id (PO, IN, SH, PR, FA)."""

    functional_id: str = Field(pattern=r"^[A-Z]{2}$")
    app_sender: str = Field(min_length=1, max_length=15)
    app_receiver: str = Field(min_length=1, max_length=15)
    date: str = Field(pattern=r"^[0-9]{8}$")  # CCYYMMDD
    time: str = Field(pattern=r"^[0-9]{4,8}$")  # HHMM[SS[dd]]
    control_number: int = Field(ge=1, le=999_999_999)
    agency: str = "X"
    version: str = Field(default="004010", min_length=1, max_length=12)
    sets: list[TransactionSet] = []


class Interchange(X12Model):
    """One ISA..IEA interchange. ISA ids are stored without their padding."""

    auth_qualifier: str = Field(default="00", max_length=2)
    auth_info: str = Field(default="", max_length=10)
    security_qualifier: str = Field(default="00", max_length=2)
    security_info: str = Field(default="", max_length=10)
    sender_qualifier: str = Field(default="ZZ", min_length=1, max_length=2)
    sender_id: str = Field(min_length=1, max_length=15)
    receiver_qualifier: str = Field(default="ZZ", min_length=1, max_length=2)
    receiver_id: str = Field(min_length=1, max_length=15)
    date: str = Field(pattern=r"^[0-9]{6}$")  # YYMMDD
    time: str = Field(pattern=r"^[0-9]{4}$")  # HHMM
    version: str = Field(default="00401", pattern=r"^[0-9]{5}$")  # ISA12
    control_number: int = Field(ge=0, le=999_999_999)
    ack_requested: str = Field(default="0", pattern=r"^[0-9]$")
    usage: str = Field(default="P", pattern=r"^[A-Z]$")
    separators: Separators = Separators()
    groups: list[FunctionalGroup] = []


# --- pieces shared by the typed documents -------------------------------------------------


class ProductId(X12Model):
    """A qualifier/value pair of PO1, IT1 or LIN (UP = UPC, VN/VP = vendor part, BP/IN = buyer)."""

    qualifier: str = Field(min_length=1)
    value: str = Field(min_length=1)


class Reference(X12Model):
    x12: ClassVar = {"qualifier": "REF01", "value": "REF02", "description": "REF03"}
    qualifier: str
    value: str | None = None
    description: str | None = None


class DateRef(X12Model):
    x12: ClassVar = {"qualifier": "DTM01", "date": "DTM02:DT", "time": "DTM03"}
    qualifier: str
    date: dt.date | None = None
    time: str | None = None


class Party(X12Model):
    """An N1 loop: N1 entity and id, N3 street, N4 city/state/postal code/country."""

    x12: ClassVar = {"entity": "N101", "name": "N102", "id_qualifier": "N103", "id": "N104", "address1": "N301",
                     "address2": "N302", "city": "N401", "state": "N402", "postal_code": "N403", "country": "N404"}
    entity: str
    name: str | None = None
    id_qualifier: str | None = None
    id: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Header(X12Model):
    """What the 850, 855 and 810 headers share: currency, references, dates, parties."""

    currency: str | None = None  # CUR02, written with CUR01 = BY
    references: list[Reference] = []
    dates: list[DateRef] = []
    parties: list[Party] = []


def _line_map(seg: str) -> dict[str, str]:
    """PO1 and IT1 share their first elements: id, quantity, unit, price, basis, product ids."""
    return {"line_id": f"{seg}01", "quantity": f"{seg}02:R", "uom": f"{seg}03", "unit_price": f"{seg}04:R",
            "price_basis": f"{seg}05", "product_ids": f"{seg}06:ids", "description": "PID05"}


class OrderLine(X12Model):
    """A PO1 line (850, 855) with its free-form PID description."""

    x12: ClassVar = _line_map("PO1")
    line_id: str | None = None
    quantity: Decimal
    uom: str
    unit_price: Decimal | None = None
    price_basis: str | None = None
    product_ids: list[ProductId] = []
    description: str | None = None


# --- 850 Purchase Order and 855 PO Acknowledgment ----------------------------------------


class PurchaseOrder850(Header):
    set_id: ClassVar = "850"
    x12: ClassVar = {"purpose": "BEG01", "po_type": "BEG02", "po_number": "BEG03", "release": "BEG04",
                     "po_date": "BEG05:DT", "contract": "BEG06"}
    purpose: str = "00"
    po_type: str
    po_number: str
    release: str | None = None
    po_date: dt.date
    contract: str | None = None
    lines: list[OrderLine] = Field(min_length=1)


class LineAck(X12Model):
    x12: ClassVar = {"status": "ACK01", "quantity": "ACK02:R", "uom": "ACK03", "date_qualifier": "ACK04",
                     "date": "ACK05:DT"}
    status: str  # IA accepted, IR rejected, IB backordered, IQ quantity changed, ...
    quantity: Decimal | None = None
    uom: str | None = None
    date_qualifier: str | None = None
    date: dt.date | None = None


class AckLine(OrderLine):
    acks: list[LineAck] = []


class PoAck855(Header):
    set_id: ClassVar = "855"
    x12: ClassVar = {"purpose": "BAK01", "ack_type": "BAK02", "po_number": "BAK03", "po_date": "BAK04:DT",
                     "release": "BAK05", "contract": "BAK07", "seller_order_number": "BAK08", "ack_date": "BAK09:DT"}
    purpose: str = "00"
    ack_type: str  # AC with detail and change, AD detail no change, RJ rejected, ...
    po_number: str
    po_date: dt.date
    release: str | None = None
    contract: str | None = None
    seller_order_number: str | None = None
    ack_date: dt.date | None = None
    lines: list[AckLine] = []


# --- 856 Ship Notice: shipment > order > (tare >) pack > item -----------------------------


class ShipItem(X12Model):
    x12: ClassVar = {"line_id": "LIN01", "product_ids": "LIN02:ids", "quantity": "SN102:R", "uom": "SN103",
                     "description": "PID05"}
    line_id: str | None = None
    product_ids: list[ProductId] = []
    quantity: Decimal
    uom: str
    description: str | None = None


class Mark(X12Model):
    x12: ClassVar = {"qualifier": "MAN01", "number": "MAN02"}
    qualifier: str  # GM = SSCC-18, CP = carrier package id, ...
    number: str


class Pack(X12Model):
    """A P (pack/carton) or T (tare/pallet) level; a tare holds packs, a pack holds items."""

    level: Literal["P", "T"] = "P"
    marks: list[Mark] = []
    packs: list[Pack] = []
    items: list[ShipItem] = []


class ShipOrder(X12Model):
    x12: ClassVar = {"po_number": "PRF01", "release": "PRF02", "po_date": "PRF04:DT"}
    po_number: str
    release: str | None = None
    po_date: dt.date | None = None
    references: list[Reference] = []
    parties: list[Party] = []
    packs: list[Pack] = []
    items: list[ShipItem] = []  # pick-and-pack partners hang items straight off the order


class Packaging(X12Model):
    x12: ClassVar = {"packaging_code": "TD101", "lading_quantity": "TD102:N0", "weight_qualifier": "TD106",
                     "weight": "TD107:R", "weight_uom": "TD108"}
    packaging_code: str | None = None
    lading_quantity: int | None = None
    weight_qualifier: str | None = None
    weight: Decimal | None = None
    weight_uom: str | None = None


class Carrier(X12Model):
    x12: ClassVar = {"id_qualifier": "TD502", "scac": "TD503", "transport_method": "TD504", "routing": "TD505"}
    id_qualifier: str | None = None
    scac: str | None = None
    transport_method: str | None = None
    routing: str | None = None


class ShipNotice856(X12Model):
    set_id: ClassVar = "856"
    x12: ClassVar = {"purpose": "BSN01", "shipment_id": "BSN02", "date": "BSN03:DT", "time": "BSN04",
                     "structure_code": "BSN05"}
    purpose: str = "00"
    shipment_id: str
    date: dt.date
    time: str
    structure_code: str | None = None  # 0001 shipment/order/pack/item, 0002 shipment/order/item/pack
    packaging: list[Packaging] = []
    carrier: Carrier | None = None
    references: list[Reference] = []
    dates: list[DateRef] = []
    parties: list[Party] = []
    orders: list[ShipOrder] = Field(min_length=1)


# --- 810 Invoice --------------------------------------------------------------------------


class Terms(X12Model):
    x12: ClassVar = {"type_code": "ITD01", "basis_date_code": "ITD02", "discount_percent": "ITD03:R",
                     "discount_due_date": "ITD04:DT", "discount_days": "ITD05:N0", "net_due_date": "ITD06:DT",
                     "net_days": "ITD07:N0", "discount_amount": "ITD08:N2", "description": "ITD12"}
    type_code: str | None = None
    basis_date_code: str | None = None
    discount_percent: Decimal | None = None
    discount_due_date: dt.date | None = None
    discount_days: int | None = None
    net_due_date: dt.date | None = None
    net_days: int | None = None
    discount_amount: Decimal | None = None
    description: str | None = None


class InvoiceLine(OrderLine):
    """An IT1 line: a PO1 line whose unit price is mandatory."""

    x12: ClassVar = _line_map("IT1")
    unit_price: Decimal


class Charge(X12Model):
    """A summary SAC: allowance (A) or charge (C); SAC05 is implied-cents like TDS01."""

    x12: ClassVar = {"indicator": "SAC01", "code": "SAC02", "amount": "SAC05:N2", "description": "SAC15"}
    indicator: Literal["A", "C"]
    code: str | None = None
    amount: Decimal | None = None
    description: str | None = None


class Invoice810(Header):
    set_id: ClassVar = "810"
    x12: ClassVar = {"invoice_date": "BIG01:DT", "invoice_number": "BIG02", "po_date": "BIG03:DT",
                     "po_number": "BIG04", "release": "BIG05", "transaction_type": "BIG07", "purpose": "BIG08",
                     "total": "TDS01:N2"}
    invoice_date: dt.date
    invoice_number: str
    po_date: dt.date | None = None
    po_number: str | None = None
    release: str | None = None
    transaction_type: str | None = None  # CR credit memo, DI debit invoice, ...
    purpose: str | None = None  # BIG08 (element 353): 00 original, 01 cancellation, 05 replace; empty means original
    terms: Terms | None = None
    lines: list[InvoiceLine] = []  # the IT1 loop is optional in the standard: summary-only invoices
    total: Decimal  # TDS01: written in cents, TDS*10000 = 100.00
    charges: list[Charge] = []


# --- 997 Functional Acknowledgment --------------------------------------------------------

AckCode = Literal["A", "E", "M", "P", "R", "W", "X"]


class ElementNote(X12Model):
    x12: ClassVar = {"position": "AK401:N0", "reference": "AK402", "code": "AK403", "bad_value": "AK404"}
    position: int
    reference: str | None = None  # data element reference number, e.g. 330 quantity ordered
    code: str  # 1 missing, 4 too short, 5 too long, 6 invalid character, 7 invalid code, 8 date
    bad_value: str | None = None


class SegmentNote(X12Model):
    x12: ClassVar = {"segment_id": "AK301", "position": "AK302:N0", "loop_id": "AK303", "code": "AK304"}
    segment_id: str
    position: int  # within the set, ST = 1
    loop_id: str | None = None
    code: str | None = None  # 1 unrecognized, 2 unexpected, 3 mandatory missing, 8 element errors
    elements: list[ElementNote] = []


class SetResponse(X12Model):
    x12: ClassVar = {"set_id": "AK201", "control_number": "AK202", "status": "AK501", "codes": "AK502:list"}
    set_id: str
    control_number: str
    errors: list[SegmentNote] = []
    status: AckCode
    codes: list[str] = []


class FunctionalAck997(X12Model):
    set_id: ClassVar = "997"
    x12: ClassVar = {"functional_id": "AK101", "group_control_number": "AK102:N0", "version": "AK103",
                     "status": "AK901", "included": "AK902:N0", "received": "AK903:N0", "accepted": "AK904:N0",
                     "codes": "AK905:list"}
    functional_id: str
    group_control_number: int
    version: str | None = None
    responses: list[SetResponse] = []
    status: AckCode
    included: int
    received: int
    accepted: int
    codes: list[str] = []


Document = PurchaseOrder850 | PoAck855 | ShipNotice856 | Invoice810 | FunctionalAck997
