"""``ml-connector preview``: what one document becomes, without posting anything."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from .connectors.errors import BadDocument
from .connectors.intacct.codec import bill_function
from .connectors.intacct.models import ArInvoice
from .connectors.sps import rsx
from .connectors.sps.models import natural_key
from .ledger.store import idempotency_key
from .mappings.intacct_to_sps import arinvoice_to_rsx
from .mappings.sps_to_intacct import route, rsx_to_apbill
from .mappings.tenant import load_tenant, tenant_path


def preview(integration: str, path: Path, *, tenant: str | None = None) -> str:
    """The target request(s) for the document(s) in ``path``; raises with a one-line reason."""
    if tenant is None:
        tenant = {"sps-qbo": "demo-qbo", "qbo-sps": "demo-qbo", "commerce-intacct-o2c": "demo-commerce",
                  "commerce-intacct-ap": "demo-commerce"}.get(
            integration, "demo")
    mapping = load_tenant(tenant_path(tenant))
    content = path.read_bytes()
    if integration == "commerce-intacct-o2c":  # a Commerce REST JSON entity -> its Intacct function
        from .tasks.commerce_o2c_preview import preview_o2c

        return preview_o2c(content, mapping, path.name)
    if integration == "commerce-intacct-ap":  # a Commerce order/invoice/credit memo (JSON) -> its Intacct function
        from .mappings.commerce_ap_documents import preview_ap

        if mapping.commerce is None or mapping.commerce.procure is None:
            raise ValueError(f"tenant {tenant} has no commerce.procure section (try --tenant demo-commerce)")
        return preview_ap(content, mapping.commerce, path.name)
    if integration in ("sps-qbo", "qbo-sps"):  # RSX order -> QBO PurchaseOrder; QBO Invoice JSON -> RSX
        from .mappings.qbo_preview import preview_qbo

        return preview_qbo(integration, content, mapping, path.name)
    if integration == "intacct-sterling":  # an Intacct APBILL (or PODOCUMENT) record as JSON -> X12
        from .mappings.intacct_to_x12 import preview_x12

        return preview_x12(content, mapping, path.name)
    if integration == "intacct-sps":
        try:
            invoice = ArInvoice.model_validate_json(content)
        except ValueError as exc:
            raise BadDocument(f"{path.name}: not an AR invoice JSON record: {str(exc).splitlines()[0]}") from None
        return rsx.encode_xml("invoice", [arinvoice_to_rsx(invoice, mapping)]).decode()
    out = []
    for doc_type, doc in rsx.parse(content, filename=path.name):
        partner, number = natural_key(doc_type, doc)
        if doc_type not in ("order", "invoice", "shipment") or route(doc_type, partner, mapping) == "skip":
            out.append(f"<!-- {doc_type} {partner} {number}: routed nowhere (skipped) -->")
            continue
        bill = rsx_to_apbill(doc_type, doc, mapping)
        function = bill_function(idempotency_key(tenant, "sps-intacct", doc_type, partner, number), bill)
        pretty = etree.tostring(etree.fromstring(function.body), pretty_print=True).decode()
        out.append(f"<!-- {doc_type} {partner} {number} -> APBILL {bill.record_id} for {bill.vendor_id}, total {bill.total} -->\n{pretty}")
    return "\n".join(out)
