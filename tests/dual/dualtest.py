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


def fresh_board(name, raw):
    """A unix-HAL board of its own (``/tmp/dynevse-<name>-<runtime>``) whose config.json
    holds ``raw`` and nothing else of the configuration's files."""
    import json
    import os
    import sys
    from dynevse.hal.unix import Board
    root = "/tmp/dynevse-%s-%s" % (name, sys.implementation.name)
    try:
        os.mkdir(root)
    except OSError:
        pass
    b = Board({}, root)
    for suffix in ("", ".bak", ".tmp", ".checked"):
        b.remove(b.config_path + suffix)
    b.write_atomic(b.config_path, json.dumps(raw))
    return b
