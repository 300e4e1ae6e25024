"""Server-rendered SVG charts for the report pages: no JavaScript, no external assets.

Every piece of markup is built with ``format_html`` (which escapes each
argument), so a label such as a category or channel named ``<script>`` shows as
text. Colours are SVG presentation attributes, not ``style`` attributes, so a
strict Content-Security-Policy leaves them alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 44, 100
MAX_BARS = 60
"""Above this many categories a line chart replaces the bars (a year by hour would be 8,784 bars)."""
MAX_X_LABELS = 12
TICKS = 4
MAX_LABEL_CHARS = 24
"""Longer axis labels are shortened (the bar's tooltip keeps the whole label)."""
COLOURS = ("#3056d3", "#f59e0b", "#15803d", "#c2410c", "#7c3aed", "#0891b2")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    """One value per label; ``None`` draws nothing (no data)."""


def chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> SafeString:
    """A grouped bar chart, or a line chart when there are more than :data:`MAX_BARS` labels."""
    if len(labels) > MAX_BARS:
        return line_chart(title, labels, series, unit=unit)
    return bar_chart(title, labels, series, unit=unit)


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> SafeString:
    plot = _Plot(labels, series)
    if plot.empty:
        return _frame(title, series, format_html(_NO_DATA, x=WIDTH / 2, y=TOP + plot.height / 2))
    slot = plot.width / len(labels)
    bar = slot * 0.8 / len(series)
    bars = []
    for index, label in enumerate(labels):
        for number, line in enumerate(series):
            value = line.values[index]
            if value is None:
                continue
            top = plot.y(value)
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}: {}</title></rect>',
                    _n(LEFT + slot * index + slot * 0.1 + bar * number),
                    _n(top),
                    _n(max(bar - 1, 1)),
                    _n(TOP + plot.height - top),
                    _colour(number),
                    label,
                    line.name,
                    _value(value, unit),
                )
            )
    centres = [LEFT + slot * (index + 0.5) for index in range(len(labels))]
    return _frame(title, series, _join([plot.axes(unit), *bars, _x_labels(labels, centres)]))


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> SafeString:
    plot = _Plot(labels, series)
    if plot.empty:
        return _frame(title, series, format_html(_NO_DATA, x=WIDTH / 2, y=TOP + plot.height / 2))
    step = plot.width / max(len(labels) - 1, 1)
    xs = [LEFT + step * index for index in range(len(labels))]
    lines = []
    for number, line in enumerate(series):
        # A gap (None) lifts the pen: "M" starts a new stretch, "L" continues one.
        commands, pen_down = [], False
        for x, value in zip(xs, line.values, strict=True):
            if value is None:
                pen_down = False
                continue
            commands.append(f"{'L' if pen_down else 'M'}{_n(x)} {_n(plot.y(value))}")
            pen_down = True
        lines.append(
            format_html(
                '<path d="{}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></path>',
                " ".join(commands),
                _colour(number),
                line.name,
            )
        )
    return _frame(title, series, _join([plot.axes(unit), *lines, _x_labels(labels, xs)]))


_NO_DATA = '<text x="{x}" y="{y}" text-anchor="middle" fill="#6b7385">No data for this period.</text>'


class _Plot:
    """The plotting area and the value axis: :data:`TICKS` equal steps of a round size from 0 past the largest value."""

    def __init__(self, labels: Sequence[str], series: Sequence[Series]) -> None:
        values = [value for line in series for value in line.values if value is not None]
        self.empty = not labels or not values
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM
        whole = all(float(value).is_integer() for value in values)
        self.top = TICKS * _tick_step(max(values, default=0) / TICKS, whole=whole)

    def y(self, value: float) -> float:
        return TOP + self.height * (1 - max(value, 0) / self.top)

    def axes(self, unit: str) -> SafeString:
        ticks = [self.top * step / TICKS for step in range(TICKS + 1)]
        return format_html_join(
            "",
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#e3e6ee"/>'
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#6b7385">{}</text>',
            (
                (LEFT, WIDTH - RIGHT, _n(self.y(t)), _n(self.y(t)), LEFT - 6, _n(self.y(t) + 4), _value(t, unit))
                for t in ticks
            ),
        )


def _x_labels(labels: Sequence[str], xs: Sequence[float]) -> SafeString:
    every = math.ceil(len(labels) / MAX_X_LABELS)
    y = HEIGHT - BOTTOM + 14
    return format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#1d2330" transform="rotate(-30 {} {})">{}</text>',
        (
            (_n(x), y, _n(x), y, _shorten(label))
            for index, (x, label) in enumerate(zip(xs, labels, strict=True))
            if index % every == 0
        ),
    )


def _frame(title: str, series: Sequence[Series], body: SafeString) -> SafeString:
    legend = format_html_join(
        "",
        '<rect x="{}" y="24" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="33" font-size="12" fill="#1d2330">{}</text>',
        (
            (LEFT + 170 * number, _colour(number), LEFT + 170 * number + 14, line.name)
            for number, line in enumerate(series)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" class="chart">'
        '<title>{}</title><text x="{}" y="14" font-size="13" font-weight="600" fill="#1d2330">{}</text>{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        LEFT,
        title,
        legend,
        body,
    )


def _join(parts: Iterable[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _shorten(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _colour(number: int) -> str:
    return COLOURS[number % len(COLOURS)]


def _n(number: float) -> str:
    return f"{number:.1f}"


def _value(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    return f"{text} {unit}" if unit == "s" else f"{text}{unit}"


def _tick_step(at_least: float, *, whole: bool) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``at_least``; a whole number for whole data."""
    if at_least <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(at_least))
    sizes = (size * power for size in (1, 2, 2.5, 5, 10, 20))
    return next(size for size in sizes if size >= at_least and (not whole or size.is_integer()))
