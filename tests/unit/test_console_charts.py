"""SVG charts: parsed back, their points sit on the axes' scales, and tenant text stays text."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.console.charts import bar_chart, line_chart

NS = "{http://www.w3.org/2000/svg}"
TAGS = {f"{NS}{t}" for t in ("svg", "title", "desc", "rect", "text", "g", "line", "polyline",
                             "circle")}  # fmt: skip
D1 = date(2026, 5, 1)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - the code under test made it: no entities, no DTD


def _y_scale(root: ET.Element) -> tuple[float, float, float, float]:
    """(value, y) of the lowest and highest y tick, read from the SVG's own labels."""
    ticks = [(float(t.text or ""), float(t.attrib["y"]))
             for t in root.iter(f"{NS}text") if t.get("class") == "y-tick"]  # fmt: skip
    (v0, y0), (v1, y1) = min(ticks), max(ticks)
    return v0, y0, v1, y1


def _y_of(root: ET.Element, value: float) -> float:
    v0, y0, v1, y1 = _y_scale(root)
    return y0 + (value - v0) / (v1 - v0) * (y1 - y0)


def _series(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if "series" in (g.get("class") or "").split()]


def test_a_line_chart_places_points_on_its_date_and_value_scales() -> None:
    svg = line_chart(
        {"facebook": [(D1 + timedelta(days=4), 8.0), (D1, 2.0), (D1 + timedelta(days=1), 3.0)],
         "instagram": [(D1 + timedelta(days=2), 5.5)]},
        title="Posts per day", y_label="posts",
    )  # fmt: skip
    root = _parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Posts per day"
    assert root.findtext(f"{NS}title") == "Posts per day"
    desc = root.findtext(f"{NS}desc") or ""
    assert "facebook: 2026-05-01 2, 2026-05-02 3, 2026-05-05 8." in desc
    assert "instagram: 2026-05-03 5.5." in desc
    v0, _, v1, _ = _y_scale(root)
    assert (v0, v1) == (0.0, 10.0)  # 8 rounded up to a round number
    facebook, instagram = _series(root)
    line = facebook.find(f"{NS}polyline")
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
    xs = [x for x, _ in points]
    assert xs == sorted(xs)  # drawn in date order whatever the input order
    left, right = xs[0], xs[-1]
    assert xs[1] == pytest.approx(left + (right - left) / 4, abs=0.1)  # day 1 of 4
    for (_, y), value in zip(points, (2.0, 3.0, 8.0), strict=True):
        assert y == pytest.approx(_y_of(root, value), abs=0.1)
    [dot] = instagram.iter(f"{NS}circle")
    assert float(dot.attrib["cx"]) == pytest.approx(left + (right - left) / 2, abs=0.1)
    assert float(dot.attrib["cy"]) == pytest.approx(_y_of(root, 5.5), abs=0.1)
    assert dot.findtext(f"{NS}title") == "instagram, 2026-05-03: 5.5"
    x_ticks = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "x-tick"]
    assert x_ticks[0] == "2026-05-01"


def test_series_differ_by_more_than_colour() -> None:
    root = _parse(line_chart({"a": [(D1, 1.0)], "b": [(D1, 2.0)]}, title="t", y_label="y"))
    lines = [g.find(f"{NS}polyline") for g in _series(root)]
    dashes = [line.get("stroke-dasharray") if line is not None else "?" for line in lines]
    assert dashes[0] != dashes[1]


def test_a_bar_chart_draws_bars_from_zero_in_category_order() -> None:
    svg = bar_chart(
        {"posted": [("job-b", 4.0), ("job-a", 2.0)], "failed": [("job-a", 1.0)]},
        title="Per job", y_label="posts",
    )  # fmt: skip
    root = _parse(svg)
    posted, failed = _series(root)
    bars = {r.findtext(f"{NS}title"): r for r in posted.iter(f"{NS}rect")}
    assert set(bars) == {"posted, job-b: 4", "posted, job-a: 2"}
    zero = _y_of(root, 0.0)
    for title, value in (("posted, job-b: 4", 4.0), ("posted, job-a: 2", 2.0)):
        rect = bars[title]
        top, height = float(rect.attrib["y"]), float(rect.attrib["height"])
        assert top == pytest.approx(_y_of(root, value), abs=0.1)
        assert top + height == pytest.approx(zero, abs=0.1)
    # job-b came first, so its band is left of job-a's; the failed bar shares job-a's band.
    assert float(bars["posted, job-b: 4"].attrib["x"]) < float(bars["posted, job-a: 2"].attrib["x"])
    [failed_bar] = failed.iter(f"{NS}rect")
    a_left = float(bars["posted, job-a: 2"].attrib["x"])
    width = float(failed_bar.attrib["width"])
    assert float(failed_bar.attrib["x"]) == pytest.approx(a_left + width, abs=0.2)
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "x-tick"] == [
        "job-b", "job-a",
    ]  # fmt: skip


