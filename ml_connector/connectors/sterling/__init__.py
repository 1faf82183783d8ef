"""IBM Sterling B2B Integrator (B2Bi / File Gateway) through its B2B REST APIs.

``SterlingClient`` manages trading partners and moves documents through partner mailboxes;
``SterlingConfig`` holds the customer's host and a non-admin API user (Basic auth).
"""

from .auth import SterlingConfig
from .client import SterlingClient, partner_inbox, partner_outbox
from .models import Mailbox, MailboxEntry, MailboxMessage, TradingPartner, UserAccount
from .pagination import RangePaginator

__all__ = [
    "Mailbox",
    "MailboxEntry",
    "MailboxMessage",
    "RangePaginator",
    "SterlingClient",
    "SterlingConfig",
    "TradingPartner",
    "UserAccount",
    "partner_inbox",
    "partner_outbox",
]
