"""oncofed: a federated, FAIR cancer-data platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oncofed")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
