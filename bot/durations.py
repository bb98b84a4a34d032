"""Durations as people write them, in settings and drill files: `0`, `90s`, `15m`, `1h`, `1d`,
or a bare number of minutes; and lists of values by severity (`P0=0,P1=15m,P3=off`).

Parsed once, into `timedelta`, where the text is read (settings at start-up, a drill when it
is loaded); the errors say exactly which part is wrong, so a bad setting stops the start.
Pure text → values; no I/O.
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.incident import Severity

OFF = "off"

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `1d`, or a bare number of minutes."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"`{text}` is not a duration (write e.g. 0, 90s, 15m, 1h or 1d)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_by_severity(text: str, *, what: str) -> dict[Severity, str]:
    """`P0=15m, P1=30m` → {P0: "15m", P1: "30m"}; names the part that is wrong."""
    values: dict[Severity, str] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        try:
            severity = Severity(name.strip().upper())
        except ValueError:
            raise ValueError(
                f"`{part}`: {what} are written SEVERITY=VALUE with P0, P1, P2 or P3, "
                "separated by commas"
            ) from None
        if not sep or not value.strip():
            raise ValueError(f"`{part}` has no value after `=`")
        if severity in values:
            raise ValueError(f"{severity.value} is given twice")
        values[severity] = value.strip()
    return values


def durations_by_severity(text: str, *, what: str) -> dict[Severity, timedelta | None]:
    """Every severity's duration, None for `off`; a severity left out is off."""
    out: dict[Severity, timedelta | None] = dict.fromkeys(Severity)
    for severity, value in parse_by_severity(text, what=what).items():
        out[severity] = None if value.lower() == OFF else parse_duration(value)
    return out
