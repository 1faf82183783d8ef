"""IBM Sterling B2B Integrator emulator: B2B REST APIs, mailboxes, partners and X12 envelopes."""

from .emulator import SterlingEmulator

__all__ = ["SterlingEmulator"]
