"""sfn-fleet: run AWS Step Functions activity workers as an asyncio fleet."""

from fleet._version import __version__

__all__ = ["__version__"]
