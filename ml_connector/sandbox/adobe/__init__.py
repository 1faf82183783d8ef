"""Adobe Commerce (Magento 2 REST) emulator: auth flavours, store, searchCriteria, B2B, signed webhooks, seeding."""

from .emulator import AdobeEmulator

__all__ = ["AdobeEmulator"]
