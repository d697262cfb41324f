"""Differences between MicroPython and CPython that pure code needs, detected once here.

Pure: imports nothing of machine, network, socket, asyncio, os or time, so the core may
use it. I/O packages keep their own runtime differences out of here.
"""
try:
    from micropython import const  # noqa: F401  (folds constants at compile time on the board)
except ImportError:
    def const(x):
        return x


def is_number(x):
    """A real, finite number. Bools are not numbers here: MicroPython and CPython disagree
    on ``isinstance(True, int)``."""
    if type(x) is bool or not isinstance(x, (int, float)):
        return False
    return x - x == 0  # false for inf and nan
