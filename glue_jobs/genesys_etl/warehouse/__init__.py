"""Warehouses: DuckDB (embedded default) and Redshift, one interface."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from genesys_etl.errors import WarehouseError
from genesys_etl.warehouse.base import (
    DayCoverage,
    SqlWarehouse,
    StagedFiles,
    Warehouse,
    ZoneBinding,
    classify_day,
    quote_identifier,
    validate_identifier,
)
from genesys_etl.warehouse.redshift import (
    Dialect,
    RedshiftWarehouse,
    build_copy_sql,
    redshift_connect_from_glue,
    redshift_connect_from_secret,
    strip_redshift_options,
)

if TYPE_CHECKING:
    from genesys_etl.config import Config
    from genesys_etl.warehouse.duckdb import DuckDBWarehouse

__all__ = [
    "DayCoverage",
    "Dialect",
    "DuckDBWarehouse",
    "RedshiftWarehouse",
    "SqlWarehouse",
    "StagedFiles",
    "Warehouse",
    "ZoneBinding",
    "build_copy_sql",
    "classify_day",
    "open_warehouse",
    "quote_identifier",
    "redshift_connect_from_glue",
    "redshift_connect_from_secret",
    "strip_redshift_options",
    "validate_identifier",
]

_DUCKDB_PREFIX = "duckdb:"


def __getattr__(name: str) -> Any:
    # duckdb is for local runs only and is not in the Glue bundle (requirements-glue.txt): the DuckDB
    # warehouse is imported on first use, so the Glue job imports this package without it.
    if name == "DuckDBWarehouse":
        from genesys_etl.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def open_warehouse(config: Config, *, create: bool = True) -> Warehouse:
    """Open the warehouse a configuration names (the caller closes it).

    Args:
        config: ``warehouse`` is ``duckdb:PATH`` or ``redshift``; Redshift also uses
            ``redshift_connection`` (a Glue connection, preferred) or ``redshift_secret_id``, and
            ``iam_role``; both use ``schema`` and ``settle_days``.
        create: False for read commands: a DuckDB file that does not exist is an error, not created.

    Returns:
        A ``DuckDBWarehouse`` or a ``RedshiftWarehouse``.

    Raises:
        WarehouseError: the warehouse spec is unknown, Redshift has no connection source, or the
            connection cannot be opened.
    """
    spec = config.warehouse
    if spec.startswith(_DUCKDB_PREFIX):
        from genesys_etl.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(
            spec[len(_DUCKDB_PREFIX) :], config.schema, settle_days=config.settle_days, create=create
        )
    if spec == "redshift":
        if config.redshift_connection:
            connect = partial(redshift_connect_from_glue, config.redshift_connection)
        elif config.redshift_secret_id:
            connect = partial(redshift_connect_from_secret, config.redshift_secret_id)
        else:
            msg = "--warehouse redshift needs --redshift-connection or --redshift-secret-id"
            raise WarehouseError(msg)
        return RedshiftWarehouse(connect, config.schema, config.iam_role, settle_days=config.settle_days)
    msg = f"unknown warehouse {spec!r}: use duckdb:PATH or redshift"
    raise WarehouseError(msg)
