"""Line and bar charts as SVG, for the console's analytics pages (pure, no I/O).

The SVG is built with `xml.etree.ElementTree`, which escapes every text and attribute, so
a title, label or series name from tenant data is shown as text and never becomes markup.
Output is deterministic (same input, same bytes): series keep the order given, numbers are
written with fixed precision. Each chart is an image with an accessible name (`role="img"`,
`aria-label`, `<title>`) and a `<desc>` that states its data in words; series differ by
dash pattern or hatching as well as by colour, and every point or bar has a `<title>`
(a tooltip) with its exact value.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

Category = date | str
_C = TypeVar("_C", bound=Category)

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe-Ito colours: told apart with the common colour-vision deficiencies."""

DASHES = ("", "6 3", "2 3", "8 3 2 3")
INK = "#1f2933"  # text and axes: contrast above 12:1 on white
GRID = "#d9dee3"
MAX_LABEL = 40  # characters of a series name or category shown; the <title>s hold it whole
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 36, 40
_LEGEND_LINE = 18
_Y_TICKS = 5
_MAX_X_LABELS = 6
# Characters XML 1.0 cannot hold (and unpaired surrogates): replaced, so the SVG parses.
_ONE_LINE = str.maketrans("\t\n\r", "   ")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class _Frame:
    """The plot area inside the SVG and the value range its height shows."""

    width: int
    height: int
    low: float
    high: float

    @property
    def bottom(self) -> float:
        return float(self.height - _BOTTOM)

    @property
    def plot_width(self) -> float:
        return float(self.width - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        span = self.high - self.low
        return self.bottom - (value - self.low) / span * (self.bottom - _TOP)


def line_chart(
    series: Mapping[str, Sequence[tuple[date, float]]],
    *,
    title: str,
    y_label: str,
    width: int = 640,
    height: int = 300,
) -> str:
    """One line per series over a time axis (dates placed by their distance in days)."""
    clean = {name: sorted(_finite(points)) for name, points in series.items()}
    values = [v for points in clean.values() for _, v in points]
    days = sorted({d.toordinal() for points in clean.values() for d, _ in points})
    frame = _Frame(width, height, *_value_range(values))
    svg, plot = _canvas(frame, title, y_label, description=_describe(clean),
                        series_count=len(clean), has_data=bool(values))  # fmt: skip

    def x(day: date) -> float:
        if len(days) < 2:
            return _LEFT + frame.plot_width / 2
        return _LEFT + (day.toordinal() - days[0]) / (days[-1] - days[0]) * frame.plot_width

    for ordinal in _spread(days, _MAX_X_LABELS):
        day = date.fromordinal(ordinal)
        _x_label(plot, x(day), frame, day.isoformat())
    for index, (name, points) in enumerate(clean.items()):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        group = _el(plot, "g", class_=f"series series-{index}")
        _el(group, "title", name)
        coordinates = " ".join(f"{_n(x(d))},{_n(frame.y(v))}" for d, v in points)
        line = _el(group, "polyline", points=coordinates, fill="none", stroke=colour,
                   stroke_width=2)  # fmt: skip
        if dash:
            line.set("stroke-dasharray", dash)
        for day, value in points:
            dot = _el(group, "circle", cx=x(day), cy=frame.y(value), r=3, fill=colour)
            _el(dot, "title", f"{name}, {day.isoformat()}: {_v(value)}")
    _legend(svg, frame, list(clean), kind="line")
    return _serialised(svg)


def bar_chart(
    series: Mapping[str, Sequence[tuple[Category, float]]],
    *,
    title: str,
    y_label: str,
    width: int = 640,
    height: int = 300,
) -> str:
    """Grouped bars: one band per category (a date, a platform, a job), one bar per series.

    Categories are in date order when all are dates, else in the order they first appear.
    """
    clean = {name: _finite(points) for name, points in series.items()}
    categories = _categories(clean)
    values = [v for points in clean.values() for _, v in points]
    frame = _Frame(width, height, *_value_range(values))
    svg, plot = _canvas(frame, title, y_label, description=_describe(clean),
                        series_count=len(clean), has_data=bool(values))  # fmt: skip
    band = frame.plot_width / max(len(categories), 1)
    bar = band * 0.8 / max(len(clean), 1)
    zero = frame.y(max(frame.low, 0.0))
    shown = set(_spread(list(range(len(categories))), _MAX_X_LABELS * 2))
    for slot, category in enumerate(categories):
        if slot in shown:
            _x_label(plot, _LEFT + band * (slot + 0.5), frame, _label(category))
    for index, (name, points) in enumerate(clean.items()):
        colour = PALETTE[index % len(PALETTE)]
        group = _el(plot, "g", class_=f"series series-{index}")
        _el(group, "title", name)
        for category, value in points:
            left = _LEFT + band * categories.index(category) + band * 0.1 + bar * index
            top = min(frame.y(value), zero)
            rect = _el(group, "rect", x=left, y=top, width=bar,
                       height=abs(frame.y(value) - zero), fill=colour)  # fmt: skip
            if index % 2:  # outlined, so neighbours differ in more than colour
                rect.set("stroke", INK)
            _el(rect, "title", f"{name}, {_label(category)}: {_v(value)}")
    _legend(svg, frame, list(clean), kind="bar")
    return _serialised(svg)


def _canvas(
    frame: _Frame,
    title: str,
    y_label: str,
    *,
    description: str,
    series_count: int,
    has_data: bool,
) -> tuple[ET.Element, ET.Element]:
    """The <svg> with its title, description, axes and y grid; returns it and the plot."""
    total_height = frame.height + _LEGEND_LINE * series_count
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg"})
    for name, setting in {
        "viewBox": f"0 0 {frame.width} {total_height}",
        "width": str(frame.width),
        "height": str(total_height),
        "role": "img",
        "aria-label": _text(title),
        "font-family": "system-ui, sans-serif",
        "font-size": "12",
    }.items():
        svg.set(name, setting)
    _el(svg, "title", title)
    _el(svg, "desc", description)
    _el(svg, "rect", width="100%", height="100%", fill="#ffffff")
    _el(svg, "text", _short(title, 80), x=_LEFT, y=20, font_size=14, font_weight="bold", fill=INK)
    middle = _TOP + (frame.bottom - _TOP) / 2
    _el(svg, "text", _short(y_label, MAX_LABEL), x=14, y=middle, fill=INK,
        text_anchor="middle", transform=f"rotate(-90 14 {_n(middle)})")  # fmt: skip
    plot = _el(svg, "g", class_="plot", aria_hidden="true")
    right = frame.width - _RIGHT
    for step in range(_Y_TICKS + 1):
        value = frame.low + (frame.high - frame.low) * step / _Y_TICKS
        y = frame.y(value)
        _el(plot, "line", x1=_LEFT, x2=right, y1=y, y2=y, stroke=GRID)
        _el(plot, "text", _v(value), x=_LEFT - 6, y=y, fill=INK, text_anchor="end",
            dominant_baseline="middle", class_="y-tick")  # fmt: skip
    _el(plot, "line", x1=_LEFT, x2=_LEFT, y1=_TOP, y2=frame.bottom, stroke=INK)
    _el(plot, "line", x1=_LEFT, x2=right, y1=frame.bottom, y2=frame.bottom, stroke=INK)
    if not has_data:
        _el(plot, "text", "No data", x=_LEFT + frame.plot_width / 2, y=_TOP + 40, fill=INK,
            text_anchor="middle")  # fmt: skip
    return svg, plot


def _x_label(plot: ET.Element, x: float, frame: _Frame, text: str) -> None:
    _el(plot, "text", _short(text, 16), x=x, y=frame.bottom + 16, fill=INK,
        text_anchor="middle", class_="x-tick")  # fmt: skip


def _legend(svg: ET.Element, frame: _Frame, names: list[str], *, kind: str) -> None:
    legend = _el(svg, "g", class_="legend", aria_hidden="true")
    for index, name in enumerate(names):
        y = frame.height + _LEGEND_LINE * index
        colour = PALETTE[index % len(PALETTE)]
        if kind == "line":
            swatch = _el(legend, "line", x1=_LEFT, x2=_LEFT + 24, y1=y, y2=y, stroke=colour,
                         stroke_width=2)  # fmt: skip
            if DASHES[index % len(DASHES)]:
                swatch.set("stroke-dasharray", DASHES[index % len(DASHES)])
        else:
            box = _el(legend, "rect", x=_LEFT, y=y - 6, width=24, height=12, fill=colour)
            if index % 2:
                box.set("stroke", INK)
        _el(legend, "text", _short(name, MAX_LABEL), x=_LEFT + 32, y=y, fill=INK,
            dominant_baseline="middle")  # fmt: skip


def _el(
    parent: ET.Element, tag: str, text: str | None = None, /, **attributes: object
) -> ET.Element:
    """A child element; `font_size=` is the attribute `font-size`, `class_=` is `class`,
    a float is written as a coordinate. ElementTree escapes the text and every value."""
    element = ET.SubElement(parent, tag)
    for key, value in attributes.items():
        element.set(
            key.rstrip("_").replace("_", "-"), _n(value) if isinstance(value, float) else str(value)
        )
    if text is not None:
        element.text = _text(text)
    return element


def _describe(series: Mapping[str, Sequence[tuple[Category, float]]]) -> str:
    """The chart in words, for screen readers."""
    if not any(series.values()):
        return "No data."
    parts = []
    for name, points in series.items():
        if not points:
            parts.append(f"{name}: no values.")
            continue
        listed = ", ".join(f"{_label(c)} {_v(v)}" for c, v in points[:31])
        more = f", and {len(points) - 31} more" if len(points) > 31 else ""
        parts.append(f"{name}: {listed}{more}.")
    return " ".join(parts)


def _categories(series: Mapping[str, Sequence[tuple[Category, float]]]) -> list[Category]:
    seen: dict[Category, None] = {}
    for points in series.values():
        for category, _ in points:
            seen.setdefault(category, None)
    found = list(seen)
    if all(isinstance(c, date) for c in found):
        return sorted(found, key=lambda c: c.toordinal() if isinstance(c, date) else 0)
    return found


def _finite(points: Sequence[tuple[_C, float]]) -> list[tuple[_C, float]]:
    """The points with a finite value (NaN or infinity would be no position at all)."""
    return [(c, float(v)) for c, v in points if math.isfinite(v)]


def _value_range(values: Sequence[float]) -> tuple[float, float]:
    """[low, high] of the y axis: from zero (or a rounded minimum, if below zero) to a
    rounded maximum, so grid lines fall on round numbers."""
    if not values:
        return 0.0, 1.0
    low = -_nice(-min(values)) if min(values) < 0 else 0.0
    high = _nice(max(values)) if max(values) > 0 else 0.0
    if low == high:
        high = 1.0
    return low, high


def _nice(value: float) -> float:
    """The least of 1, 2, 2.5, 5 times a power of ten that is at least `value` (> 0)."""
    base = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= factor * base * (1 + 1e-12):
            return factor * base
    return 10.0 * base


def _spread(items: Sequence[int], most: int) -> list[int]:
    """At most `most` items, evenly spaced, the first and last included."""
    if len(items) <= most:
        return list(items)
    return [items[round(i * (len(items) - 1) / (most - 1))] for i in range(most)]


def _label(category: Category) -> str:
    return category.isoformat() if isinstance(category, date) else category


def _text(value: str) -> str:
    """Text XML holds as written: a label is one line (an XML parser would turn a CR
    into LF in text but not in an attribute), and characters XML 1.0 has no place for
    become U+FFFD."""
    return _NOT_XML.sub("\ufffd", value.translate(_ONE_LINE))


def _short(value: str, most: int) -> str:
    value = _text(value)
    return value if len(value) <= most else value[: most - 1] + "…"


def _n(value: float) -> str:
    """A coordinate: one decimal, no "-0.0"."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _v(value: float) -> str:
    """A value as people read it: an integer without decimals, else up to two."""
    if value == 0 or abs(value) >= 1e15 or abs(value) < 0.01:
        return "0" if value == 0 else f"{value:.3g}"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _serialised(svg: ET.Element) -> str:
    return ET.tostring(svg, encoding="unicode")
