"""Server-drawn SVG charts: well-formed, escaped, readable with zeros, one point or none."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import Markup

from wagate.store.repositories.activity import RateBucket, StatusChange
from wagate.web.charts import (
    STATUS_DOWN,
    STATUS_PENDING,
    STATUS_UP,
    Series,
    StatusBand,
    line_chart,
    rate_series,
    status_bands,
    status_timeline,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert(\"x\")</script> & 'q'"


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iterfind(".//svg:text", NS)]


def _buckets(values: list[tuple[int, int, int]]) -> list[RateBucket]:
    return [RateBucket(_at(i), *counts) for i, counts in enumerate(values)]


def test_a_line_chart_is_accessible_and_labelled() -> None:
    series = rate_series(_buckets([(i % 4, 2, 1 if i == 90 else 0) for i in range(180)]))
    root = _parse(line_chart(series, title="Messages per minute"))

    assert root.findtext("svg:title", namespaces=NS) == "Messages per minute"
    label = root.get("aria-label") or ""
    assert label.startswith("Messages per minute. From 09:00 to 11:59 UTC")
    assert "failed: total 1, peak 1 at 10:30 UTC" in label
    assert root.findtext("svg:desc", namespaces=NS) in label
    lines = root.findall(".//svg:polyline", NS)
    assert [line.get("class") for line in lines] == [
        "series series-sent",
        "series series-received",
        "series series-failed",
    ]
    assert [line.get("stroke") for line in lines] == ["#2563eb", "#16a34a", "#dc2626"]
    assert all(len((line.get("points") or "").split()) == 180 for line in lines)
    texts = _texts(root)
    assert {"0", "5", "times in UTC", "sent", "received", "failed"} <= set(texts)
    times = [t for t in texts if len(t) == 5 and t[2] == ":"]
    assert times == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]


def test_hostile_text_is_escaped() -> None:
    series = [Series(HOSTILE, 'x" onload="alert(1)', [(_at(0), 1), (_at(1), 2)], colour='red"/>')]
    svg = line_chart(series, title=HOSTILE)
    assert "<script" not in str(svg)
    root = _parse(svg)
    assert root.get("onload") is None
    assert root.findtext("svg:title", namespaces=NS) == HOSTILE
    assert HOSTILE in (root.get("aria-label") or "")
    (line,) = root.findall(".//svg:polyline", NS)
    assert line.get("class") == 'series x" onload="alert(1)'
    assert line.get("stroke") == 'red"/>'
    assert line.get("onload") is None
    assert HOSTILE in _texts(root)


def test_all_zeros_draw_flat_lines_on_the_axis() -> None:
    root = _parse(line_chart(rate_series(_buckets([(0, 0, 0)] * 10)), title="Quiet"))
    ys = {
        pair.split(",")[1]
        for line in root.findall(".//svg:polyline", NS)
        for pair in (line.get("points") or "").split()
    }
    assert ys == {"160.0"}  # the baseline: height 200 - 40
    assert {"0", "1"} <= set(_texts(root))
    assert "sent: total 0, peak 0" in (root.get("aria-label") or "")


def test_one_point_is_a_dot_in_the_middle() -> None:
    root = _parse(line_chart([Series("sent", "series-sent", [(_at(0), 3)])], title="One"))
    assert root.findall(".//svg:polyline", NS) == []
    (dot,) = root.findall(".//svg:circle", NS)
    assert dot.get("cx") == "332.0"  # halfway between 44 and 620
    assert dot.get("class") == "series series-sent"
    assert "09:00" in _texts(root)


def test_no_points_say_so() -> None:
    root = _parse(line_chart([Series("sent", "series-sent", [])], title="Empty"))
    assert "No data" in _texts(root)
    assert root.get("aria-label") == "Empty. No data."
    root = _parse(line_chart([], title="Nothing"))
    assert "No data" in _texts(root)


def test_bad_input_is_refused() -> None:
    naive = datetime(2026, 1, 5, 9, 0)
    with pytest.raises(ValueError, match="naive"):
        line_chart([Series("s", "series-sent", [(naive, 1)])], title="t")
    with pytest.raises(ValueError, match="finite"):
        line_chart([Series("s", "series-sent", [(T0, float("nan"))])], title="t")
    with pytest.raises(ValueError, match="pixels"):
        line_chart([], width=100, title="t")
    with pytest.raises(ValueError, match="after"):
        status_timeline([], T0, T0, title="t")


CHANGES = [  # newest first, as status_changes returns them
    StatusChange("s1", _at(90), "reconnecting", "connected", "stream <error>"),
    StatusChange("s2", _at(60), "failed", "connected", None),
    StatusChange("s1", _at(30), "connected", "qr", None),
]


def test_bands_start_from_the_previous_status() -> None:
    bands = status_bands(CHANGES, T0, _at(180), current={"s3": "connected"})
    assert bands == {
        "s3": [StatusBand(T0, _at(180), "connected", None)],
        "s1": [
            StatusBand(T0, _at(30), "qr", None),
            StatusBand(_at(30), _at(90), "connected", None),
            StatusBand(_at(90), _at(180), "reconnecting", "stream <error>"),
        ],
        "s2": [
            StatusBand(T0, _at(60), "connected", None),
            StatusBand(_at(60), _at(180), "failed", None),
        ],
    }


def test_status_timeline_draws_coloured_bands_per_session() -> None:
    svg = status_timeline(
        CHANGES,
        T0,
        _at(180),
        title="Session status",
        current={"s3": "stopped"},
        labels={"s1": HOSTILE, "s2": "sales", "s4": "new"},
    )
    assert "<script" not in str(svg)
    root = _parse(svg)
    rows = root.findall(".//svg:g[@class='timeline-row']", NS)
    assert len(rows) == 4  # s1, s2, s4 (labels), then s3 (current)
    fills = [[rect.get("fill") for rect in row.iterfind("svg:rect", NS)] for row in rows]
    assert fills == [
        [STATUS_PENDING.colour, STATUS_UP.colour, STATUS_PENDING.colour],
        [STATUS_UP.colour, STATUS_DOWN.colour],
        ["#9ca3af"],  # s4: nothing known
        [STATUS_DOWN.colour],
    ]
    first = rows[0].find("svg:rect", NS)
    assert first is not None
    assert first.get("class") == "status status-pending status-qr"
    assert first.get("x") == "130.0"
    tips = ["".join(t.itertext()) for t in rows[0].iterfind("svg:rect/svg:title", NS)]
    assert tips[-1] == f"{HOSTILE}: reconnecting from 10:30 to 12:00 UTC (stream <error>)"
    label = root.get("aria-label") or ""
    assert "sales: failed at the end, 1 change;" in label
    assert "new: unknown at the end, 0 changes" in label
    assert "unknown" in _texts(root)  # the legend shows the grey band's meaning


def test_status_timeline_without_sessions() -> None:
    root = _parse(status_timeline([], T0, _at(60), title="Nobody"))
    assert "No sessions" in _texts(root)
    assert root.get("aria-label") == "Nobody. No sessions."


def test_changes_of_the_same_instant_keep_their_log_order() -> None:
    same = [  # newest first: stopped -> starting -> qr -> connected, all at one instant
        StatusChange("s1", _at(30), "connected", "qr", None),
        StatusChange("s1", _at(30), "qr", "starting", None),
        StatusChange("s1", _at(30), "starting", "stopped", None),
    ]
    assert status_bands(same, T0, _at(60)) == {
        "s1": [
            StatusBand(T0, _at(30), "stopped", None),
            StatusBand(_at(30), _at(60), "connected", None),
        ]
    }
