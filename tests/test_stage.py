"""Stage: Parquet per window under a run-scoped prefix, in a local folder and on S3 under moto."""

from __future__ import annotations

import gc
import io
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import awswrangler as wr
import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genesys_etl import settings
from genesys_etl.errors import StageError
from genesys_etl.stage import StagedWindow, open_stage
from genesys_etl.transform import arrow_schema, flatten_response
from genesys_etl.windows import Window

WINDOW = Window(date(2026, 11, 20), date(2026, 11, 21), "America/New_York")
OTHER_WINDOW = Window(date(2026, 11, 22), date(2026, 11, 22), "America/New_York")
RUN_ID = "0123abcd"
DAY1 = "2026-11-20T05:00:00.000Z/2026-11-21T05:00:00.000Z"
DAY2 = "2026-11-21T05:00:00.000Z/2026-11-22T05:00:00.000Z"


def sample_table() -> pa.Table:
    """Rows through the real transform: ints, floats, nulls, a qualifier, a count beyond 2**31."""
    response: dict[str, Any] = {
        "results": [
            {
                "group": {"queueId": "q-1", "mediaType": "voice"},
                "data": [
                    {
                        "interval": DAY1,
                        "metrics": [
                            {"metric": "nOffered", "qualifier": None, "stats": {"count": 2**33}},
                            {
                                "metric": "tHandle",
                                "stats": {"max": 912000, "min": 31000, "count": 40, "sum": 1.5e7},
                            },
                            {"metric": "tOrganizationResponse", "qualifier": "x", "stats": {"count": 1}},
                        ],
                    },
                    {
                        "interval": DAY2,
                        "metrics": [
                            {
                                "metric": "oServiceLevel",
                                "stats": {"ratio": 0.82, "numerator": 33, "denominator": 40, "target": 0.8},
                            }
                        ],
                    },
                ],
            }
        ]
    }
    loaded_at = datetime(2026, 11, 26, 6, 0, 0, 123456, tzinfo=UTC)
    return flatten_response(response, WINDOW, load_id="load-1", loaded_at=loaded_at).table


def empty_table() -> pa.Table:
    return arrow_schema().empty_table()


def read_s3_parquet(session: boto3.Session, uri: str) -> pa.Table:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body))


def s3_keys(session: boto3.Session, bucket: str) -> list[str]:
    listing = session.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


# --- local folder -------------------------------------------------------------------------------


def test_local_window_is_written_under_the_run_scoped_folder(tmp_path: Path) -> None:
    table = sample_table()
    stage = open_stage(str(tmp_path / "stage"), RUN_ID)
    staged = stage.write_window(table, WINDOW)

    folder = tmp_path / "stage" / f"run={RUN_ID}" / "window=2026-11-20_2026-11-21"
    assert staged.uri == f"{folder}/"
    assert staged.files == (str(folder / "part-0.parquet"),)
    assert staged.rows == table.num_rows == 4
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.parquet"]  # no partial file left


def test_local_read_back_equals_the_table(tmp_path: Path) -> None:
    table = sample_table()
    staged = open_stage(str(tmp_path), RUN_ID).write_window(table, WINDOW)
    # The file alone: pyarrow 22 (Glue 5.1) read_table on a path under run=/window= folders adds them as
    # hive partition columns; COPY reads the file's own columns.
    back = pq.ParquetFile(staged.files[0]).read()
    assert back.schema.equals(arrow_schema())
    assert back.equals(table)


def test_local_empty_window_writes_a_valid_empty_file_with_the_schema(tmp_path: Path) -> None:
    staged = open_stage(str(tmp_path), RUN_ID).write_window(empty_table(), WINDOW)
    back = pq.ParquetFile(staged.files[0]).read()  # the file alone, as above
    assert staged.rows == 0
    assert back.num_rows == 0
    assert back.schema.equals(arrow_schema())


