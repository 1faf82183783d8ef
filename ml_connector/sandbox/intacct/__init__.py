"""Sage Intacct XML gateway emulator: the store, its schema checks, queries and legacy functions."""

from .emulator import IntacctEmulator

__all__ = ["IntacctEmulator"]
