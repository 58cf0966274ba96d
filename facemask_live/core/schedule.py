"""Alert hours: weekly opening ranges and holidays, e.g. ``Mon-Fri 07:00-19:00`` (local time of the machine).

A rule is ``DAYS RANGE[, RANGE ...]``: DAYS is a day (``Mon``), a run of days (``Mon-Fri``, ``Fri-Mon`` wraps
over the week end) or several joined by commas (``Mon,Wed,Fri``); a RANGE is ``HH:MM-HH:MM``, ``24:00`` ends a
day, and a range whose end is not after its start runs past midnight into the next day (``22:00-06:00``).
A holiday (``2026-12-25``) has no alert hours at all, also not the morning part of a range from the day before.
No rules: always on. Pure Python: :mod:`facemask_live.core.config` parses the settings with it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class WeeklyRange:
    """One range on some weekdays (0 = Monday); minutes from midnight, ``end <= start``: past midnight."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # past midnight: the evening part on the day named, the morning part on the day after
        return (weekday in self.days and minute >= self.start) or ((weekday - 1) % 7 in self.days and minute < self.end)


def _day(text: str, rule: str) -> int:
    key = text.strip().lower()[:3]
    if key not in DAYS or not text.strip().lower().startswith(key) or len(text.strip()) < 3:
        raise ValueError(f"{rule!r}: {text.strip()!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
    return DAYS.index(key)


def _days(text: str, rule: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            first, last = _day(a, rule), _day(b, rule)
            days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            days.add(_day(part, rule))
    return frozenset(days)


def _minute(text: str, rule: str) -> int:
    m = _TIME_RE.match(text.strip())
    if not m or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (int(m.group(1)) == 24 and int(m.group(2))):
        raise ValueError(f"{rule!r}: {text.strip()!r} is not a time HH:MM (00:00 to 24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_rule(rule: str) -> list[WeeklyRange]:
    """``Mon-Fri 07:00-12:00, 13:00-19:00`` -> its ranges; raises ValueError with a one-line message."""
    text = str(rule).strip()
    m = re.match(r"^([A-Za-z][A-Za-z,\- ]*?)\s+(\d.*)$", text)
    if not m:
        raise ValueError(f"{text!r}: expected DAYS HH:MM-HH:MM, e.g. 'Mon-Fri 07:00-19:00'")
    days = _days(m.group(1).replace(" ", ""), text)
    ranges = []
    for part in m.group(2).split(","):
        if part.count("-") != 1:
            raise ValueError(f"{text!r}: {part.strip()!r} is not a range HH:MM-HH:MM")
        a, b = part.split("-")
        start, end = _minute(a, text), _minute(b, text)
        if start == end:
            raise ValueError(f"{text!r}: the range {part.strip()!r} is empty (for a whole day use 00:00-24:00)")
        ranges.append(WeeklyRange(days, start, end))
    return ranges


def parse_holiday(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"holiday {text!r} is not a date YYYY-MM-DD") from None


@dataclass(frozen=True)
class Schedule:
    """When alerts are on: any of ``ranges`` and not a holiday. No ranges: always on."""

    ranges: tuple[WeeklyRange, ...] = ()
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def parse(cls, weekly: tuple[str, ...] | list[str], holidays: tuple[str, ...] | list[str] = ()) -> Schedule:
        return cls(tuple(r for rule in weekly for r in parse_rule(rule)), frozenset(parse_holiday(d) for d in holidays))

    @property
    def always(self) -> bool:
        return not self.ranges and not self.holidays

    def is_on(self, when: dt.datetime | None = None) -> bool:
        """Are alerts on at ``when`` (local time; default now)?"""
        when = when or dt.datetime.now()
        if when.date() in self.holidays:
            return False
        if not self.ranges:
            return True
        minute = when.hour * 60 + when.minute
        return any(r.contains(when.weekday(), minute) for r in self.ranges)
