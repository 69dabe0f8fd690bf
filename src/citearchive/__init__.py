"""citearchive: archive every source a commentary cites, and prove it later."""

__version__ = "0.1.0"
