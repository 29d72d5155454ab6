"""ruledsl: an anti-fraud rule language and engine for banks' channel services."""

__version__ = "0.1.0"
