"""The partners and items generated documents are drawn from, and the demo's catalogue of them.

A mapping under test should know every partner and item here; the generator draws valid
documents from a catalogue and invents unknown ones for its deliberately bad files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class PartnerSpec:
    """A trading partner as SPS names it, and the vendor number it knows us by."""

    partner_id: str
    vendor: str
    name: str


@dataclass(frozen=True)
class ItemSpec:
    """One catalogue item with every identifier an RSX line may carry."""

    buyer_part: str
    vendor_part: str
    upc: str
    description: str
    unit_price: Decimal


@dataclass(frozen=True)
class Catalogue:
    """The partners and items documents are drawn from (and a mapping should know)."""

    partners: list[PartnerSpec] = field(default_factory=list)
    items: list[ItemSpec] = field(default_factory=list)


def gs1_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of a UPC, GTIN or SSCC body."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


_ITEMS = [  # vendor part, description, unit price
    ("WID-100", "Widget, steel, 40 mm", "4.25"), ("WID-200", "Widget case of 12", "39.90"),
    ("WID-300", "Widget, brass, 25 mm", "6.10"), ("HD-20", "Hand drill, 20 V", "89.00"),
    ("HD-21", "Hand drill, 20 V, with case", "109.50"), ("BIT-SET-12", "Drill bit set, 12 pieces", "18.75"),
    ("SAW-7", "Circular saw, 7-1/4 in", "129.99"), ("BLD-7-40", "Saw blade, 40 teeth", "14.20"),
    ("GLV-L", "Work gloves, large", "7.35"), ("GLV-M", "Work gloves, medium", "7.35"),
    ("TAPE-25", "Tape measure, 25 ft", "11.40"), ("LVL-24", "Spirit level, 24 in", "22.00"),
    ("HAM-16", "Claw hammer, 16 oz", "15.60"), ("SCR-PH2", "Screwdriver, Phillips #2", "5.95"),
    ("SCR-FL6", "Screwdriver, flat 6 mm", "5.95"), ("NUT-M8-100", "Hex nuts M8, box of 100", "8.80"),
    ("BLT-M8-50", "Hex bolts M8x40, box of 50", "12.30"), ("ANC-6-50", "Wall anchors 6 mm, 50", "4.90"),
    ("CLP-4", "Bar clamp, 4 in", "9.45"), ("LAD-6", "Step ladder, 6 ft", "74.00"),
    ("LMP-LED", "LED work lamp", "32.50"), ("EXT-25", "Extension cord, 25 ft", "19.99"),
    ("GLU-W", "Wood glue, 16 oz", "6.49"), ("SND-120", "Sandpaper 120 grit, 25 sheets", "10.15"),
]


def demo_catalogue() -> Catalogue:
    """Four partners (SPSALLTESTID among them) and 24 hardware items with valid UPCs."""
    partners = [
        PartnerSpec("ACMEDIST0001", "VEND1001", "Acme Distribution"),
        PartnerSpec("SPSALLTESTID", "VEND6174", "SPS Test Retailer"),
        PartnerSpec("NWTRADERS001", "VEND2040", "Northwind Traders"),
        PartnerSpec("GLOBEXRETAIL01", "VEND3300", "Globex Retail"),
    ]
    items = []
    for n, (vendor_part, description, price) in enumerate(_ITEMS, 1):
        body = f"08595630{n:03d}"
        items.append(ItemSpec(f"B{10000 + n}", vendor_part, body + gs1_check_digit(body), description, Decimal(price)))
    return Catalogue(partners, items)
