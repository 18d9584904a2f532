"""Rendering of computed aggregates: the API's JSON answer and the ground-truth table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from genesys_sim.data import DIRECTIONS, Answer
from genesys_sim.org import format_utc

# Stats per metric family, in the order Genesys writes them (reference: "The response").
STAT_ORDER: dict[str, tuple[str, ...]] = {
    "n": ("count",),
    "t": ("max", "min", "count", "sum"),
    "o": ("ratio", "numerator", "denominator", "target"),
}
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "metric_date",
    "queue_id",
    "media_type",
    "metric",
    "count",
    "sum",
    "min",
    "max",
    "numerator",
    "denominator",
    "ratio",
    "target",
)


def _metric_template(family: str, name: str, with_target: bool) -> str:
    head = '{"metric":"' + name + '","stats":{'
    if family == "n":
        return head + '"count":%d}}'
    if family == "t":
        return head + '"max":%d,"min":%d,"count":%d,"sum":%d}}'
    return head + '"ratio":%r,"numerator":%d,"denominator":%d' + (',"target":%r}}' if with_target else "}}")


def render_answer(answer: Answer) -> str:
    """Render a computed answer as the JSON text of a ``ConversationAggregateQueryResponse``.

    Metrics without data and groups without any data are left out; an answer without data is ``{}``.

    Args:
        answer: the computed answer.

    Returns:
        The JSON document.
    """
    buckets = len(answer.boundaries) - 1
    split = answer.split_direction
    columns = len(answer.groups) * (2 if split else 1)
    cells = buckets * columns

    def by_cell(values: Any, direction: int) -> Any:
        """Align a (buckets, groups) array to the flat (bucket, column) cells."""
        if not split:
            return values.reshape(cells)
        full = np.zeros((buckets, columns), dtype=values.dtype)
        full[:, direction::2] = values
        return full.reshape(cells)

    # One bit per metric (and one per service-level target) tells which metrics a cell has; cells
    # with the same bits share one format string, filled in one step per cell.
    code = np.zeros(cells, dtype=np.int64)
    parts: list[tuple[int, int, Any]] = []  # (bit of the metric, bit of its target or 0, block)
    bit = 1
    for block in answer.blocks:
        code |= by_cell(block.present, block.spec.direction).astype(np.int64) * bit
        target_bit = 0
        if block.spec.family == "o":
            target_bit = bit << 1
            has_target = block.present & ~np.isnan(block.stats["target"])
            code |= by_cell(has_target, block.spec.direction).astype(np.int64) * target_bit
        parts.append((bit, target_bit, block))
        bit <<= 2
    intervals = [
        f"{format_utc(answer.boundaries[i])}/{format_utc(answer.boundaries[i + 1])}" for i in range(buckets)
    ]
    cell_texts: list[str | None] = [None] * cells
    aligned: dict[tuple[int, str], Any] = {}
    order = np.argsort(code, kind="stable")
    sorted_codes = code[order]
    edges = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1], True])
    for first, stop in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        value = int(sorted_codes[first])
        if value == 0:
            continue
        chosen = order[first:stop]
        templates: list[str] = []
        arguments: list[list[Any]] = [[intervals[c // columns] for c in chosen.tolist()]]
        for metric_bit, target_bit, block in parts:
            if not value & metric_bit:
                continue
            with_target = bool(value & target_bit)
            templates.append(_metric_template(block.spec.family, block.spec.name, with_target))
            for stat in STAT_ORDER[block.spec.family]:
                if stat == "target" and not with_target:
                    continue
                key = (metric_bit, stat)
                if key not in aligned:
                    aligned[key] = by_cell(block.stats[stat], block.spec.direction)
                arguments.append(aligned[key][chosen].tolist())
        template = '{"interval":"%s","metrics":[' + ",".join(templates) + "]}"
        texts = [template % row for row in zip(*arguments, strict=True)]
        for cell, text in zip(chosen.tolist(), texts, strict=True):
            cell_texts[cell] = text
    results = []
    for column in range(columns):
        data = [t for t in cell_texts[column::columns] if t is not None]
        if data:
            group = dict(answer.groups[column // 2] if split else answer.groups[column])
            if split:
                group["direction"] = DIRECTIONS[column % 2]
            results.append(
                f'{{"group":{json.dumps(group, separators=(",", ":"))},"data":[{",".join(data)}]}}'
            )
    if not results:
        return "{}"
    return '{"results":[' + ",".join(results) + "]}"


def answer_frame(answer: Answer, days: Sequence[date]) -> pd.DataFrame:
    """Flatten an answer grouped by (queueId, mediaType), one bucket per local day, into rows.

    Args:
        answer: computed with ``group_by=("queueId", "mediaType")`` and ``attributed_only=True``.
        days: the local date of each bucket.

    Returns:
        One row per (metric_date, queue_id, media_type, metric) with data, columns
        GROUND_TRUTH_COLUMNS (NaN where a stat does not apply), sorted by the first four.
    """
    frames = []
    for block in answer.blocks:
        rows, groups = np.nonzero(block.present)
        if rows.size == 0:
            continue
        frame: dict[str, Any] = {
            "metric_date": [days[r] for r in rows.tolist()],
            "queue_id": [answer.groups[g].get("queueId") for g in groups.tolist()],
            "media_type": [answer.groups[g].get("mediaType") for g in groups.tolist()],
            "metric": block.spec.name,
        }
        for column in GROUND_TRUTH_COLUMNS[4:]:
            values = block.stats.get(column)
            frame[column] = values[rows, groups].astype(np.float64) if values is not None else np.nan
        frames.append(pd.DataFrame(frame))
    if not frames:
        empty = {
            c: pd.Series(dtype=object if i < 4 else "float64") for i, c in enumerate(GROUND_TRUTH_COLUMNS)
        }
        return pd.DataFrame(empty)
    result = pd.concat(frames, ignore_index=True)[list(GROUND_TRUTH_COLUMNS)]
    return result.sort_values(["metric_date", "queue_id", "media_type", "metric"], ignore_index=True)
