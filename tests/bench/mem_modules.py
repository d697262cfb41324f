"""Heap cost of each firmware module, imported in the order the app loads them.

Runs under the MicroPython unix port in a built unix-sim tree; ``tests/bench/mem_report.py``
(``make mem``) builds the tree and runs it, giving the package modules to import in
``DYNEVSE_MEM_MODULES`` (comma-separated). Numbers are bytes of heap after a collection, on
whichever port runs it: the 64-bit PyPI one, or the 32-bit board model (``MODEL=esp32``),
whose figures are the board's. Where the modules come from is what the port's path says:
.mpy files in lib/, a ROMFS image (after ``host_tools.run.rom_prelude``) or frozen in.
"""
import gc
import os
import sys

RESIDENT = (
    "asyncio", "dynevse.compat", "dynevse.aio", "dynevse.log", "dynevse.hal", "dynevse.hal.unix",
    "dynevse.meter", "dynevse.wifi", "dynevse.app",
    "dynevse.core.distribute", "dynevse.core.engine", "dynevse.core.regulate",
    "dynevse.web.front",
)
BOOT_ONLY = ("dynevse.config.schema", "dynevse.config.site", "dynevse.config.fields",
             "dynevse.config.check", "dynevse.config.store", "dynevse.mqtt.discovery", "dynevse.start")


def main():
    where = os.getenv("DYNEVSE_MEM_FROM") or "mpy"
    packages = [n for n in (os.getenv("DYNEVSE_MEM_MODULES") or "").split(",") if n]
    gc.collect()
    start = last = gc.mem_alloc()
    rows = []
    for name in list(RESIDENT) + packages:
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
    if where != "rom":
        for name, n in rows:
            print("%-26s %6d" % (name, n))
    print("%s, resident modules: %d bytes; boot-only modules on top: %d bytes" % (
        {"mpy": "code from .mpy files", "rom": "code in ROM (run in place)",
         "frozen": "code frozen in"}[where], resident, boot))


main()
