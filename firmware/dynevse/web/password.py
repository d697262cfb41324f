"""The admin password of the web pages (HTTP Basic), checked in one place for the setup
portal and the status page's actions, with the same lock after wrong tries.

The lock's state is plain data its owner keeps (``new_lock()``), so this module can be
loaded for a request and forgotten with the page that uses it.
"""
import binascii

from dynevse.aio import ticks_diff
from dynevse.compat import const

TRIES = const(5)           # wrong passwords in a row before the lock
LOCK_MS = const(30000)     # how long the lock lasts
_FAILS = const(0)
_LOCKED_MS = const(1)


def new_lock():
    """The state of one lock: [wrong tries in a row, when it locked (ms ticks) or None]."""
    return [0, None]


def basic_password_is(authorization, want):
    """Does an ``Authorization: Basic ...`` header value carry the password ``want``?
    (The user name is not asked for.)"""
    if not authorization.startswith("Basic "):
        return False
    try:
        return binascii.a2b_base64(authorization[6:]).decode().partition(":")[2] == want
    except (ValueError, UnicodeError):
        return False


def check(lock, authorization, want, now_ms):
    """"ok", "locked" (too many wrong tries: wait LOCK_MS) or "wrong" (none or a wrong
    one; a wrong one counts toward the lock). ``now_ms``: a ticks_ms-style clock, which
    wraps; compared only by ``ticks_diff``."""
    if lock[_LOCKED_MS] is not None:
        if ticks_diff(now_ms, lock[_LOCKED_MS]) < LOCK_MS:
            return "locked"
        lock[_LOCKED_MS] = None
        lock[_FAILS] = 0
    if basic_password_is(authorization, want):
        lock[_FAILS] = 0
        return "ok"
    if authorization:
        lock[_FAILS] += 1
        if lock[_FAILS] >= TRIES:
            lock[_LOCKED_MS] = now_ms
    return "wrong"
