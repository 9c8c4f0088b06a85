"""Posting windows and durations as they are written in persona files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_GROUPS = {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}
_WINDOW = re.compile(r"^\s*(?P<days>[a-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
_DURATION = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}

WINDOW_EXAMPLE = "'mon-fri 08:00-09:30' or 'sat,sun 10:00-12:00'"


@dataclass(frozen=True)
class Window:
    """Days of the week (0 = Monday) and a local start and end time."""

    days: tuple[int, ...]
    start: time
    end: time

    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)


def parse_duration(text: str) -> timedelta:
    """'30m', '2h', '1.5h', '3d', '1w' → timedelta. Raises ValueError with a fix."""
    match = _DURATION.match(str(text).lower())
    if not match:
        raise ValueError(f"'{text}' is not a duration — write it like 30m, 2h, 1d or 1w")
    try:
        return timedelta(seconds=float(match["amount"]) * _UNITS[match["unit"]])
    except OverflowError:
        raise ValueError(f"'{text}' is far too long — write a duration under a few weeks") from None


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def _parse_days(text: str) -> tuple[int, ...]:
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if part in _DAY_GROUPS:
            days.update(_DAY_GROUPS[part])
        elif "-" in part:
            first, _, last = part.partition("-")
            start, end = DAY_NAMES.index(first), DAY_NAMES.index(last)
            days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
        else:
            days.add(DAY_NAMES.index(part))
    return tuple(sorted(days))


def _parse_time(text: str) -> time:
    hour, minute = (int(piece) for piece in text.split(":"))
    return time(hour, minute)


def parse_window(text: str) -> Window:
    """'mon-fri 08:00-09:30' → Window. Raises ValueError naming the fix."""
    match = _WINDOW.match(str(text).lower())
    if not match:
        raise ValueError(f"malformed posting window '{text}' — write it like {WINDOW_EXAMPLE}")
    try:
        days = _parse_days(match["days"])
    except ValueError:
        raise ValueError(
            f"unknown day in posting window '{text}' — use {', '.join(DAY_NAMES)}, "
            "ranges like mon-fri, or daily/weekdays/weekends"
        ) from None
    try:
        start, end = _parse_time(match["start"]), _parse_time(match["end"])
    except ValueError:
        raise ValueError(
            f"impossible time in posting window '{text}' — use 24-hour times from 00:00 to 23:59"
        ) from None
    if end <= start:
        raise ValueError(
            f"posting window '{text}' ends before it starts — "
            "write the earlier time first (windows cannot cross midnight)"
        )
    return Window(days=days, start=start, end=end)
