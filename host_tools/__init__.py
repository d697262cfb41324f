"""Host tools (CPython): configuration, build, flash, run and simulation.

site_model.py also runs on the MicroPython unix port (the scenario runner uses it), so
this file sticks to what both runtimes have. Importing the package puts firmware/ on
sys.path: the host tools use the board's own validation code.
"""
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_root = _here.rsplit("/", 1)[0] if "/" in _here else "."
FIRMWARE_PATH = _root + "/firmware"
if FIRMWARE_PATH not in sys.path:
    sys.path.insert(0, FIRMWARE_PATH)
