"""Genesys Cloud queue analytics → Redshift (or DuckDB): extract, transform, stage, load."""

__version__ = "0.1.0"
