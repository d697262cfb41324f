"""Time for the OCPP package: the clock object it is given, and ISO 8601 UTC text.

A clock is any object with ``monotonic_ms()`` (ticks that only go forward; compare them
with ``dynevse.aio.ticks_diff``) and ``utc_s()`` (seconds since 1970-01-01 UTC). Tests
pass their own; ``SystemClock`` is the runtime's.
"""
import time

from dynevse import aio
from dynevse.compat import const

_EPOCH_2000_S = const(946684800)   # 2000-01-01T00:00:00Z in Unix time
_DAY_S = const(86400)


class SystemClock:
    """The runtime's clock. Some MicroPython ports count wall time from 2000, not 1970."""

    def __init__(self):
        self._offset_s = _EPOCH_2000_S if time.gmtime(0)[0] == 2000 else 0

    def monotonic_ms(self):
        return aio.ticks_ms()

    def utc_s(self):
        return time.time() + self._offset_s


def _civil(days):
    """(year, month, day) of a day count since 1970-01-01 (proleptic Gregorian)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def iso8601(utc_s):
    """``2024-05-01T12:00:00Z`` for a Unix time in seconds (fractions dropped)."""
    days, secs = divmod(int(utc_s), _DAY_S)
    y, mo, d = _civil(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, secs // 3600, secs // 60 % 60, secs % 60)


def hhmmss(utc_s):
    """``12:00:00`` (UTC) for log lines."""
    secs = int(utc_s) % _DAY_S
    return "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)
