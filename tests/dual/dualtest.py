"""Helpers for tests that run under pytest (CPython) and tests/dual/run.py (MicroPython).

Only what both runtimes have: no pytest features in the test bodies.
"""


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or another type."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s from %r" % (exc_type.__name__, fn))


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol
