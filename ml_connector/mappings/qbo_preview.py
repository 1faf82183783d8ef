"""``ml-connector preview`` for SPS <-> QuickBooks Online: what one file becomes, posting nothing.

* ``sps-qbo``: an RSX file (XML or JSON, one or many documents) -> the QBO PurchaseOrder
  request body of each order (other document types are routed nowhere in this integration);
* ``qbo-sps``: a QBO Invoice as JSON (bare, or wrapped as ``{"Invoice": {...}}`` the way the
  API answers) -> the RSX Invoice, and the RSX Shipment when the invoice carries a ship date.

Partners or items the sync links in the ledger are unknown here (a preview reads only the
tenant file): such a document gets the same one-line reason the ingest would give without them.
"""

from __future__ import annotations

import json

from ..connectors.errors import BadDocument
from ..connectors.qbo.client import dumps
from ..connectors.qbo.models import Invoice
from ..connectors.sps import rsx
from ..connectors.sps.models import natural_key
from .qbo_to_sps import is_shipment, qbo_invoice_to_rsx, qbo_shipment_to_rsx
from .sps_to_qbo import order_to_po, routed
from .tenant import TenantMapping


def preview_qbo(integration: str, content: bytes, mapping: TenantMapping, filename: str) -> str:
    """The previewed output of one file; raises BadDocument with a one-line reason."""
    if integration == "sps-qbo":
        return _orders(content, mapping, filename)
    return _invoice(content, mapping, filename)


def _orders(content: bytes, mapping: TenantMapping, filename: str) -> str:
    out = []
    for doc_type, doc in rsx.parse(content, filename=filename):
        partner, number = natural_key(doc_type, doc)
        if not routed(doc_type):
            out.append(f"// {doc_type} {partner} {number}: routed nowhere in sps-qbo (skipped)")
            continue
        po = order_to_po(doc, mapping)  # type: ignore[arg-type]
        body = json.dumps(json.loads(dumps(po.to_qbo())), indent=2)
        out.append(f"// order {partner} {number} -> QBO PurchaseOrder {po.doc_number} for vendor "
                   f"{po.vendor_ref.value if po.vendor_ref else '?'}, {len(po.line)} lines\n"
                   f"// POST /v3/company/{{realm}}/purchaseorder?minorversion=75&requestid=<ledger key>\n{body}")
    return "\n".join(out)


def _invoice(content: bytes, mapping: TenantMapping, filename: str) -> str:
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise BadDocument(f"{filename}: not JSON: {exc}", system="qbo", operation="preview") from None
    if isinstance(data, dict) and isinstance(data.get("Invoice"), dict):
        data = data["Invoice"]
    try:
        inv = Invoice.model_validate(data)
    except ValueError as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise BadDocument(f"{filename}: not a QBO Invoice JSON object: {first[0].strip()}", system="qbo",
                          operation="preview") from None
    parts = [rsx.encode_xml("invoice", [qbo_invoice_to_rsx(inv, mapping)]).decode()]
    if is_shipment(inv):
        parts.append(rsx.encode_xml("shipment", [qbo_shipment_to_rsx(inv, mapping)]).decode())
    return "\n".join(parts)


def preview_purchase_orders(tenant: str, mapping: TenantMapping, content: bytes, name: str) -> str:
    """sps-qbo's preview: each RSX order of a file as the QBO PurchaseOrder it becomes."""
    return preview_qbo("sps-qbo", content, mapping, name)


def preview_invoice(tenant: str, mapping: TenantMapping, content: bytes, name: str) -> str:
    """qbo-sps's preview: a QBO Invoice (JSON) as the RSX it is sent as."""
    return preview_qbo("qbo-sps", content, mapping, name)
