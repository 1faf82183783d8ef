"""Builders of one realistic RSX Order, Invoice or Shipment, for the seeded generator.

Each builder draws only from the ``random.Random`` it is given, so a seed fixes every byte.
Amounts are Decimal and internally consistent: line totals, allowances and charges add up to
the summary, which is what a reconciliation test wants to check.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ..connectors.sps.models import RsxInvoice, RsxOrder, RsxShipment
from .catalogue import ItemSpec, PartnerSpec, gs1_check_digit

CENT = Decimal("0.01")
_CITIES = [("Minneapolis", "MN", "55402"), ("Chicago", "IL", "60601"), ("Denver", "CO", "80202"),
           ("Atlanta", "GA", "30303"), ("Columbus", "OH", "43215"), ("Phoenix", "AZ", "85004")]
_STREETS = ["Energy Park Drive", "S 7th Street", "Commerce Way", "Industrial Blvd", "Market Street"]
_CARRIERS = ["UPSN", "FDEG", "RDWY", "ODFL"]


@dataclass(frozen=True)
class OrderRecord:
    """What later invoices and shipments need to know about an order issued earlier."""

    number: str
    order_date: date
    lines: tuple[tuple[ItemSpec, Decimal], ...]  # (item, quantity)


def _address(rng: random.Random, code: str, name: str) -> dict:
    city, state, postal = rng.choice(_CITIES)
    return {"AddressTypeCode": code, "LocationCodeQualifier": "92",
            "AddressLocationNumber": f"{rng.randint(1, 9999):04d}", "AddressName": name,
            "Address1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}", "City": city, "State": state,
            "PostalCode": postal, "Country": "USA"}


def _item_ids(item: ItemSpec, seq: int) -> dict:
    return {"LineSequenceNumber": str(seq), "BuyerPartNumber": item.buyer_part,
            "VendorPartNumber": item.vendor_part, "ConsumerPackageCode": item.upc}


def _describe(item: ItemSpec) -> list[dict]:
    return [{"ProductCharacteristicCode": "08", "ProductDescription": item.description}]


def build_order(rng: random.Random, partner: PartnerSpec, number: str, day: date,
                items: list[ItemSpec]) -> tuple[RsxOrder, OrderRecord]:
    """An Order of 1-8 lines from ``items``, and the record later documents refer to."""
    chosen = rng.sample(items, k=min(len(items), rng.randint(1, 8)))
    lines = tuple((item, Decimal(rng.choice([1, 2, 3, 4, 5, 6, 10, 12, 24, 48]))) for item in chosen)
    total = sum((qty * item.unit_price for item, qty in lines), Decimal("0"))
    header = {
        "OrderHeader": {"TradingPartnerId": partner.partner_id, "PurchaseOrderNumber": number,
                        "TsetPurposeCode": "00", "PrimaryPOTypeCode": rng.choice(["SA", "SA", "SA", "DS", "RL"]),
                        "PurchaseOrderDate": day, "BuyersCurrency": "USD",
                        "Department": f"{rng.randint(1, 40):03d}", "Vendor": partner.vendor},
        "PaymentTerms": [{"TermsType": "01", "TermsNetDueDays": 30, "TermsDescription": "Net 30"}],
        "Dates": [{"DateTimeQualifier": "010", "Date": day + timedelta(days=rng.randint(3, 14))}],
        "Address": [_address(rng, "ST", f"{partner.name} store {rng.randint(1, 400):04d}"),
                    _address(rng, "BT", f"{partner.name} accounts payable")],
    }
    line_items = [
        {"OrderLine": {**_item_ids(item, seq), "OrderQty": qty, "OrderQtyUOM": "EA", "PurchasePrice": item.unit_price},
         "ProductOrItemDescription": _describe(item)}
        for seq, (item, qty) in enumerate(lines, 1)
    ]
    summary = {"TotalAmount": total.quantize(CENT), "TotalLineItemNumber": len(lines)}
    order = RsxOrder.model_validate({"Header": header, "LineItem": line_items, "Summary": summary})
    return order, OrderRecord(number, day, lines)


def _charges(rng: random.Random, sales: Decimal) -> list[dict]:
    out = []
    if rng.random() < 0.5:
        out.append({"AllowChrgIndicator": "C", "AllowChrgCode": "D240",
                    "AllowChrgAmt": Decimal(rng.randint(500, 4500)) / 100, "AllowChrgHandlingDescription": "Freight"})
    if rng.random() < 0.4:
        out.append({"AllowChrgIndicator": "A", "AllowChrgCode": "C310",
                    "AllowChrgAmt": (sales * Decimal("0.02")).quantize(CENT),
                    "AllowChrgHandlingDescription": "Promotional allowance 2%"})
    return out


def build_invoice(rng: random.Random, partner: PartnerSpec, number: str, day: date,
                  order: OrderRecord) -> RsxInvoice:
    """An Invoice for ``order``, with payment terms and sometimes freight and an allowance."""
    day = max(day, order.order_date + timedelta(days=rng.randint(1, 10)))
    lines = []
    for seq, (item, qty) in enumerate(order.lines, 1):
        billed = qty if rng.random() < 0.9 else max(Decimal(1), qty - 1)  # now and then a short shipment
        lines.append({"InvoiceLine": {**_item_ids(item, seq), "InvoiceQty": billed, "InvoiceQtyUOM": "EA",
                                      "PurchasePrice": item.unit_price,
                                      "ExtendedItemTotal": (billed * item.unit_price).quantize(CENT)},
                      "ProductOrItemDescription": _describe(item)})
    sales = sum((li["InvoiceLine"]["ExtendedItemTotal"] for li in lines), Decimal("0"))
    charges = _charges(rng, sales)
    signed = sum((c["AllowChrgAmt"] if c["AllowChrgIndicator"] == "C" else -c["AllowChrgAmt"] for c in charges),
                 Decimal("0"))
    header = {
        "InvoiceHeader": {"TradingPartnerId": partner.partner_id, "InvoiceNumber": number, "InvoiceDate": day,
                          "PurchaseOrderNumber": order.number, "PurchaseOrderDate": order.order_date,
                          "InvoiceTypeCode": "DR", "BuyersCurrency": "USD", "Vendor": partner.vendor},
        "PaymentTerms": [{"TermsType": "08", "TermsDiscountPercentage": Decimal("2"), "TermsDiscountDueDays": 10,
                          "TermsNetDueDays": 30, "TermsDescription": "2% 10 Net 30"}],
        "Address": [_address(rng, "RI", "Remit to: Sandbox Supplier Inc"), _address(rng, "ST", partner.name)],
        "ChargesAllowances": charges,
    }
    summary = {"TotalAmount": sales + signed, "TotalSalesAmount": sales, "TotalLineItemNumber": len(lines)}
    return RsxInvoice.model_validate({"Header": header, "LineItem": lines, "Summary": summary})


def sscc(rng: random.Random) -> str:
    """A 20-digit ShippingSerialID: application identifier 00 + a valid 18-digit SSCC."""
    body = f"00614141{rng.randint(0, 999_999_999):09d}"  # extension 0, GS1's example company prefix
    return "00" + body + gs1_check_digit(body)


def _order_level(rng: random.Random, order: OrderRecord) -> tuple[dict, int]:
    packs = [[] for _ in range(min(len(order.lines), rng.randint(1, 3)))]
    for seq, (item, qty) in enumerate(order.lines, 1):
        line = {"ShipmentLine": {**_item_ids(item, seq), "OrderQty": qty, "OrderQtyUOM": "EA",
                                 "PurchasePrice": item.unit_price, "ItemStatusCode": "IA",
                                 "ShipQty": qty, "ShipQtyUOM": "EA"},
                "ProductOrItemDescription": _describe(item)}
        packs[(seq - 1) % len(packs)].append(line)
    level = {"OrderHeader": {"PurchaseOrderNumber": order.number, "PurchaseOrderDate": order.order_date},
             "PackLevel": [{"Pack": {"PackLevelType": "P", "ShippingSerialID": sscc(rng)}, "ItemLevel": items}
                           for items in packs]}
    return level, len(order.lines)


def build_shipment(rng: random.Random, partner: PartnerSpec, number: str, day: date,
                   orders: list[OrderRecord]) -> RsxShipment:
    """An ASN shipping ``orders`` (1-2), each packed in 1-3 cartons with SSCC labels."""
    day = max([day] + [o.order_date + timedelta(days=rng.randint(1, 7)) for o in orders])
    levels, count = [], 0
    for order in orders:
        level, lines = _order_level(rng, order)
        levels.append(level)
        count += lines
    header = {
        "ShipmentHeader": {"TradingPartnerId": partner.partner_id, "ShipmentIdentification": number,
                           "ShipDate": day, "TsetPurposeCode": "00", "ShipNoticeDate": day,
                           "ASNStructureCode": "0001", "BillOfLadingNumber": f"BOL{rng.randint(10**7, 10**8 - 1)}",
                           "CarrierProNumber": f"{rng.choice(_CARRIERS)}{rng.randint(10**6, 10**7 - 1)}"},
        "Dates": [{"DateTimeQualifier": "011", "Date": day}],
        "Address": [_address(rng, "SF", "Sandbox Supplier warehouse"), _address(rng, "ST", partner.name)],
    }
    summary = {"TotalLineItemNumber": count}
    return RsxShipment.model_validate({"Header": header, "OrderLevel": levels, "Summary": summary})


# RSX TsetPurposeCode values (reference sps_x12_sterling.md): what a revision of a document says
PURPOSE_ORIGINAL, PURPOSE_CANCELLATION, PURPOSE_CHANGE, PURPOSE_REPLACE, PURPOSE_CONFIRMATION = "00", "01", "04", "05", "06"


def _header_of(model: RsxOrder | RsxInvoice | RsxShipment):
    if isinstance(model, RsxInvoice):
        return model.header.invoice_header
    if isinstance(model, RsxShipment):
        return model.header.shipment_header
    return model.header.order_header


def revised(model: RsxOrder | RsxInvoice | RsxShipment, purpose: str,
            quantity_delta: Decimal = Decimal(0)) -> RsxOrder | RsxInvoice | RsxShipment:
    """A copy of ``model`` sent again with ``purpose``; ``quantity_delta`` changes its first
    line's quantity (a PO change), the order's and invoice's totals following it."""
    copy = model.model_copy(deep=True)
    _header_of(copy).tset_purpose_code = purpose
    if not quantity_delta:
        return copy
    if isinstance(copy, RsxOrder):
        line = copy.line_item[0].order_line
        line.order_qty = max(Decimal(1), line.order_qty + quantity_delta)
        if copy.summary is not None and copy.summary.total_amount is not None:
            copy.summary.total_amount = sum((li.order_line.order_qty * li.order_line.purchase_price
                                             for li in copy.line_item), Decimal(0)).quantize(CENT)
    elif isinstance(copy, RsxInvoice):
        billed = copy.line_item[0].invoice_line
        before = billed.invoice_qty
        billed.invoice_qty = max(Decimal(1), before + quantity_delta)
        delta = ((billed.invoice_qty - before) * (billed.purchase_price or Decimal(0))).quantize(CENT)
        if billed.extended_item_total is not None:
            billed.extended_item_total += delta
        if copy.summary is not None and copy.summary.total_amount is not None:
            copy.summary.total_amount += delta
    else:
        shipped = next(sl for _, sl in copy.item_lines())
        shipped.ship_qty = max(Decimal(1), shipped.ship_qty + quantity_delta)
    return copy
