"""Staged Parquet: one object set per window under a run-scoped prefix, in a local folder or on S3."""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import re
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from genesys_etl.errors import ConfigError, StageError
from genesys_etl.windows import Window

if TYPE_CHECKING:
    import boto3

logger = logging.getLogger(__name__)

PART_NAME: Final = "part-0.parquet"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_S3_SPEC = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?")

# Parquet written the same way in both stages: int64 microsecond UTC timestamps (not INT96, which
# awswrangler's default "spark" flavor would pick and which drops the time zone), logical DATE,
# nullable int64, snappy. Read back, the file's schema equals transform.arrow_schema().
_PARQUET_OPTIONS: Final[dict[str, Any]] = {
    "version": "2.6",
    "coerce_timestamps": "us",
    "use_deprecated_int96_timestamps": False,
}
_COMPRESSION: Final = "snappy"


@dataclass(frozen=True)
class StagedWindow:
    """Where one window's rows were staged.

    Attributes:
        uri: the window's folder or S3 prefix, ending with ``/``.
        files: every file written for the window (absolute paths or ``s3://`` URIs).
        rows: rows written.
    """

    uri: str
    files: tuple[str, ...]
    rows: int


class Stage(abc.ABC):
    """A run-scoped place for Parquet: ``<spec>/run=<run_id>/window=<start>_<end>/part-0.parquet``.

    Attributes:
        uri: the run's folder or S3 prefix, ending with ``/``.
    """

    uri: str

    @abc.abstractmethod
    def write_window(self, table: pa.Table, window: Window) -> StagedWindow:
        """Write one window's rows, replacing what this run staged for the window before.

        An empty table still writes a valid Parquet file with the schema (a window without data
        must still replace its days).

        Args:
            table: the window's rows.
            window: the window; names the folder.

        Returns:
            Where the rows went.

        Raises:
            StageError: the folder or bucket refused the write.
        """

    @abc.abstractmethod
    def list_window(self, staged: StagedWindow) -> tuple[str, ...]:
        """List the files under a staged window's folder or prefix (``doctor``'s list check).

        Raises:
            StageError: the listing was refused.
        """

    @abc.abstractmethod
    def read_window(self, staged: StagedWindow) -> pa.Table:
        """Read a staged window's files back (``doctor``'s read check).

        Raises:
            StageError: the files cannot be read.
        """

    @abc.abstractmethod
    def remove(self, staged: StagedWindow) -> None:
        """Delete the files of one staged window, and nothing else under the run.

        Args:
            staged: what ``write_window`` returned.

        Raises:
            StageError: the files could not be deleted.
        """


def open_stage(spec: str, run_id: str, *, boto3_session: boto3.Session | None = None) -> Stage:
    """Open the stage named by ``--stage``: a local folder, or ``s3://bucket/prefix``.

    A local folder is created if needed and probed for writing now, before any data is fetched.

    Args:
        spec: a folder path (e.g. ``data/stage``) or ``s3://bucket[/prefix]``.
        run_id: the run's id; becomes the ``run=<run_id>`` level (letters, digits, ``.``, ``_``, ``-``).
        boto3_session: the session for S3 (default: awswrangler's default session).

    Returns:
        A stage whose files live under ``<spec>/run=<run_id>/``.

    Raises:
        StageError: the run id is not a safe path segment, the S3 URI is malformed, or the local folder
            is not writable.
    """
    if not _RUN_ID.fullmatch(run_id):
        msg = f"run id {run_id!r} is not usable in a path; use letters, digits, '.', '_' or '-'"
        raise StageError(msg)
    if spec.startswith("s3://"):
        match = _S3_SPEC.fullmatch(spec)
        if match is None:
            msg = f"--stage: {spec} is not a valid s3://bucket/prefix URI"
            raise StageError(msg)
        prefix = (match["prefix"] or "").strip("/")
        return S3Stage(match["bucket"], prefix, run_id, boto3_session=boto3_session)
    if not spec.strip():
        msg = "--stage: empty; give a local folder or s3://bucket/prefix"
        raise StageError(msg)
    return LocalStage(Path(spec).expanduser(), run_id)


def _window_folder(window: Window) -> str:
    return f"window={window.start_date.isoformat()}_{window.end_date.isoformat()}"


def _unwritable(path: Path | str, exc: OSError) -> StageError:
    reason = exc.strerror or str(exc)
    return StageError(f"--stage: cannot write to {path}: {reason}; choose a writable folder")


