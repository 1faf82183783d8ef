"""ml-connector: ERP <-> commerce/EDI integrations as Prefect flows."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ml-connector")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
