"""va-engine: task automation and scheduling for virtual assistants and organizers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("va-engine")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
