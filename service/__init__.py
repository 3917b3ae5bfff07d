"""The Wellspring gRPC data service (``wellspring`` / ``python -m service``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wellspring")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
