"""QuickBooks Online emulator: OAuth, the Accounting API v3 store and query language, limits, webhooks."""

from .emulator import QboEmulator

__all__ = ["QboEmulator"]
