"""Warehouses: DuckDB (embedded default) and Redshift, one interface."""
