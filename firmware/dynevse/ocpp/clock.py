"""The clock the central system uses when it is given none.

A clock is any object with ``monotonic_ms()`` (ticks that only go forward; compare them
with ``dynevse.aio.ticks_diff``) and ``utc_s()`` (seconds since 1970-01-01 UTC). The app
and the tests pass their own; ``SystemClock`` is the runtime's. Time as text
(``iso8601``, ``hhmmss``) is in ``central.py``.
"""
import time

from dynevse import aio


class SystemClock:
    """The runtime's clock. Some MicroPython ports count wall time from 2000, not 1970."""

    def __init__(self):
        self._offset_s = 946684800 if time.gmtime(0)[0] == 2000 else 0

    def monotonic_ms(self):
        return aio.ticks_ms()

    def utc_s(self):
        return time.time() + self._offset_s
