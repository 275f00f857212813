"""ratecard: pricing as code for usage-based businesses."""

__version__ = "0.1.0"
