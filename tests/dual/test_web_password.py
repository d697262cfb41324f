"""The web pages' admin password and its lock after wrong tries, both runtimes."""
import binascii

from dynevse.aio import ticks_add
from dynevse.web import password


def basic(pw):
    return "Basic " + binascii.b2a_base64(("admin:" + pw).encode()).decode().strip()


def test_right_wrong_and_the_lock():
    lock = password.new_lock()
    t = 1000
    assert password.check(lock, basic("secret"), "secret", t) == "ok"
    assert password.check(lock, "", "secret", t) == "wrong"       # asked for, not counted
    assert password.check(lock, "Bearer x", "secret", t) == "wrong"
    assert password.check(lock, basic("secret"), "secret", t) == "ok"   # a right one resets
    for _ in range(password.TRIES):
        assert password.check(lock, basic("guess"), "secret", t) == "wrong"
    # five wrong in a row: for 30 s even the right one is refused
    assert password.check(lock, basic("secret"), "secret", t + 1) == "locked"
    assert password.check(lock, basic("secret"), "secret", t + password.LOCK_MS - 1) == "locked"
    assert password.check(lock, basic("secret"), "secret", t + password.LOCK_MS) == "ok"
    # the count starts again after the lock
    for _ in range(password.TRIES - 1):
        assert password.check(lock, basic("guess"), "secret", t + password.LOCK_MS) == "wrong"
    assert password.check(lock, basic("secret"), "secret", t + password.LOCK_MS) == "ok"


def test_the_lock_across_the_tick_counter_wrapping():
    # The board's ms ticks wrap (MicroPython: every 2**30 ms, 12.4 days); locked 1 s
    # before the wrap, the lock must end 30 s later, not ~12 days later (plain
    # subtraction gives a huge negative age there, read as "locked").
    lock = password.new_lock()
    t = ticks_add(0, -1000)
    for _ in range(password.TRIES):
        password.check(lock, basic("guess"), "secret", t)
    assert password.check(lock, basic("secret"), "secret", ticks_add(t, 10000)) == "locked"
    assert password.check(lock, basic("secret"), "secret", ticks_add(t, password.LOCK_MS + 1000)) == "ok"


def test_malformed_basic_values_are_wrong_not_errors():
    lock = password.new_lock()
    for bad in ("Basic", "Basic !!!", "Basic " + binascii.b2a_base64(b"\xff\xfe").decode().strip(),
                "Basic " + binascii.b2a_base64(b"no-colon").decode().strip()):
        assert password.check(lock, bad, "secret", 0) == "wrong", bad
