"""Adobe Commerce (Magento 2) REST: deployment-aware auth (OAuth 1.0a, bearer, admin token, IMS),
Magento error bodies, loop-proof searchCriteria paging, the keyset change feed, typed entities and
signed webhooks."""

from .auth import AdminTokenAuth, ImsAuth, OAuth1Auth, StaticBearerAuth, make_auth
from .changes import MAX_PAGES, OVERLAP, PAGE_SIZE, ChangeFeed, window_criteria
from .client import ID_CHUNK, AdobeClient
from .config import AdobeConfig, detect_deployment
from .errors import render_message
from .kinds import KINDS, parse_entity
from .models import (
    Address,
    Company,
    CompanyCredit,
    CreditMemo,
    CustomAttribute,
    Customer,
    Invoice,
    Order,
    OrderItem,
    OrderPayment,
    Product,
    Shipment,
)
from .pagination import BadCursor, Reject, SearchPage, SearchPaginator, SyncCursor
from .search import Filter, SearchCriteria, format_ts, parse_ts
from .webhooks import WebhookEvent, WebhookRefused, WebhookVerifier, parse_webhook, verify_signature

__all__ = [
    "Address", "AdminTokenAuth", "AdobeClient", "AdobeConfig", "BadCursor", "ChangeFeed", "Company", "CompanyCredit",
    "CreditMemo", "CustomAttribute", "Customer", "Filter", "ID_CHUNK", "ImsAuth", "Invoice", "KINDS", "MAX_PAGES",
    "OAuth1Auth", "OVERLAP", "Order", "OrderItem", "OrderPayment", "PAGE_SIZE", "Product", "Reject", "SearchCriteria",
    "SearchPage", "SearchPaginator", "Shipment", "StaticBearerAuth", "SyncCursor", "WebhookEvent", "WebhookRefused",
    "WebhookVerifier", "detect_deployment", "format_ts", "make_auth", "parse_entity", "parse_ts", "parse_webhook",
    "render_message", "verify_signature", "window_criteria",
]