def test_bar_chart_dates_are_in_date_order() -> None:
    root = _parse(bar_chart({"f": [(D1 + timedelta(days=1), 1.0), (D1, 2.0)]}, title="t",
                            y_label="y"))  # fmt: skip
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "x-tick"] == [
        "2026-05-01", "2026-05-02",
    ]  # fmt: skip


def test_negative_bars_hang_below_zero() -> None:
    root = _parse(bar_chart({"delta": [("a", -3.0), ("b", 2.0)]}, title="t", y_label="y"))
    rects = {r.findtext(f"{NS}title"): r for r in _series(root)[0].iter(f"{NS}rect")}
    zero = _y_of(root, 0.0)
    assert float(rects["delta, a: -3"].attrib["y"]) == pytest.approx(zero, abs=0.1)


def test_hostile_text_cannot_inject_markup() -> None:
    hostile = '</title><script>alert(1)</script><g onload="x">&amp;\x00\x1b'
    svg = line_chart({hostile: [(D1, 1.0)]}, title=hostile, y_label=f'"{hostile}')
    root = _parse(svg)
    everything = list(root.iter())
    assert {e.tag for e in everything} <= TAGS
    assert not any(name.startswith("on") for e in everything for name in e.attrib)
    shown = hostile.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")
    assert root.findtext(f"{NS}title") == shown
    assert root.get("aria-label") == shown
    assert _series(root)[0].findtext(f"{NS}title") == shown
    bar_root = _parse(bar_chart({hostile: [(hostile, 1.0)]}, title=hostile, y_label=hostile))
    assert {e.tag for e in bar_root.iter()} <= TAGS


def test_output_is_deterministic_and_follows_series_order() -> None:
    data = {"b": [(D1, 1.0)], "a": [(D1, 2.0)]}
    first = line_chart(data, title="t", y_label="y")
    assert first == line_chart(dict(data), title="t", y_label="y")
    assert [g.findtext(f"{NS}title") for g in _series(_parse(first))] == ["b", "a"]


def test_no_data_and_non_finite_values() -> None:
    for svg in (line_chart({}, title="t", y_label="y"), bar_chart({"a": []}, title="t",
                                                                    y_label="y")):  # fmt: skip
        root = _parse(svg)
        assert "No data" in [t.text for t in root.iter(f"{NS}text")]
    root = _parse(line_chart({"a": [(D1, math.nan), (D1, math.inf), (D1, 2.0)]}, title="t",
                             y_label="y"))  # fmt: skip
    assert len(list(root.iter(f"{NS}circle"))) == 1


@given(
    title=st.text(max_size=60),
    names=st.lists(st.text(max_size=20), min_size=1, max_size=4, unique=True),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=8),
)
def test_any_text_and_values_give_a_parsable_svg(
    title: str, names: list[str], values: list[float]
) -> None:
    series = {n: [(D1 + timedelta(days=i), v) for i, v in enumerate(values)] for n in names}
    finite = sum(math.isfinite(v) for v in values) * len(names)
    line_root = _parse(line_chart(series, title=title, y_label=title))
    assert len(list(line_root.iter(f"{NS}circle"))) == finite
    bar_root = _parse(bar_chart(series, title=title, y_label=title))
    bars = [r for g in _series(bar_root) for r in g.iter(f"{NS}rect")]
    assert len(bars) == finite
    for root in (line_root, bar_root):
        assert {e.tag for e in root.iter()} <= TAGS
        assert root.get("aria-label") == root.findtext(f"{NS}title")
        for element in root.iter():
            for name in ("x", "y", "cx", "cy", "width", "height"):
                if name in element.attrib and not element.attrib[name].endswith("%"):
                    assert math.isfinite(float(element.attrib[name]))
