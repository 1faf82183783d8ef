"""RSX 7.7 documents as pydantic models, shaped like the RSX tree itself.

Field aliases are the RSX element names, so the JSON form validates as is and the XML form
validates after the codec turns elements into the same nested dicts. Money and quantities
are ``Decimal``; unknown RSX groups are ignored rather than rejected, because partners send
far more than we map.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal


class Rsx(BaseModel):
    # coerce_numbers_to_str: JSON partners send codes such as Vendor or AddressLocationNumber as
    # numbers now and then; the value is the same, so accept it rather than quarantine the file.
    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="ignore", frozen=False, coerce_numbers_to_str=True
    )


class Meta(Rsx):
    """SPS's envelope block: the X12 control numbers and batch details of a translated document."""

    sender_unique_id: str | None = Field(default=None, alias="SenderUniqueID")
    sender_company_name: str | None = None
    receiver_unique_id: str | None = Field(default=None, alias="ReceiverUniqueID")
    receiver_company_name: str | None = None
    is_drop_ship: bool | None = None
    interchange_control_number: str | None = None
    group_control_number: str | None = None
    document_control_number: str | None = None
    batch_part: str | None = None
    batch_total: int | None = None
    batch_id: str | None = Field(default=None, alias="BatchID")
    order_management: str | None = None
    version: str | None = None


class Address(Rsx):
    address_type_code: str
    location_code_qualifier: str | None = None
    address_location_number: str | None = None
    address_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class DateEntry(Rsx):
    date_time_qualifier: str
    date: date


class Reference(Rsx):
    reference_qual: str
    reference_id: str = Field(alias="ReferenceID")
    description: str | None = None


class Note(Rsx):
    note_code: str | None = None
    # Older RSX maps call the text NoteInformationField; read both, always write Note.
    note: str = Field(
        validation_alias=AliasChoices("Note", "NoteInformationField"), serialization_alias="Note", alias="Note"
    )


class PaymentTerms(Rsx):
    terms_type: str | None = None
    terms_net_due_days: int | None = None
    terms_discount_percentage: Decimal | None = None
    terms_discount_due_days: int | None = None
    terms_description: str | None = None


class ChargeAllowance(Rsx):
    allow_chrg_indicator: Literal["A", "C"]
    allow_chrg_code: str | None = None
    allow_chrg_amt: Decimal
    allow_chrg_handling_description: str | None = None


class ProductDescription(Rsx):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")
    product_characteristic_code: str | None = None
    product_description: str | None = None


class ItemIds(Rsx):
    """The identifiers every RSX line carries; the item cross-reference matches on these."""

    line_sequence_number: str | None = None
    buyer_part_number: str | None = None
    vendor_part_number: str | None = None
    consumer_package_code: str | None = None
    gtin: str | None = Field(default=None, alias="GTIN")


# --- Order (850) and OrderAck (855) -------------------------------------------------------


class OrderHeader(Rsx):
    trading_partner_id: str
    purchase_order_number: str
    tset_purpose_code: str = "00"
    primary_p_o_type_code: str | None = Field(default=None, alias="PrimaryPOTypeCode")
    purchase_order_date: date
    buyers_currency: str | None = None
    department: str | None = None
    vendor: str | None = None
    customer_order_number: str | None = None
    acknowledgement_type: str | None = None
    acknowledgement_date: date | None = None


class OrderLine(ItemIds):
    order_qty: Decimal
    order_qty_u_o_m: str = Field(default="EA", alias="OrderQtyUOM")
    purchase_price: Decimal


class LineItemAcknowledgement(Rsx):
    item_status_code: str
    item_schedule_qty: Decimal | None = None
    item_schedule_u_o_m: str | None = Field(default=None, alias="ItemScheduleUOM")


class OrderLineItem(Rsx):
    order_line: OrderLine
    product_or_item_description: list[ProductDescription] = []
    charges_allowances: list[ChargeAllowance] = []
    line_item_acknowledgement: list[LineItemAcknowledgement] = []


class Header(Rsx):
    payment_terms: list[PaymentTerms] = []
    dates: list[DateEntry] = []
    address: list[Address] = []
    references: list[Reference] = []
    notes: list[Note] = []
    charges_allowances: list[ChargeAllowance] = []


class OrderDocHeader(Header):
    order_header: OrderHeader


class Summary(Rsx):
    total_amount: Decimal | None = None
    total_sales_amount: Decimal | None = None
    total_line_item_number: int | None = None


class RsxOrder(Rsx):
    """An RSX Order (X12 850); an OrderAck (855) has the same shape plus acknowledgements."""

    meta: Meta | None = None
    header: OrderDocHeader
    line_item: list[OrderLineItem] = Field(min_length=1)
    summary: Summary = Summary()


