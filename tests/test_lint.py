"""The aggregates-body linter: each classic mistake is found and explained with a fix that works."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from genesys_etl.lint import Problem, format_problems, lint_body, lint_text

TODAY = date(2026, 11, 26)
GOOD: dict[str, Any] = {
    "interval": "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00",
    "granularity": "P1D",
    "timeZone": "America/New_York",
    "groupBy": ["queueId", "mediaType"],
    "metrics": ["nOffered", "tHandle"],
}


def lint(body: object) -> list[Problem]:
    return lint_body(body, today=TODAY)


def only(problems: list[Problem], field: str) -> Problem:
    matching = [p for p in problems if p.field == field]
    assert len(matching) == 1, problems
    return matching[0]


def suggested_interval(problem: Problem) -> str:
    found = re.search(r'"interval": "([^"]+)"', problem.fix)
    assert found, problem.fix
    return found.group(1)


def with_(**changes: Any) -> dict[str, Any]:
    body = {**GOOD, **changes}
    return {key: value for key, value in body.items() if value is not None}


def test_a_correct_body_has_no_problems() -> None:
    assert lint(GOOD) == []
    assert lint({"interval": "2026-11-24T00:00:00Z/2026-11-25T00:00:00Z", "metrics": ["nOffered"]}) == []


def test_the_seed_failure_is_explained_completely() -> None:
    problems = lint({"interval": "P1D", "groupings": ["queueId"]})
    assert sorted(p.field for p in problems) == ["groupings", "interval", "metrics"]
    duration = only(problems, "interval")
    assert "duration, not an interval" in duration.message
    assert suggested_interval(duration) == "2026-11-25T00:00:00.000+00:00/2026-11-26T00:00:00.000+00:00"
    assert only(problems, "groupings").fix.startswith('"groupBy": ["queueId"]')
    assert '"metrics": [' in only(problems, "metrics").fix


@pytest.mark.parametrize(
    ("duration", "zone", "interval"),
    [
        ("P1D", "America/New_York", "2026-11-25T00:00:00.000-05:00/2026-11-26T00:00:00.000-05:00"),
        ("PT24H", "Europe/London", "2026-11-25T00:00:00.000+00:00/2026-11-26T00:00:00.000+00:00"),
        ("P7D", "America/New_York", "2026-11-19T00:00:00.000-05:00/2026-11-26T00:00:00.000-05:00"),
        ("P1W", "Asia/Kolkata", "2026-11-19T00:00:00.000+05:30/2026-11-26T00:00:00.000+05:30"),
        ("P30D", "UTC", "2026-11-19T00:00:00.000+00:00/2026-11-26T00:00:00.000+00:00"),
    ],
)
def test_duration_as_interval_suggests_local_midnights_ending_today(
    duration: str, zone: str, interval: str
) -> None:
    problem = only(lint(with_(interval=duration, timeZone=zone)), "interval")
    assert "duration" in problem.message
    assert suggested_interval(problem) == interval
    assert lint(with_(interval=interval, timeZone=zone)) == []  # the fix is itself clean


def test_duration_fix_is_dst_correct_around_a_change() -> None:
    problem = only(lint_body(with_(interval="P1D"), today=date(2026, 3, 9)), "interval")
    assert suggested_interval(problem) == "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00"


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("groupings", "groupBy"),
        ("timeGroup", "granularity"),
        ("queryFilter", "filter"),
        ("timezone", "timeZone"),
    ],
)
def test_fields_that_do_not_exist_name_the_real_one(wrong: str, right: str) -> None:
    value = GOOD.get(right, {"type": "and", "predicates": []})
    body = {k: v for k, v in GOOD.items() if k != right} | {wrong: value}
    problem = only(lint(body), wrong)
    assert "does not exist" in problem.message
    assert right in problem.fix


def test_renamed_field_next_to_the_real_one_is_to_be_removed() -> None:
    problem = only(lint(with_(groupings=["queueId"])), "groupings")
    assert problem.fix.startswith("remove 'groupings'")


def test_date_from_and_date_to_become_one_interval() -> None:
    body = {
        "dateFrom": "2026-11-01",
        "dateTo": "2026-11-07",
        "timeZone": "America/New_York",
        "metrics": ["nOffered"],
    }
    problems = lint(body)
    assert sorted(p.field for p in problems) == ["dateFrom", "dateTo"]  # no separate "missing interval"
    expected = "2026-11-01T00:00:00.000-04:00/2026-11-08T00:00:00.000-05:00"  # across the Nov 1 change
    assert all(suggested_interval(p) == expected for p in problems)
    assert lint({"interval": expected, "timeZone": "America/New_York", "metrics": ["nOffered"]}) == []


def test_unknown_field_gets_the_closest_real_one() -> None:
    problem = only(lint(with_(granulariti="P1D", granularity=None)), "granulariti")
    assert problem.message == "unknown field 'granulariti'"
    assert "'granularity'" in problem.fix


def test_missing_metrics_and_empty_metrics() -> None:
    assert "missing" in only(lint(with_(metrics=None)), "metrics").message
    assert "non-empty list" in only(lint(with_(metrics=[])), "metrics").message
    assert only(lint(with_(metrics="nOffered")), "metrics").fix == '"metrics": ["nOffered"]'


@pytest.mark.parametrize(
    ("typo", "meant"), [("nOfered", "nOffered"), ("thandle", "tHandle"), ("tTalkCompleted", "tTalkComplete")]
)
def test_unknown_metric_gets_the_closest_match(typo: str, meant: str) -> None:
    problem = only(lint(with_(metrics=["nOffered", typo])), "metrics[1]")
    assert problem.message == f"unknown metric {typo!r}"
    assert problem.fix == f"did you mean {meant!r}?"


def test_metric_without_a_near_match_says_so() -> None:
    problem = only(lint(with_(metrics=["zzzzzz"])), "metrics[0]")
    assert "allowed metric names" in problem.fix


def test_interval_without_offset_gets_the_zone_offset_at_each_end() -> None:
    body = with_(interval="2026-11-01T00:00:00/2026-11-02T00:00:00")
    problems = lint(body)
    assert [p.field for p in problems] == ["interval", "interval"]
    assert all("offset" in p.message for p in problems)
    assert "2026-11-01T00:00:00.000-04:00" in problems[0].fix
    assert "2026-11-02T00:00:00.000-05:00" in problems[1].fix


def test_interval_of_bare_dates_is_explained() -> None:
    problems = lint(with_(interval="2026-11-01/2026-11-02"))
    assert "date without time or offset" in problems[0].message
    assert "exclusive" in problems[1].fix


def test_reversed_interval_suggests_the_swap() -> None:
    problem = only(
        lint(with_(interval="2026-11-02T00:00:00Z/2026-11-01T00:00:00Z", timeZone="UTC")), "interval"
    )
    assert "before the start" in problem.message
    assert suggested_interval(problem) == "2026-11-01T00:00:00.000+00:00/2026-11-02T00:00:00.000+00:00"


def test_empty_interval_is_explained() -> None:
    problem = only(
        lint(with_(interval="2026-11-01T00:00:00Z/2026-11-01T00:00:00Z", timeZone="UTC")), "interval"
    )
    assert "empty" in problem.message


@pytest.mark.parametrize(
    "text", ["2026-11-31T00:00:00Z/2026-12-01T00:00:00Z", "yesterday/today", "2026-11-01T25:00Z/x"]
)
def test_unparseable_dates_are_reported(text: str) -> None:
    problems = lint(with_(interval=text))
    assert problems
    assert all(p.field == "interval" for p in problems)
    assert any("cannot be parsed" in p.message for p in problems)
    assert all("2026-03-08T00:00:00.000-05:00" in p.fix for p in problems if "cannot be parsed" in p.message)


def test_start_slash_duration_is_refused_with_the_end_computed() -> None:
    problem = only(lint(with_(interval="2026-11-01T00:00:00Z/P1D", timeZone="UTC")), "interval")
    assert "undocumented" in problem.message
    assert suggested_interval(problem) == "2026-11-01T00:00:00.000+00:00/2026-11-02T00:00:00.000+00:00"


def test_a_single_instant_is_not_an_interval() -> None:
    problem = only(lint(with_(interval="2026-11-01T00:00:00-04:00")), "interval")
    assert "single instant" in problem.message
    assert suggested_interval(problem) == "2026-11-01T00:00:00.000-04:00/2026-11-02T00:00:00.000-05:00"


def test_interval_that_is_not_a_string() -> None:
    problem = only(lint(with_(interval=["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"])), "interval")
    assert "string" in problem.message


def test_interval_over_seven_days_is_flagged() -> None:
    problem = only(
        lint(with_(interval="2026-01-01T00:00:00Z/2026-01-15T00:00:00Z", timeZone="UTC")), "interval"
    )
    assert "14 days" in problem.message
    assert "at most 7 days" in problem.fix


def test_granularity_that_does_not_tile_a_dst_day_with_a_wrong_offset() -> None:
    # The end offset is wrong for the 9th (-04:00 after the change): it is 01:00 local.
    body = with_(interval="2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-05:00")
    problem = only(lint(body), "granularity")
    assert "does not divide" in problem.message
    assert "2026-03-09 01:00" in problem.message
    assert suggested_interval(problem) == GOOD["interval"]


def test_granularity_with_utc_bounds_but_a_local_zone_does_not_tile() -> None:
    body = with_(interval="2026-11-24T00:00:00Z/2026-11-25T00:00:00Z")
    problem = only(lint(body), "granularity")
    assert suggested_interval(problem) == "2026-11-24T00:00:00.000-05:00/2026-11-25T00:00:00.000-05:00"


def test_local_offsets_without_a_time_zone_ask_for_one() -> None:
    problem = only(lint(with_(timeZone=None)), "granularity")
    assert '"timeZone"' in problem.fix


@pytest.mark.parametrize(
    ("granularity", "clean"),
    [
        ("PT7M", False),
        ("PT15M", True),
        ("PT1H", True),
        ("P1D", True),
        ("P2D", False),
        ("P1M", False),
        ("PT25H", False),
    ],
)
def test_granularity_must_divide_the_interval(granularity: str, clean: bool) -> None:
    body = {
        "interval": "2026-11-24T00:00:00Z/2026-11-25T00:00:00Z",
        "granularity": granularity,
        "metrics": ["nOffered"],
    }
    assert (lint(body) == []) is clean


def test_granularity_that_is_not_a_duration() -> None:
    problem = only(lint(with_(granularity="daily")), "granularity")
    assert "not an ISO-8601 duration" in problem.message
    assert '"granularity": "P1D"' in problem.fix


def test_unknown_time_zone_gets_the_closest_name() -> None:
    problem = only(lint(with_(timeZone="America/NewYork")), "timeZone")
    assert "unknown time zone" in problem.message
    assert problem.fix == '"timeZone": "America/New_York"'


def test_unknown_group_by_dimension_gets_the_closest_match() -> None:
    problem = only(lint(with_(groupBy=["queueID", "mediaType"])), "groupBy[0]")
    assert problem.fix == "did you mean 'queueId'?"
    assert "must be a list" in only(lint(with_(groupBy="queueId")), "groupBy").message


def test_filter_dimension_and_shape_are_checked() -> None:
    body = with_(
        filter={
            "type": "AND",
            "predicates": [
                {"dimension": "queue", "value": "q1"},
                {"dimension": "mediaType", "value": ["voice", "chat"]},
            ],
            "clauses": [
                {"type": "or", "predicates": [{"dimension": "queueId", "operator": "equals", "value": "q"}]}
            ],
        }
    )
    problems = {p.field: p for p in lint(body)}
    assert problems["filter.type"].fix == "did you mean 'and'?"
    assert problems["filter.predicates[0].dimension"].message == 'unknown filter dimension "queue"'
    assert problems["filter.predicates[0].dimension"].fix == "did you mean 'queueId'?"
    assert "one string" in problems["filter.predicates[1].value"].message
    assert "filter.clauses[0].predicates[0].operator" in problems


def test_a_valid_filter_is_clean() -> None:
    body = with_(
        filter={
            "type": "and",
            "clauses": [
                {
                    "type": "or",
                    "predicates": [
                        {"dimension": "queueId", "value": "a"},
                        {"dimension": "queueId", "value": "b"},
                    ],
                }
            ],
            "predicates": [
                {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"}
            ],
        }
    )
    assert lint(body) == []


@pytest.mark.parametrize(
    ("body", "kind"), [([GOOD], "an array"), ("P1D", "a string"), (None, "null"), (7, "a number")]
)
def test_non_object_json_is_refused(body: object, kind: str) -> None:
    [problem] = lint(body)
    assert problem.field == "(body)"
    assert problem.message == f"the body must be a JSON object, not {kind}"


def test_invalid_json_text_points_at_the_position() -> None:
    [problem] = lint_text('{"interval": "P1D",\n  metrics: []}', today=TODAY)
    assert problem.field == "(body)"
    assert "line 2, column 3" in problem.message


def test_lint_text_lints_the_parsed_body() -> None:
    assert (
        lint_text('{"interval": "2026-11-24T00:00:00Z/2026-11-25T00:00:00Z", "metrics": ["nOffered"]}') == []
    )


def test_format_problems_lists_each_problem_with_its_fix() -> None:
    problems = lint({"interval": "P1D", "groupings": ["queueId"]})
    text = format_problems(problems)
    lines = text.splitlines()
    assert lines[0] == "3 problems found:"
    assert sum(line.startswith("- ") for line in lines) == 3
    assert sum(line.startswith("  fix: ") for line in lines) == 3
    assert "- groupings:" in text
    assert "- interval:" in text
    assert format_problems([]).startswith("no problems found")
    assert format_problems(problems[:1]).startswith("1 problem found:")


def test_default_today_is_used_when_not_given() -> None:
    problem = only(lint_body({"interval": "P1D", "metrics": ["nOffered"]}), "interval")
    assert re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T00:00:00\.000\+00:00/\d{4}-\d{2}-\d{2}T00:00:00\.000\+00:00",
        suggested_interval(problem),
    )


@pytest.mark.parametrize("granularity", ["P0D", "PT0S", "P0M"])
def test_an_empty_granularity_is_refused(granularity: str) -> None:
    problem = only(lint(with_(granularity=granularity)), "granularity")
    assert "empty duration" in problem.message


# --- the longest interval and the P1D grid, pinned at their edges ---------------------------------------


def test_an_eight_day_interval_is_flagged_and_seven_days_are_not() -> None:
    eight = lint(with_(interval="2026-01-01T00:00:00Z/2026-01-09T00:00:00Z", timeZone="UTC"))
    assert "8 days" in only(eight, "interval").message
    assert lint(with_(interval="2026-01-01T00:00:00Z/2026-01-08T00:00:00Z", timeZone="UTC")) == []


def test_seven_local_days_with_a_25_hour_day_are_not_flagged() -> None:
    # 2026-11-01 is 25 hours long in New York: the seven days are 169 hours, still seven days.
    body = with_(interval="2026-10-29T00:00:00.000-04:00/2026-11-05T00:00:00.000-05:00")
    assert lint(body) == []
    eight = with_(interval="2026-10-29T00:00:00.000-04:00/2026-11-06T00:00:00.000-05:00")
    assert "interval" in {problem.field for problem in lint(eight)}


@pytest.mark.parametrize(
    "interval",
    [
        "2026-11-24T06:00:00.000-05:00/2026-11-25T06:00:00.000-05:00",  # 06:00 to 06:00 local
        "2026-11-24T00:30:00.000-05:00/2026-11-25T00:30:00.000-05:00",  # half past midnight
    ],
)
def test_a_p1d_body_that_does_not_start_at_local_midnight_is_flagged(interval: str) -> None:
    problem = only(lint(with_(interval=interval)), "granularity")
    assert "does not divide" in problem.message
    assert suggested_interval(problem).startswith("2026-11-24T00:00:00.000-05:00/")


# --- the lint subcommand: exit status, any bytes, any depth, a bounded listing -----------------------


def _lint_command(
    tmp_path: Any, data: bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], str]:
    from genesys_etl import cli

    path = tmp_path / "body.json"
    path.write_bytes(data)
    status = cli.main(["lint", str(path)], env={})
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return status, captured.out.splitlines(), captured.err


def test_the_lint_command_exits_0_on_a_clean_body_and_1_on_problems(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    status, out, _ = _lint_command(tmp_path, json.dumps(GOOD).encode(), capsys)
    assert status == 0
    assert out == [f"{tmp_path / 'body.json'}: OK — a valid aggregates query body"]
    bad = {"interval": "P1D", "groupings": ["queueId"], "metrics": ["nOffered"]}
    status, out, _ = _lint_command(tmp_path, json.dumps(bad).encode(), capsys)
    assert status == 1
    assert out[0] == "2 problems found:"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b'{"interval": "P1D", "metrics": ["nOff\xe9red"]}', "not UTF-8 text: byte 0xe9 at offset 37"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 text: byte 0xff at offset 0"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"filter": ' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    ],
    ids=["latin-1", "utf-16", "deep-array", "deep-object"],
)
def test_the_lint_command_explains_unreadable_bodies_in_one_problem(
    data: bytes, says: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _lint_command(tmp_path, data, capsys)
    assert status == 1
    assert out[0] == "1 problem found:"
    assert says in out[1]
    assert err == ""


def test_the_lint_command_caps_its_listing(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    body = {**GOOD, "metrics": [f"nOfered{i}" for i in range(2000)]}
    status, out, _ = _lint_command(tmp_path, json.dumps(body).encode(), capsys)
    assert status == 1
    assert out[0] == "2000 problems found:"
    assert len(out) == 1 + 2 * 50 + 1
    assert out[-1].startswith("… and 1950 more")


def test_a_missing_lint_file_is_bad_input(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from genesys_etl import cli

    status = cli.main(["lint", str(tmp_path / "absent.json")], env={})
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1
    assert "cannot read" in err[0]
