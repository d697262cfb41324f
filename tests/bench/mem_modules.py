"""Heap cost of each firmware module, imported in the order the app loads them.

Runs under the MicroPython unix port from the built unix-sim tree (the .mpy files a board
gets): ``python tests/bench/mem_report.py`` builds and runs it. Numbers are bytes of heap
after a collection, 64-bit unix port (the ESP32, 32-bit, needs less). Run after
``host_tools.run.rom_prelude`` (mem_report does), the same modules come from a ROMFS image.
"""
import gc
import sys

RESIDENT = (
    "asyncio", "dynevse.compat", "dynevse.aio", "dynevse.log", "dynevse.hal", "dynevse.hal.unix",
    "dynevse.meter", "dynevse.wifi", "dynevse.app",
    "dynevse.core.distribute", "dynevse.core.engine", "dynevse.core.regulate",
    "dynevse.web.front",
)
BOOT_ONLY = ("dynevse.config.schema", "dynevse.config.site", "dynevse.config.fields",
             "dynevse.config.check", "dynevse.config.store", "dynevse.mqtt.discovery", "dynevse.start")


def _package_modules(pkg):
    """Every module of a firmware package, from the built tree (resident ones only)."""
    import os
    names = []
    base = "lib/" + pkg.replace(".", "/")
    for f in sorted(os.listdir(base)):
        if f.endswith(".mpy") and f[:-4] != "__init__":
            name = pkg + "." + f[:-4]
            if name not in BOOT_ONLY and not name.endswith((".standalone", ".occasional", ".server", ".accept", ".clock",
                                                             ".commands", ".registration")):
                names.append(name)
    return names


def main():
    in_rom = sys.path[0] == "/rom"     # host_tools.run's prelude mounted an image
    gc.collect()
    start = last = gc.mem_alloc()
    rows = []
    for name in list(RESIDENT) + _package_modules("dynevse.ocpp") + _package_modules("dynevse.mqtt"):
        __import__(name)
        gc.collect()
        now = gc.mem_alloc()
        rows.append((name, now - last))
        last = now
    resident = last - start
    for name in BOOT_ONLY:
        __import__(name)
    gc.collect()
    boot = gc.mem_alloc() - last
    if not in_rom:
        for name, n in rows:
            print("%-26s %6d" % (name, n))
        print("resident modules: %d bytes; boot-only modules on top: %d bytes" % (resident, boot))
    else:
        print("code in ROM (run in place), resident modules: %d bytes; boot-only modules on top: %d bytes"
              % (resident, boot))


main()
