"""Small inline SVG charts drawn on the server: no JavaScript, no chart library.

Each function returns :class:`~markupsafe.Markup` for a Jinja template to
place as is. Every piece of text that comes from data (series names, session
labels, reasons) is escaped here, so the result is safe to mark up.

Accessibility: the ``<svg>`` has ``role="img"``, an ``aria-label`` made of the
title and a short text summary of the data (what a screen reader reads), and
the same in ``<title>``/``<desc>``; each line and band has its own
``<title>`` (a tooltip on hover).

Colours: every line or band carries CSS classes (``series-sent``,
``series-received``, ``series-failed``; ``status-up``, ``status-pending``,
``status-down``, ``status-unknown``) *and* a default ``stroke``/``fill``
attribute. Page CSS overrides presentation attributes, so a stylesheet can
recolour the charts (a dark theme), and they stay readable without one. Text
and axes use ``currentColor``: they follow the page's text colour.

All times are shown in UTC.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from markupsafe import Markup, escape

from wagate.domain import SessionStatus

SERIES_COLOURS: Mapping[str, str] = {
    "series-sent": "#2563eb",
    "series-received": "#16a34a",
    "series-failed": "#dc2626",
}
"""The default stroke of the known series classes; any other class is drawn grey."""

_GREY = "#6b7280"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_XScale = Callable[[datetime], float]
_YScale = Callable[[float], float]
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a :func:`line_chart`: named, classed, and its (time, value) points."""

    name: str
    css_class: str  # e.g. "series-sent"; also picks the default colour
    points: Sequence[tuple[datetime, float]]
    colour: str | None = None  # the stroke without CSS; None: from SERIES_COLOURS

    @property
    def stroke(self) -> str:
        return self.colour or SERIES_COLOURS.get(self.css_class, _GREY)


class RateLike(Protocol):
    """A bucket of message counts (``wagate.store.repositories.activity.RateBucket``)."""

    @property
    def start(self) -> datetime: ...
    @property
    def sent(self) -> int: ...
    @property
    def received(self) -> int: ...
    @property
    def failed(self) -> int: ...


