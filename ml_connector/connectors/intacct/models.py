"""Sage Intacct records we write and read, as pydantic models with Decimal money."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import IntegrationError


class IntacctModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApBillLine(IntacctModel):
    """One APBILLITEM: a GL account, an amount and the cost-center dimensions."""

    account_no: str
    amount: Decimal
    memo: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    class_id: str | None = None
    item_id: str | None = None


class ApBill(IntacctModel):
    """An APBILL, written with the generic ``create`` function."""

    vendor_id: str
    record_id: str = Field(description="The bill number (RECORDID); our natural key in Intacct.")
    when_created: date
    when_due: date
    # Set only when a closed period moves the bill's GL date (tenant posting_date), and left out
    # of dumps: a bill's content is its document's, whichever period takes it.
    when_posted: date | None = Field(default=None, exclude=True,
                                     description="The GL posting date (WHENPOSTED); the bill date when None.")
    doc_number: str | None = Field(default=None, description="The PO or shipment reference (DOCNUMBER).")
    description: str | None = None
    currency: str | None = None
    lines: tuple[ApBillLine, ...] = Field(min_length=1)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class ArInvoiceLine(IntacctModel):
    amount: Decimal
    memo: str | None = None
    account_no: str | None = None
    item_id: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


class ArInvoice(IntacctModel):
    """An ARINVOICE as read back from Intacct (``readByQuery``)."""

    record_no: str
    record_id: str = Field(description="The invoice number.")
    customer_id: str
    when_created: date
    when_due: date | None = None
    when_modified: datetime
    po_number: str | None = None
    currency: str | None = None
    total: Decimal
    state: str | None = None
    lines: tuple[ArInvoiceLine, ...] = ()


class Function(BaseModel):
    """One ``<function>`` of a request: its controlid and the already-built body element.

    The body is serialized XML (bytes) rather than an lxml element so that a Function pickles
    cleanly into Prefect task results.
    """

    model_config = ConfigDict(frozen=True)

    controlid: str = Field(max_length=256)
    body: bytes


class FunctionResult(BaseModel):
    """What Intacct said about one function: success with its keys, or a typed error."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    controlid: str
    function: str
    ok: bool
    key: str | None = Field(default=None, description="RECORDNO (generic) or <key> (legacy) of the record written.")
    records: list[dict] = []
    list_type: str | None = Field(default=None, description="The data listtype: 'objects', 'arinvoice', 'APBILL'...")
    count: int | None = None
    total_count: int | None = None
    num_remaining: int | None = None
    result_id: str | None = None
    error: IntegrationError | None = None


class SoLine(IntacctModel):
    """One ``sotransitem`` of a sales order (Order Entry)."""

    item_id: str
    quantity: Decimal
    price: Decimal | None = None
    unit: str | None = None
    memo: str | None = None
    location_id: str | None = None
    department_id: str | None = None


class SoTransaction(IntacctModel):
    """An Order Entry transaction (SODOCUMENT), created with legacy ``create_sotransaction``;
    Intacct keys it by DOCID, ``<transaction_type>-<document_no>``."""

    transaction_type: str = Field(min_length=1, description="The transaction definition, e.g. 'Sales Order'.")
    date_created: date
    customer_id: str
    document_no: str
    reference_no: str | None = Field(default=None, description="The customer's PO number.")
    date_due: date | None = None
    message: str | None = None
    currency: str | None = None
    lines: tuple[SoLine, ...] = Field(min_length=1)

    @property
    def doc_id(self) -> str:
        return f"{self.transaction_type}-{self.document_no}"
