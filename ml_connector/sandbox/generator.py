"""Seeded generator of realistic RSX documents (orders, invoices, shipments) at any volume.

The same seed gives the same files, byte for byte. About 40% orders, 35% invoices and 25%
shipments; invoices and shipments refer to orders generated earlier for the same partner, as
they would in life. With ``bad_fraction`` > 0 a share of the files is deliberately bad, each
labelled in ``expect`` with what a correct pipeline must do with it:

    post                       valid, known partner and items: should be posted
    bad:malformed-xml          truncated XML                      -> quarantined by the codec
    bad:malformed-json         truncated JSON                     -> quarantined by the codec
    bad:entity-bomb            billion-laughs DOCTYPE             -> refused by the codec
    bad:external-entity        SYSTEM entity to a local file      -> refused by the codec
    bad:forbidden-char         a control character XML forbids    -> quarantined by the codec
    bad:missing-field          a required line quantity removed   -> quarantined by the codec
    bad:unknown-partner        parses; partner not in catalogue   -> quarantined by the mapping
    bad:unknown-item           parses; one item not in catalogue  -> quarantined by the mapping
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from lxml import etree

from ..connectors.sps import rsx
from ..connectors.sps.models import DOC_TYPES, Rsx, natural_key
from .catalogue import Catalogue, ItemSpec, PartnerSpec, demo_catalogue, gs1_check_digit
from .rsx_builders import OrderRecord, build_invoice, build_order, build_shipment, revised


@dataclass(frozen=True)
class GeneratedDoc:
    """One generated file and what a correct pipeline should do with it."""

    filename: str
    content: bytes
    doc_type: str
    partner_id: str
    number: str
    expect: str = "post"


BAD_LABELS = (
    "bad:malformed-xml", "bad:malformed-json", "bad:entity-bomb", "bad:external-entity",
    "bad:forbidden-char", "bad:missing-field", "bad:unknown-partner", "bad:unknown-item",
)
_XML_ONLY = {"bad:malformed-xml", "bad:entity-bomb", "bad:external-entity", "bad:forbidden-char"}
_JSON_ONLY = {"bad:malformed-json"}
_MIX = (("order", 40), ("invoice", 35), ("shipment", 25))
_PREFIX = {"order": "PO", "invoice": "IN", "shipment": "SH"}
_QTY_FIELD = {"order": "OrderQty", "invoice": "InvoiceQty", "shipment": "ShipQty"}
_EPOCH = date(2024, 1, 2)


def generate(
    n: int, *, seed: int = 1, catalogue: Catalogue | None = None, formats: tuple[str, ...] = ("xml", "json"),
    bad_fraction: float = 0.0, first_number: int = 1,
) -> list[GeneratedDoc]:
    """``n`` documents drawn from ``catalogue`` (the demo one by default), deterministic per seed.

    Numbers are ``PO``/``IN``/``SH`` plus six digits counted from ``first_number`` per type, so
    they are unique per (partner, type) and file names never collide; pass a higher
    ``first_number`` to generate a later batch for the same sandbox.
    """
    if not set(formats) <= {"xml", "json"} or not formats:
        raise ValueError(f"formats must be drawn from ('xml', 'json'), got {formats!r}")
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError("bad_fraction must be between 0 and 1")
    return _Run(random.Random(seed), catalogue or demo_catalogue(), formats, first_number).make(n, bad_fraction)


class _Run:
    """One generation run: the random stream, the counters and the orders issued so far."""

    def __init__(self, rng: random.Random, catalogue: Catalogue, formats: tuple[str, ...], first: int) -> None:
        if not catalogue.partners or not catalogue.items:
            raise ValueError("the catalogue needs at least one partner and one item")
        self.rng, self.catalogue, self.formats = rng, catalogue, formats
        self.counters = {t: first for t in _PREFIX}
        self.orders: dict[str, list[OrderRecord]] = {}
        self.labels = [b for b in BAD_LABELS if self._label_fits(b)]

    def _label_fits(self, label: str) -> bool:
        return (label not in _XML_ONLY or "xml" in self.formats) and (label not in _JSON_ONLY or "json" in self.formats)

    def make(self, n: int, bad_fraction: float) -> list[GeneratedDoc]:
        out = []
        for i in range(n):
            day = _EPOCH + timedelta(days=i * 180 // max(n, 1))
            bad = self.rng.random() < bad_fraction
            out.append(self._bad(day) if bad else self._good(day))
        return out

    def _number(self, doc_type: str) -> str:
        value = self.counters[doc_type]
        self.counters[doc_type] += 1
        return f"{_PREFIX[doc_type]}{value:06d}"

    def _pick_type(self) -> str:
        return self.rng.choices([t for t, _ in _MIX], weights=[w for _, w in _MIX])[0]

    def _good(self, day: date) -> GeneratedDoc:
        partner = self.rng.choice(self.catalogue.partners)
        doc_type, model = self._build(self._pick_type(), partner, day, self.catalogue.items, remember=True)
        return self._file(doc_type, model, partner, self.rng.choice(self.formats))

    def _build(self, doc_type: str, partner: PartnerSpec, day: date, items: list, remember: bool) -> tuple[str, Rsx]:
        prior = self.orders.get(partner.partner_id, [])
        if doc_type != "order" and not prior:
            doc_type = "order"  # nothing to invoice or ship yet for this partner
        number = self._number(doc_type)
        if doc_type == "invoice":
            return doc_type, build_invoice(self.rng, partner, number, day, self.rng.choice(prior[-20:]))
        if doc_type == "shipment":
            refs = self.rng.sample(prior[-20:], k=min(len(prior), self.rng.randint(1, 2)))
            return doc_type, build_shipment(self.rng, partner, number, day, refs)
        model, record = build_order(self.rng, partner, number, day, items)
        if remember:
            self.orders.setdefault(partner.partner_id, []).append(record)
            del self.orders[partner.partner_id][:-50]  # keep memory flat at any volume
        return doc_type, model

    def _file(self, doc_type: str, model: Rsx, partner: PartnerSpec, fmt: str, expect: str = "post") -> GeneratedDoc:
        number = natural_key(doc_type, model)[1]
        content = rsx.encode_xml(doc_type, [model]) if fmt == "xml" else rsx.encode_json(doc_type, model)
        return GeneratedDoc(f"{number}.{fmt}", content, doc_type, partner.partner_id, number, expect)

    # -- bad inputs ---------------------------------------------------------------------

    def _bad(self, day: date) -> GeneratedDoc:
        label = self.rng.choice(self.labels)
        fmt = "xml" if label in _XML_ONLY else "json" if label in _JSON_ONLY else self.rng.choice(self.formats)
        partner, items = self.rng.choice(self.catalogue.partners), self.catalogue.items
        if label == "bad:unknown-partner":
            serial = self.rng.randint(0, 999)
            partner = PartnerSpec(f"UNKNOWNPTNR{serial:03d}", "VEND0000", "Unknown Partner")
        if label == "bad:unknown-item":
            items = [_unknown_item(self.rng)]
        doc_type = "order" if label == "bad:unknown-item" else self._pick_type()
        doc_type, model = self._build(doc_type, partner, day, items, remember=False)
        doc = self._file(doc_type, model, partner, fmt, expect=label)
        return _corrupt(doc, label, doc_type)


def _unknown_item(rng: random.Random) -> ItemSpec:
    body = f"0999999{rng.randint(0, 99999):05d}"[:11]
    return ItemSpec(f"ZZ-{rng.randint(100, 999)}", f"NOPE-{rng.randint(100, 999)}", body + gs1_check_digit(body),
                    "Item nobody catalogued", Decimal("9.99"))


def _corrupt(doc: GeneratedDoc, label: str, doc_type: str) -> GeneratedDoc:
    """``doc`` made bad the way ``label`` says (unknown partner/item need no change here)."""
    content = doc.content
    if label in ("bad:malformed-xml", "bad:malformed-json"):
        content = content[: len(content) * 2 // 3]
    elif label == "bad:entity-bomb":
        content = _entity_bomb(doc_type)
    elif label == "bad:external-entity":
        content = _external_entity(doc_type, doc.number)
    elif label == "bad:forbidden-char":
        content = content.replace(b"<AddressName>", b"<AddressName>\x0c", 1)
    elif label == "bad:missing-field":
        content = _drop_first(content, _QTY_FIELD[doc_type])
    return GeneratedDoc(doc.filename, content, doc.doc_type, doc.partner_id, doc.number, label)


def _drop_first(content: bytes, name: str) -> bytes:
    """``content`` without its first ``name`` element or key (our own output: safe to parse)."""
    if content.lstrip().startswith(b"<"):
        root = etree.fromstring(content)
        victim = next(root.iter(f"{{{rsx.RSX_NS}}}{name}"))
        victim.getparent().remove(victim)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")
    data = json.loads(content, parse_float=Decimal)
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if name in node:
                del node[name]
                return rsx.to_json_bytes(data)
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return rsx.to_json_bytes(data)


def _entity_bomb(doc_type: str) -> bytes:
    _, root, single = DOC_TYPES[doc_type]
    levels = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY l0 "lol">{levels}]>\n'
        f'<{root} xmlns="{rsx.RSX_NS}"><{single}><Header><Notes><Note>&l9;</Note></Notes></Header>'
        f"</{single}></{root}>\n"
    ).encode()


def _external_entity(doc_type: str, number: str) -> bytes:
    _, root, single = DOC_TYPES[doc_type]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        f'<{root} xmlns="{rsx.RSX_NS}"><{single}><Header><Notes><Note>&xxe;</Note></Notes></Header>'
        f"<!-- {number} --></{single}></{root}>\n"
    ).encode()


def revise(doc: GeneratedDoc, purpose: str, quantity_delta: Decimal = Decimal(0), sequence: int = 1) -> GeneratedDoc:
    """``doc`` sent again by the trading partner with the RSX purpose code ``purpose`` (01
    cancellation, 04 change, 05 replace, 06 confirmation), ``quantity_delta`` changing its first
    line's quantity; a file of its own (``<number>-<purpose>-<sequence>``), in ``doc``'s format,
    labelled ``revise:<purpose>``. Dropping the files in another order than made gives out-of-order
    arrivals (a cancellation or change before its original)."""
    fmt = doc.filename.rsplit(".", 1)[-1]
    [(doc_type, model)] = rsx.parse(doc.content, filename=doc.filename)
    changed = revised(model, purpose, quantity_delta)  # type: ignore[arg-type]
    content = rsx.encode_xml(doc_type, [changed]) if fmt == "xml" else rsx.encode_json(doc_type, changed)
    return GeneratedDoc(f"{doc.number}-{purpose}-{sequence}.{fmt}", content, doc_type, doc.partner_id, doc.number,
                        f"revise:{purpose}")