class StatusChangeLike(Protocol):
    """A session status change (``wagate.store.repositories.activity.StatusChange``)."""

    @property
    def session_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def previous(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


def rate_series(buckets: Iterable[RateLike]) -> list[Series]:
    """The sent, received and failed lines of message rate buckets."""
    rows = list(buckets)
    return [
        Series("sent", "series-sent", [(b.start, b.sent) for b in rows]),
        Series("received", "series-received", [(b.start, b.received) for b in rows]),
        Series("failed", "series-failed", [(b.start, b.failed) for b in rows]),
    ]


# --------------------------------------------------------------------------- helpers


def _e(value: object) -> str:
    """Escaped for both text and attribute values."""
    return str(escape(str(value)))


def _n(value: float) -> str:
    """A coordinate."""
    return f"{value:.1f}"


def _value_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _time_label(at: datetime, span: timedelta) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%m-%d %H:%M" if span > timedelta(days=1) else "%H:%M")


def _time_ticks(start: datetime, end: datetime, max_ticks: int) -> list[datetime]:
    """Round UTC times (whole minutes, quarter hours, hours...) between start and end."""
    span_s = (end - start).total_seconds()
    if span_s <= 0:
        return [start]
    step_s = next((s for s in _TICK_STEPS_S if span_s / s < max_ticks), _TICK_STEPS_S[-1])
    while span_s / step_s >= max_ticks:  # more than a day per tick
        step_s *= 2
    step = timedelta(seconds=step_s)
    tick = _EPOCH - ((_EPOCH - start) // step) * step  # the first multiple at or after start
    ticks = []
    while tick <= end:
        ticks.append(tick)
        tick += step
    return ticks or [start]


def _svg_open(width: int, height: int, title: str, summary: str) -> list[str]:
    label = f"{title}. {summary}" if summary else title
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{_e(label)}" {_FONT}>',
        f"<title>{_e(title)}</title>",
        f"<desc>{_e(summary)}</desc>",
    ]


def _utc_note(right: float) -> str:
    return (
        f'<text class="chart-note" x="{_n(right)}" y="11" text-anchor="end" '
        f'fill="currentColor" font-size="10">times in UTC</text>'
    )


def _x_axis(
    ticks: Sequence[datetime], span: timedelta, x_of: _XScale, top: float, bottom: float
) -> list[str]:
    parts = ['<g class="chart-x-axis" fill="currentColor">']
    for tick in ticks:
        x = _n(x_of(tick))
        parts.append(
            f'<line x1="{x}" y1="{_n(top)}" x2="{x}" y2="{_n(bottom + 3)}" '
            f'stroke="currentColor" stroke-opacity="0.15"/>'
            f'<text x="{x}" y="{_n(bottom + 14)}" text-anchor="middle">'
            f"{_e(_time_label(tick, span))}</text>"
        )
    parts.append("</g>")
    return parts


def _linear_time(start: datetime, end: datetime, left: float, right: float) -> _XScale:
    span_s = (end - start).total_seconds()

    def x_of(at: datetime) -> float:
        if span_s <= 0:
            return (left + right) / 2
        share = (at - start).total_seconds() / span_s
        return left + min(max(share, 0.0), 1.0) * (right - left)

    return x_of


# --------------------------------------------------------------------------- line chart


def line_chart(
    series: Sequence[Series], *, width: int = 640, height: int = 200, title: str
) -> Markup:
    """Lines of values over a shared time axis, y from 0 to a round maximum.

    Values are counts: the y axis starts at 0, and a negative value is drawn on
    it. A series with one point is drawn as a dot; with none, only in the
    legend. With no points at all the frame says "No data".
    """
    if width < 200 or height < 120:
        raise ValueError("a line chart needs at least 200 x 120 pixels")
    for one in series:
        for at, value in one.points:
            if at.tzinfo is None:
                raise ValueError(f"series {one.name!r} has a naive datetime")
            if not math.isfinite(value):
                raise ValueError(f"series {one.name!r} has a value that is not finite")
    left, right, top = 44.0, width - 20.0, 18.0
    bottom = height - 40.0  # then the time labels, then the legend
    times = [at for one in series for at, _ in one.points]
    values = [value for one in series for _, value in one.points]
    y_max = _nice_ceiling(max(values, default=0.0))

    def y_of(value: float) -> float:
        return bottom - max(value, 0.0) / y_max * (bottom - top)

    parts = _svg_open(width, height, title, _line_summary(series))
    parts.append(_utc_note(right))
    parts.append('<g class="chart-y-axis" fill="currentColor">')
    for value in (0.0, y_max / 2, y_max):
        y = _n(y_of(value))
        parts.append(
            f'<line x1="{_n(left)}" y1="{y}" x2="{_n(right)}" y2="{y}" '
            f'stroke="currentColor" stroke-opacity="{0.5 if value == 0 else 0.15}"/>'
        )
    for value in (0.0, y_max):
        parts.append(
            f'<text x="{_n(left - 6)}" y="{_n(y_of(value) + 4)}" text-anchor="end">'
            f"{_e(_value_label(value))}</text>"
        )
    parts.append("</g>")

    if times:
        start, end = min(times), max(times)
        x_of = _linear_time(start, end, left, right)
        max_ticks = max(2, int((right - left) // 80))
        parts += _x_axis(_time_ticks(start, end, max_ticks), end - start, x_of, top, bottom)
        for one in series:
            parts += _series_shape(one, x_of, y_of)
    else:
        parts.append(
            f'<text class="chart-empty" x="{_n((left + right) / 2)}" '
            f'y="{_n((top + bottom) / 2)}" text-anchor="middle" fill="currentColor">'
            "No data</text>"
        )
    parts += _legend(
        [(one.name, f"series {one.css_class}", one.stroke, "line") for one in series],
        x=left,
        y=height - 8.0,
        limit=right,
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _series_shape(one: Series, x_of: _XScale, y_of: _YScale) -> list[str]:
    points = sorted(one.points, key=lambda point: point[0])
    if not points:
        return []
    tooltip = f"<title>{_e(_series_summary(one))}</title>"
    css = _e(f"series {one.css_class}")
    stroke = _e(one.stroke)
    if len(points) == 1:
        at, value = points[0]
        return [
            f'<circle class="{css}" cx="{_n(x_of(at))}" cy="{_n(y_of(value))}" r="3" '
            f'fill="{stroke}" stroke="{stroke}">{tooltip}</circle>'
        ]
    coords = " ".join(f"{_n(x_of(at))},{_n(y_of(value))}" for at, value in points)
    return [
        f'<polyline class="{css}" fill="none" stroke="{stroke}" stroke-width="2" '
        f'stroke-linejoin="round" stroke-linecap="round" points="{coords}">{tooltip}</polyline>'
    ]


def _series_summary(one: Series) -> str:
    if not one.points:
        return f"{one.name}: no data"
    total = sum(value for _, value in one.points)
    peak_at, peak = max(one.points, key=lambda point: point[1])
    return (
        f"{one.name}: total {_value_label(total)}, "
        f"peak {_value_label(peak)} at {peak_at.astimezone(UTC):%H:%M} UTC"
    )


def _line_summary(series: Sequence[Series]) -> str:
    times = [at for one in series for at, _ in one.points]
    if not times:
        return "No data."
    window = f"From {min(times).astimezone(UTC):%H:%M} to {max(times).astimezone(UTC):%H:%M} UTC"
    return f"{window}: " + "; ".join(_series_summary(one) for one in series) + "."


def _legend(
    items: Sequence[tuple[str, str, str, str]], *, x: float, y: float, limit: float
) -> list[str]:
    """(label, css classes, colour, "line" or "box") swatches in a row, cut at ``limit``."""
    parts = ['<g class="chart-legend" fill="currentColor">']
    for index, (label, css, colour, shape) in enumerate(items):
        text = _short(label, 40)
        needed = 20 + 6.5 * len(text)
        if index and x + needed > limit:
            break  # no room: the full list is in the aria-label
        if shape == "line":
            parts.append(
                f'<line class="{_e(css)}" x1="{_n(x)}" y1="{_n(y - 4)}" x2="{_n(x + 14)}" '
                f'y2="{_n(y - 4)}" stroke="{_e(colour)}" stroke-width="3"/>'
            )
        else:
            parts.append(
                f'<rect class="{_e(css)}" x="{_n(x)}" y="{_n(y - 9)}" width="14" height="10" '
                f'fill="{_e(colour)}"/>'
            )
        parts.append(f'<text x="{_n(x + 18)}" y="{_n(y)}">{_e(text)}</text>')
        x += needed + 12
    parts.append("</g>")
    return parts


# --------------------------------------------------------------------------- status timeline


@dataclass(frozen=True, slots=True)
class StatusGroup:
    """How a set of session statuses is coloured on the timeline."""

    css_class: str
    colour: str
    label: str


STATUS_UP = StatusGroup("status-up", "#16a34a", "connected")
STATUS_PENDING = StatusGroup("status-pending", "#eab308", "qr, starting, reconnecting")
STATUS_DOWN = StatusGroup("status-down", "#dc2626", "stopped, failed, logged out")
STATUS_UNKNOWN = StatusGroup("status-unknown", "#9ca3af", "unknown")
STATUS_GROUPS: Mapping[str, StatusGroup] = {
    SessionStatus.CONNECTED.value: STATUS_UP,
    SessionStatus.QR.value: STATUS_PENDING,
    SessionStatus.STARTING.value: STATUS_PENDING,
    SessionStatus.RECONNECTING.value: STATUS_PENDING,
    SessionStatus.STOPPED.value: STATUS_DOWN,
    SessionStatus.FAILED.value: STATUS_DOWN,
    SessionStatus.LOGGED_OUT.value: STATUS_DOWN,
}
"""The group of each status; any other (or an unknown one) is :data:`STATUS_UNKNOWN`."""


@dataclass(frozen=True, slots=True)
class StatusBand:
    """A stretch of time in one status, and the reason given when it began."""

    start: datetime
    end: datetime
    status: str | None  # None: not known (no change in the window, no current status)
    reason: str | None


def status_bands(
    changes: Iterable[StatusChangeLike],
    since: datetime,
    until: datetime,
    current: Mapping[str, str] | None = None,
) -> dict[str, list[StatusBand]]:
    """Each session's status over ``[since, until]`` as consecutive bands.

    ``changes`` come newest first, as :func:`~wagate.store.repositories.activity.status_changes`
    returns them. A session's status before its first change in the window is that
    change's ``previous``; a session without changes is in its ``current`` status (if
    given) throughout.
    """
    by_session: dict[str, list[StatusChangeLike]] = {}
    oldest_first = list(changes)[::-1]  # log order, also among changes of the same instant
    for change in sorted(oldest_first, key=lambda c: c.at):  # stable: keeps the log order
        by_session.setdefault(change.session_id, []).append(change)
    bands: dict[str, list[StatusBand]] = {}
    for session_id in dict.fromkeys([*(current or {}), *by_session]):
        ordered = by_session.get(session_id, [])
        status = ordered[0].previous if ordered else (current or {}).get(session_id)
        reason: str | None = None
        at = since
        rows: list[StatusBand] = []
        for change in ordered:
            moment = min(max(change.at, since), until)
            if moment > at:
                rows.append(StatusBand(at, moment, status, reason))
            at, status, reason = moment, change.status, change.reason
        if until > at:
            rows.append(StatusBand(at, until, status, reason))
        bands[session_id] = rows
    return bands


def status_timeline(
    changes: Iterable[StatusChangeLike],
    since: datetime,
    until: datetime,
    *,
    title: str,
    current: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    width: int = 640,
) -> Markup:
    """One row per session, its status over time as coloured bands.

    Rows: the sessions of ``labels`` (in its order; values are what is shown,
    e.g. session names), then of ``current`` (session id to its status now,
    for the sessions without a change in the window), then any other session
    that has changes. The height follows the number of rows.
    """
    if until <= since:
        raise ValueError("until must be after since")
    if width < 300:
        raise ValueError("a status timeline needs at least 300 pixels")
    changes = list(changes)
    names = dict(labels or {})
    found = status_bands(changes, since, until, current)
    counts = Counter(change.session_id for change in changes)
    order = list(dict.fromkeys([*names, *found]))
    unknown = [StatusBand(since, until, None, None)]
    bands = {session_id: found.get(session_id) or unknown for session_id in order}
    left, right, top, row_h, gap = 130.0, width - 20.0, 18.0, 16.0, 4.0
    bottom = top + max(len(order), 1) * (row_h + gap)
    height = int(bottom + 40)
    x_of = _linear_time(since, until, left, right)

    summary = "; ".join(
        _timeline_summary(names.get(sid, sid), bands[sid], counts[sid]) for sid in order
    )
    parts = _svg_open(width, height, title, f"{summary}." if order else "No sessions.")
    parts.append(_utc_note(right))
    span = until - since
    parts += _x_axis(
        _time_ticks(since, until, max(2, int((right - left) // 80))), span, x_of, top, bottom
    )
    used: dict[str, StatusGroup] = {}
    for row, session_id in enumerate(order):
        y = top + row * (row_h + gap) + gap / 2
        name = names.get(session_id, session_id)
        parts.append(
            f'<g class="timeline-row"><text x="{_n(left - 6)}" y="{_n(y + row_h - 4)}" '
            f'text-anchor="end" fill="currentColor"><title>{_e(name)}</title>'
            f"{_e(_short(name, 20))}</text>"
        )
        for band in bands[session_id]:
            group = STATUS_GROUPS.get(band.status or "", STATUS_UNKNOWN)
            used[group.css_class] = group
            x0, x1 = x_of(band.start), x_of(band.end)
            css = f"status {group.css_class} status-{band.status or 'unknown'}"
            parts.append(
                f'<rect class="{_e(css)}" x="{_n(x0)}" y="{_n(y)}" '
                f'width="{_n(max(x1 - x0, 1.0))}" height="{_n(row_h)}" fill="{_e(group.colour)}">'
                f"<title>{_e(_band_text(name, band, span))}</title></rect>"
            )
        parts.append("</g>")
    if not order:
        parts.append(
            f'<text class="chart-empty" x="{_n((left + right) / 2)}" y="{_n(top + 14)}" '
            'text-anchor="middle" fill="currentColor">No sessions</text>'
        )
    legend = [STATUS_UP, STATUS_PENDING, STATUS_DOWN]
    if STATUS_UNKNOWN.css_class in used:
        legend.append(STATUS_UNKNOWN)
    parts += _legend(
        [(g.label, f"status {g.css_class}", g.colour, "box") for g in legend],
        x=8.0,
        y=height - 8.0,
        limit=float(width),
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _band_text(name: str, band: StatusBand, span: timedelta) -> str:
    text = (
        f"{name}: {band.status or 'unknown'} from {_time_label(band.start, span)} "
        f"to {_time_label(band.end, span)} UTC"
    )
    return f"{text} ({band.reason})" if band.reason else text


def _timeline_summary(name: str, bands: Sequence[StatusBand], changes: int) -> str:
    last = bands[-1].status or "unknown"
    return f"{name}: {last} at the end, {changes} change{'s' if changes != 1 else ''}"
