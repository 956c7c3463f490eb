"""tokenlink: link-level simulation of token communication."""

__version__ = "0.1.0"
