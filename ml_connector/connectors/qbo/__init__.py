"""QuickBooks Online Accounting API v3: OAuth 2.0 with rotating refresh tokens, a thin client,
Fault classification, query paging, batch, CDC and webhook verification."""

from .auth import QboConfig, QboOAuth
from .client import BatchOp, CdcResult, CdcWindowTooLong, QboClient
from .errors import StaleObject
from .models import BatchItemResponse, Customer, Invoice, Item, PurchaseOrder, QboObject, Vendor
from .pagination import QueryPage, QueryPaginator
from .tokens import FileTokenStore, MemoryTokenStore, TokenSet, TokenStore
from .webhooks import ChangeEvent, parse_notification, verify_signature

__all__ = [
    "BatchItemResponse", "BatchOp", "CdcResult", "CdcWindowTooLong", "ChangeEvent", "Customer",
    "FileTokenStore", "Invoice", "Item", "MemoryTokenStore", "PurchaseOrder", "QboClient", "QboConfig",
    "QboOAuth", "QboObject", "QueryPage", "QueryPaginator", "StaleObject", "TokenSet", "TokenStore",
    "Vendor", "parse_notification", "verify_signature",
]
