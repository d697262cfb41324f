"""Logging for both runtimes (MicroPython has no ``logging``): levels, one line each,
printed and kept in a small ring for the status page."""
from dynevse.compat import const

DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR = const(40)
_NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error"}
LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR}

level = INFO
clock = None          # a function giving seconds since start, set by the app
_ring = []
_RING = const(16)


def set_level(name):
    global level
    level = LEVELS.get(name, INFO)


def log(lvl, msg, *args):
    """Log ``msg % args`` at ``lvl``; formatting happens only when the line is kept."""
    if lvl < level:
        return
    if args:
        msg = msg % args
    t = clock() if clock is not None else 0
    line = "%9.1f %s %s" % (t, _NAMES.get(lvl, "?"), msg)
    print(line)
    _ring.append(line)
    if len(_ring) > _RING:
        _ring.pop(0)


def debug(msg, *args):
    log(DEBUG, msg, *args)


def info(msg, *args):
    log(INFO, msg, *args)


def warning(msg, *args):
    log(WARNING, msg, *args)


def error(msg, *args):
    log(ERROR, msg, *args)


def exception(e):
    """Print ``e``'s traceback (the line saying what failed is logged by the caller)."""
    import sys
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
    else:
        import traceback
        traceback.print_exception(type(e), e, e.__traceback__)


def recent():
    """The last lines, oldest first."""
    return list(_ring)
