# What a board firmware image freezes: MicroPython's manifest.py conventions
# (https://docs.micropython.org/en/v1.29.0/reference/manifest.html). Frozen code runs in
# place from flash: its bytecode, strings and names never enter the heap, which then holds
# only data (docs/decisions.md, "Memory", has the figures).
#
#   include("boards/manifest.py")              our ESP32 image (make image): hal/esp32.py
#   include("boards/manifest.py", hal="unix")  the board model (make board-model FROZEN=1)
#
# Everything host_tools.build puts into lib/ of a board's .mpy tree is frozen here, with
# the board's own HAL only: a frozen module costs flash, and heap only once imported, so
# the other board's HAL would be dead weight in the image, never a heap cost.
#
# boot.py and main.py are not frozen: they stay files on the board's filesystem (14 lines;
# compiling them costs a few hundred bytes of heap once). MicroPython's esp32 port runs a
# frozen boot.py/main.py in preference to the files (pyexec_file_if_exists), so freezing
# them would take away the user's way to stop or change the start from mpremote; the port's
# own _boot.py (filesystem mount) comes from the port's manifest, which our image includes
# before this one.

options.defaults(hal="esp32", libs=None)

_HALS = ("esp32", "unix")
if options.hal not in _HALS:
    raise ValueError("hal must be one of %s, got %r" % (", ".join(_HALS), options.hal))
# The pinned libraries that run on the board (host_tools.build's _BOARD_LIBS) are frozen
# from where pip installed them: host_tools passes that folder as ``libs``.
if not options.libs:
    raise ValueError("libs must name the folder microdot is installed in (host_tools.build.board_libs_dir())")


def _firmware_files(hal):
    """The package's modules (paths inside dynevse/), without the other boards' HALs."""
    import os

    skip = ["hal/%s.py" % h for h in _HALS if h != hal]
    out = []
    for d, _dirs, names in os.walk("../firmware/dynevse"):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), "../firmware/dynevse").replace(os.sep, "/")
            if n.endswith(".py") and rel not in skip:
                out.append(rel)
    return sorted(out)


package("dynevse", files=_firmware_files(options.hal), base_path="../firmware")
# microdot serves the setup portal
package("microdot", files=["__init__.py", "microdot.py"], base_path=options.libs)