class RsxOrderAck(RsxOrder):
    pass


# --- Invoice (810) ------------------------------------------------------------------------


class InvoiceHeader(Rsx):
    trading_partner_id: str
    invoice_number: str
    invoice_date: date
    purchase_order_number: str | None = None
    purchase_order_date: date | None = None
    invoice_type_code: str | None = None
    tset_purpose_code: str = "00"
    buyers_currency: str | None = None
    department: str | None = None
    vendor: str | None = None


class InvoiceLine(ItemIds):
    invoice_qty: Decimal
    invoice_qty_u_o_m: str = Field(default="EA", alias="InvoiceQtyUOM")
    purchase_price: Decimal
    extended_item_total: Decimal | None = None


class InvoiceLineItem(Rsx):
    invoice_line: InvoiceLine
    product_or_item_description: list[ProductDescription] = []
    charges_allowances: list[ChargeAllowance] = []


class InvoiceDocHeader(Header):
    invoice_header: InvoiceHeader


class RsxInvoice(Rsx):
    """An RSX Invoice (X12 810)."""

    meta: Meta | None = None
    header: InvoiceDocHeader
    line_item: list[InvoiceLineItem] = Field(min_length=1)
    summary: Summary = Summary()


# --- Shipment / ASN (856): Shipment > OrderLevel > PackLevel > ItemLevel ------------------


class ShipmentHeader(Rsx):
    trading_partner_id: str
    shipment_identification: str
    ship_date: date
    tset_purpose_code: str = "00"
    ship_notice_date: date | None = None
    a_s_n_structure_code: str | None = Field(default=None, alias="ASNStructureCode")
    bill_of_lading_number: str | None = None
    carrier_pro_number: str | None = None


class ShipmentLine(ItemIds):
    order_qty: Decimal | None = None
    order_qty_u_o_m: str | None = Field(default=None, alias="OrderQtyUOM")
    purchase_price: Decimal | None = None
    item_status_code: str | None = None
    ship_qty: Decimal
    ship_qty_u_o_m: str = Field(default="EA", alias="ShipQtyUOM")


class ItemLevel(Rsx):
    shipment_line: ShipmentLine
    product_or_item_description: list[ProductDescription] = []


class Pack(Rsx):
    pack_level_type: str | None = None
    shipping_serial_i_d: str | None = Field(default=None, alias="ShippingSerialID")


class PackLevel(Rsx):
    pack: Pack = Pack()
    item_level: list[ItemLevel] = []


class ShipmentOrderHeader(Rsx):
    purchase_order_number: str
    purchase_order_date: date | None = None
    vendor: str | None = None
    invoice_number: str | None = None


class OrderLevel(Rsx):
    order_header: ShipmentOrderHeader
    pack_level: list[PackLevel] = []
    # Some partners skip the pack level and hang items off the order level.
    item_level: list[ItemLevel] = []


class ShipmentDocHeader(Header):
    shipment_header: ShipmentHeader


class RsxShipment(Rsx):
    """An RSX Shipment / ASN (X12 856)."""

    meta: Meta | None = None
    header: ShipmentDocHeader
    order_level: list[OrderLevel] = Field(min_length=1)
    summary: Summary = Summary()

    def item_lines(self) -> list[tuple[OrderLevel, ShipmentLine]]:
        """Every shipped line with the order it belongs to, across packs."""
        out = []
        for order in self.order_level:
            for item in order.item_level:
                out.append((order, item.shipment_line))
            for pack in order.pack_level:
                out.extend((order, item.shipment_line) for item in pack.item_level)
        return out


RsxDocument = RsxOrder | RsxInvoice | RsxShipment

# doc type name used in the ledger and mapping file -> (model, plural root, singular element)
DOC_TYPES: dict[str, tuple[type[Rsx], str, str]] = {
    "order": (RsxOrder, "Orders", "Order"),
    "invoice": (RsxInvoice, "Invoices", "Invoice"),
    "shipment": (RsxShipment, "Shipments", "Shipment"),
    "orderack": (RsxOrderAck, "OrderAcks", "OrderAck"),
}


def natural_key(doc_type: str, doc: Rsx) -> tuple[str, str]:
    """(trading partner, document number): the application-level dedup key of an RSX document."""
    if isinstance(doc, RsxInvoice):
        invoice = doc.header.invoice_header
        return invoice.trading_partner_id, invoice.invoice_number
    if isinstance(doc, RsxShipment):
        shipment = doc.header.shipment_header
        return shipment.trading_partner_id, shipment.shipment_identification
    if isinstance(doc, RsxOrder):  # an OrderAck is an RsxOrder too
        order = doc.header.order_header
        return order.trading_partner_id, order.purchase_order_number
    raise TypeError(f"{type(doc).__name__} is not an RSX document with a number")
