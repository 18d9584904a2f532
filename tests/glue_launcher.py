"""Test-only launcher of the Glue entry script, run by tests/test_glue_rehearsal.py inside the rehearsal venv.

``python tests/glue_launcher.py SCRIPT GLUE-ARGUMENTS…`` does what Glue's launcher does before a job script
runs (it configures the root logger, so ``logging.basicConfig`` in the script is a no-op), loads SCRIPT —
the entry script exactly as ``deploy.py --build-only`` wrote it — and calls its ``main()`` with the job
arguments. The one difference from Glue: Redshift is PostgreSQL here, so ``main()`` gets the same
``PostgresStandInWarehouse`` that tests/test_glue_job.py injects in-process. Only this file reads
``GENESYS_ETL_TEST_POSTGRES_DSN`` and ``GENESYS_ETL_TEST_SCHEMA``; the shipped job has no such hook.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any

# Root logger as a launcher leaves it: a handler already there, level WARNING.
GLUE_LOG_FORMAT = "glue-launcher %(levelname)s %(name)s: %(message)s"


def main(argv: list[str]) -> int:
    """Run SCRIPT's ``main(arguments)`` with the PostgreSQL stand-in for Redshift; return its status."""
    script, *arguments = argv
    logging.basicConfig(level=logging.WARNING, format=GLUE_LOG_FORMAT, stream=sys.stderr)

    import psycopg

    from fixtures.postgres import PostgresStandInWarehouse

    dsn = os.environ["GENESYS_ETL_TEST_POSTGRES_DSN"]
    schema = os.environ["GENESYS_ETL_TEST_SCHEMA"]

    def warehouse_factory(config: Any) -> PostgresStandInWarehouse:
        del config  # the job built and validated it; the stand-in needs only the database and schema
        return PostgresStandInWarehouse(lambda: psycopg.connect(dsn), schema)

    spec = importlib.util.spec_from_file_location("genesys_queue_metrics_job", script)
    assert spec is not None
    assert spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = job
    spec.loader.exec_module(job)
    sys.argv = [str(Path(script)), *arguments]
    status: int = job.main(arguments, warehouse_factory=warehouse_factory)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