def test_local_rewrite_of_a_window_replaces_it(tmp_path: Path) -> None:
    stage = open_stage(str(tmp_path), RUN_ID)
    stage.write_window(sample_table(), WINDOW)
    staged = stage.write_window(empty_table(), WINDOW)
    assert pq.read_table(staged.files[0]).num_rows == 0


def test_local_remove_deletes_only_that_window(tmp_path: Path) -> None:
    stage = open_stage(str(tmp_path), RUN_ID)
    gone = stage.write_window(sample_table(), WINDOW)
    kept = stage.write_window(sample_table(), OTHER_WINDOW)
    other_run = open_stage(str(tmp_path), "other-run").write_window(sample_table(), WINDOW)

    stage.remove(gone)

    assert not Path(gone.uri).exists()
    assert Path(kept.files[0]).is_file()
    assert Path(other_run.files[0]).is_file()


def test_local_remove_of_the_last_window_removes_the_empty_run_folder(tmp_path: Path) -> None:
    stage = open_stage(str(tmp_path), RUN_ID)
    staged = stage.write_window(sample_table(), WINDOW)
    stage.remove(staged)
    assert not (tmp_path / f"run={RUN_ID}").exists()
    assert tmp_path.is_dir()


def test_unwritable_local_folder_is_bad_input_naming_the_fix(tmp_path: Path) -> None:
    from genesys_etl.errors import ConfigError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(
        ConfigError, match=r"^--stage: cannot write to .*a-file.*; choose a writable folder$"
    ) as caught:
        open_stage(str(blocker / "stage"), RUN_ID)
    assert caught.value.exit_code == 2  # found before any call: bad input, like a bad flag


def test_folder_that_becomes_unwritable_fails_the_write_with_a_stage_error(tmp_path: Path) -> None:
    stage = open_stage(str(tmp_path), RUN_ID)
    (tmp_path / f"run={RUN_ID}").write_text("a file where the run folder should be")
    with pytest.raises(StageError, match=r"cannot write to .*run=0123abcd.*choose a writable folder"):
        stage.write_window(sample_table(), WINDOW)


@pytest.mark.parametrize("run_id", ["", "../up", "a/b", ".hidden"])
def test_run_ids_that_are_not_path_segments_are_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(StageError, match="run id"):
        open_stage(str(tmp_path), run_id)


# --- S3 under moto --------------------------------------------------------------------------------


def test_s3_window_is_written_under_the_run_scoped_prefix(moto_aws: boto3.Session, s3_bucket: str) -> None:
    stage = open_stage(f"s3://{s3_bucket}/genesys/stage", RUN_ID, boto3_session=moto_aws)
    staged = stage.write_window(sample_table(), WINDOW)
    prefix = f"genesys/stage/run={RUN_ID}/window=2026-11-20_2026-11-21/"
    assert staged == StagedWindow(
        uri=f"s3://{s3_bucket}/{prefix}", files=(f"s3://{s3_bucket}/{prefix}part-0.parquet",), rows=4
    )
    assert s3_keys(moto_aws, s3_bucket) == [f"{prefix}part-0.parquet"]


def test_s3_staged_parquet_schema_equals_the_column_map(moto_aws: boto3.Session, s3_bucket: str) -> None:
    table = sample_table()
    staged = open_stage(f"s3://{s3_bucket}/p", RUN_ID, boto3_session=moto_aws).write_window(table, WINDOW)
    back = read_s3_parquet(moto_aws, staged.files[0])
    assert back.schema.equals(arrow_schema())
    assert back.equals(table)  # values too: µs UTC timestamps, dates, nullable int64 beyond 2**31