class LocalStage(Stage):
    """Parquet in a local folder (the default ``data/stage``), written with pyarrow.

    Args:
        base: the folder named by ``--stage``.
        run_id: the run's id.

    Raises:
        StageError: the folder cannot be created or written.
    """

    def __init__(self, base: Path, run_id: str) -> None:
        self.base = base.absolute()
        self.run_folder = self.base / f"run={run_id}"
        self.uri = f"{self.run_folder}{os.sep}"
        self._probe()

    def _probe(self) -> None:
        """Fail now, not after the first Genesys call, when the folder cannot take files."""
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.base, prefix=".probe-"):
                pass
        except OSError as exc:
            # Found before any data is fetched: the folder given is bad input (exit 2), not a failed load.
            reason = exc.strerror or str(exc)
            msg = f"cannot write to {self.base}: {reason}; choose a writable folder"
            raise ConfigError("--stage", msg) from exc

    def write_window(self, table: pa.Table, window: Window) -> StagedWindow:
        """Write with pyarrow to a partial file, then rename it into place; see ``Stage``."""
        folder = self.run_folder / _window_folder(window)
        target = folder / PART_NAME
        partial = folder / f".{PART_NAME}.partial"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, partial, compression=_COMPRESSION, **_PARQUET_OPTIONS)
            partial.replace(target)  # readers never see half a file
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise _unwritable(folder, exc) from exc
        logger.debug("staged %d rows of window %s at %s", table.num_rows, window, target)
        return StagedWindow(uri=f"{folder}{os.sep}", files=(str(target),), rows=table.num_rows)

    def list_window(self, staged: StagedWindow) -> tuple[str, ...]:
        """The window folder's files; see ``Stage``."""
        try:
            return tuple(sorted(str(path) for path in Path(staged.uri).iterdir() if path.is_file()))
        except OSError as exc:
            raise _unwritable(Path(staged.uri), exc) from exc

    def read_window(self, staged: StagedWindow) -> pa.Table:
        """Read the files with pyarrow; see ``Stage``."""
        try:
            return pa.concat_tables([pq.read_table(name) for name in staged.files])
        except (OSError, pa.ArrowException) as exc:
            msg = f"--stage: cannot read back {staged.uri}: {_one_line(exc)}"
            raise StageError(msg) from exc

    def remove(self, staged: StagedWindow) -> None:
        """Unlink the files, then the window and run folders if left empty; see ``Stage``."""
        folders: set[Path] = set()
        try:
            for name in staged.files:
                path = Path(name)
                path.unlink(missing_ok=True)
                folders.add(path.parent)
            # Drop the window folder, then the run folder, only once empty: other windows stay.
            for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
                for empty in (folder, folder.parent):
                    if empty.is_relative_to(self.run_folder) and empty.is_dir() and not any(empty.iterdir()):
                        empty.rmdir()
        except OSError as exc:
            msg = f"--stage: cannot remove staged files under {staged.uri}: {exc.strerror or exc}"
            raise StageError(msg) from exc


class S3Stage(Stage):
    """Parquet on S3 through awswrangler, with the column types of the Arrow table kept exactly.

    Args:
        bucket: the bucket.
        prefix: the key prefix under which ``run=<run_id>/`` goes (may be empty).
        run_id: the run's id.
        boto3_session: the session (default: awswrangler's default session).
    """

    def __init__(self, bucket: str, prefix: str, run_id: str, *, boto3_session: boto3.Session | None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.uri = f"s3://{bucket}/{self.prefix}run={run_id}/"
        self._session = boto3_session

    def write_window(self, table: pa.Table, window: Window) -> StagedWindow:
        """Write with ``wr.s3.to_parquet``; see ``Stage``."""
        # Imported here: awswrangler takes most of a second to import and local runs never need it.
        import awswrangler as wr
        import pandas as pd

        folder = f"{self.uri}{_window_folder(window)}/"
        target = f"{folder}{PART_NAME}"
        # ArrowDtype columns keep date32, tz-aware µs timestamps and nullable int64 through pandas;
        # awswrangler's defaults (ms timestamps, "spark" flavor → INT96) are overridden here.
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        options = {**_PARQUET_OPTIONS, "flavor": None}
        try:
            wr.s3.to_parquet(
                frame,
                path=target,
                index=False,
                compression=_COMPRESSION,
                pyarrow_additional_kwargs=options,
                use_threads=False,
                boto3_session=self._session,
            )
        except _aws_errors() as exc:
            # awswrangler's S3 writer retries a failed upload from __del__; release it now (CPython
            # refcounting) rather than at some later garbage collection, e.g. in another window's load.
            traceback.clear_frames(exc.__traceback__)
            reason = _one_line(exc)
            msg = f"--stage: cannot write to {folder}: {reason}; check the bucket and the S3 permissions"
            raise StageError(msg) from exc
        logger.debug("staged %d rows of window %s at %s", table.num_rows, window, target)
        return StagedWindow(uri=folder, files=(target,), rows=table.num_rows)

    def list_window(self, staged: StagedWindow) -> tuple[str, ...]:
        """``wr.s3.list_objects`` of the window's prefix; see ``Stage``."""
        import awswrangler as wr

        try:
            return tuple(sorted(wr.s3.list_objects(staged.uri, boto3_session=self._session)))
        except _aws_errors() as exc:
            msg = f"--stage: cannot list {staged.uri}: {_one_line(exc)}; check s3:ListBucket on the bucket"
            raise StageError(msg) from exc

    def read_window(self, staged: StagedWindow) -> pa.Table:
        """Download the files and read them with pyarrow; see ``Stage``."""
        import io

        import awswrangler as wr

        tables = []
        try:
            for name in staged.files:
                buffer = io.BytesIO()
                wr.s3.download(path=name, local_file=buffer, boto3_session=self._session)
                tables.append(pq.read_table(pa.BufferReader(buffer.getvalue())))
        except (*_aws_errors(), pa.ArrowException) as exc:
            msg = (
                f"--stage: cannot read back {staged.uri}: {_one_line(exc)}; check s3:GetObject on the bucket"
            )
            raise StageError(msg) from exc
        return pa.concat_tables(tables)

    def remove(self, staged: StagedWindow) -> None:
        """Delete exactly the window's objects with ``wr.s3.delete_objects``; see ``Stage``."""
        import awswrangler as wr

        if not staged.files:
            return
        try:
            wr.s3.delete_objects(path=list(staged.files), use_threads=False, boto3_session=self._session)
        except _aws_errors() as exc:
            msg = f"--stage: cannot remove staged files under {staged.uri}: {_one_line(exc)}"
            raise StageError(msg) from exc


def _aws_errors() -> tuple[type[Exception], ...]:
    """What S3 calls through awswrangler raise: botocore's two bases, awswrangler's, and I/O errors."""
    import awswrangler as wr
    from botocore.exceptions import BotoCoreError, ClientError

    return (
        BotoCoreError,
        ClientError,
        OSError,
        wr.exceptions.ServiceApiError,
        wr.exceptions.InvalidArgumentValue,
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
