"""What ``ml-connector preview`` shows for SPS <-> Intacct: the request a document becomes. Pure."""

from __future__ import annotations

from lxml import etree

from ..connectors.errors import BadDocument
from ..connectors.intacct.codec import bill_function
from ..connectors.intacct.models import ArInvoice
from ..connectors.sps import rsx
from ..connectors.sps.models import natural_key
from ..ledger.store import idempotency_key
from .intacct_to_sps import arinvoice_to_rsx
from .sps_to_intacct import route, rsx_to_apbill
from .tenant import TenantMapping


def preview_bills(tenant: str, mapping: TenantMapping, content: bytes, name: str) -> str:
    """Each RSX document of a file as the Intacct ``create`` function of its AP bill (with the
    control id a run would send), or why it is routed nowhere."""
    out = []
    for doc_type, doc in rsx.parse(content, filename=name):
        partner, number = natural_key(doc_type, doc)
        if doc_type not in ("order", "invoice", "shipment") or route(doc_type, partner, mapping) == "skip":
            out.append(f"<!-- {doc_type} {partner} {number}: routed nowhere (skipped) -->")
            continue
        bill = rsx_to_apbill(doc_type, doc, mapping)
        function = bill_function(idempotency_key(tenant, "sps-intacct", doc_type, partner, number), bill)
        pretty = etree.tostring(etree.fromstring(function.body), pretty_print=True).decode()
        out.append(f"<!-- {doc_type} {partner} {number} -> APBILL {bill.record_id} for {bill.vendor_id}, "
                   f"total {bill.total} -->\n{pretty}")
    return "\n".join(out)


def preview_ar_invoice(tenant: str, mapping: TenantMapping, content: bytes, name: str) -> str:
    """An Intacct AR invoice record (JSON) as the RSX Invoice sent to its partner."""
    try:
        invoice = ArInvoice.model_validate_json(content)
    except ValueError as exc:
        raise BadDocument(f"{name}: not an AR invoice JSON record: {str(exc).splitlines()[0]}") from None
    return rsx.encode_xml("invoice", [arinvoice_to_rsx(invoice, mapping)]).decode()