def test_s3_read_back_through_awswrangler_keeps_values_and_types(
    moto_aws: boto3.Session, s3_bucket: str
) -> None:
    table = sample_table()
    staged = open_stage(f"s3://{s3_bucket}", RUN_ID, boto3_session=moto_aws).write_window(table, WINDOW)
    frame = wr.s3.read_parquet(staged.files[0], boto3_session=moto_aws, dtype_backend="pyarrow")
    expected = table.to_pandas(types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(frame, expected)
    assert str(frame["interval_start"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    assert str(frame["metric_date"].dtype) == "date32[day][pyarrow]"
    assert str(frame["stat_count"].dtype) == "int64[pyarrow]"


def test_s3_empty_window_writes_a_valid_empty_file(moto_aws: boto3.Session, s3_bucket: str) -> None:
    staged = open_stage(f"s3://{s3_bucket}/p/", RUN_ID, boto3_session=moto_aws).write_window(
        empty_table(), WINDOW
    )
    back = read_s3_parquet(moto_aws, staged.files[0])
    assert staged.rows == back.num_rows == 0
    assert back.schema.equals(arrow_schema())
    assert staged.uri == f"s3://{s3_bucket}/p/run={RUN_ID}/window=2026-11-20_2026-11-21/"


def test_s3_remove_deletes_only_that_window(moto_aws: boto3.Session, s3_bucket: str) -> None:
    stage = open_stage(f"s3://{s3_bucket}/p", RUN_ID, boto3_session=moto_aws)
    gone = stage.write_window(sample_table(), WINDOW)
    kept = stage.write_window(sample_table(), OTHER_WINDOW)
    moto_aws.client("s3").put_object(Bucket=s3_bucket, Key=f"p/run={RUN_ID}/notes.txt", Body=b"keep me")

    stage.remove(gone)

    assert s3_keys(moto_aws, s3_bucket) == sorted(
        [kept.files[0].removeprefix(f"s3://{s3_bucket}/"), f"p/run={RUN_ID}/notes.txt"]
    )


def test_s3_missing_bucket_is_a_stage_error(moto_aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "unraisablehook", lambda _: None)  # awswrangler's __del__ retry, see below
    stage = open_stage("s3://no-such-bucket-here/p", RUN_ID, boto3_session=moto_aws)
    with pytest.raises(
        StageError, match=r"^--stage: cannot write to s3://no-such-bucket-here/p/run="
    ) as caught:
        stage.write_window(sample_table(), WINDOW)
    assert "NoSuchBucket" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_s3_failed_write_leaves_no_writer_to_retry_later(
    moto_aws: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # awswrangler's S3 writer retries a failed upload from __del__. The stage must release it during
    # the failed call, not at a later garbage collection (outside moto here; mid-way through another
    # window's load in a real run).
    late_errors: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", late_errors.append)
    stage = open_stage("s3://no-such-bucket-here/p", RUN_ID, boto3_session=moto_aws)
    with pytest.raises(StageError) as caught:
        stage.write_window(sample_table(), WINDOW)
    during_call = len(late_errors)
    del caught
    gc.collect()
    assert len(late_errors) == during_call


@pytest.mark.parametrize("spec", ["s3://", "s3:///prefix", "s3://Bad_Bucket/p"])
def test_malformed_s3_uris_are_refused(spec: str) -> None:
    with pytest.raises(StageError, match="not a valid s3://bucket/prefix"):
        open_stage(spec, RUN_ID)


def test_an_s3_window_prefix_holds_exactly_its_staged_files_in_column_order(
    moto_aws: boto3.Session, s3_bucket: str
) -> None:
    # Redshift COPYs the whole prefix and maps Parquet columns by position: both must be exact.
    stage = open_stage(f"s3://{s3_bucket}/stage", "run-prefix", boto3_session=moto_aws)
    first = Window(date(2026, 3, 1), date(2026, 3, 7), "UTC")
    second = Window(date(2026, 3, 8), date(2026, 3, 14), "UTC")
    staged = stage.write_window(arrow_schema().empty_table(), first)
    stage.write_window(arrow_schema().empty_table(), second)
    bucket, _, key_prefix = staged.uri.removeprefix("s3://").partition("/")
    listed = moto_aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=key_prefix)
    assert sorted(f"s3://{bucket}/{o['Key']}" for o in listed["Contents"]) == sorted(staged.files)
    for path in staged.files:
        schema = wr.s3.read_parquet_metadata(path, boto3_session=moto_aws)[0]
        assert list(schema) == [c.name for c in settings.FACT_COLUMNS]
