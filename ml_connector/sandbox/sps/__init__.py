"""SPS Commerce emulator: OAuth and the v5 Transaction API file tree with its delivery history."""

from .emulator import SpsEmulator

__all__ = ["SpsEmulator"]
