"""Heap cost of the engine's modules and of one allocation, from the built .mpy tree.

    python -c "from host_tools import build; build.build('unix-sim')"
    cd build/unix-sim && MICROPYPATH=.frozen:lib /tmp/mp32/micropython -X heapsize=1M \
        ../../tests/bench/mem_engine.py

Run it on the 32-bit unix port (the board's object sizes). Prints the bytes each module
adds after a collection, and the bytes one ``allocate()`` allocates (collector off) for
three chargers on a battery site with pre-validated settings, as the board calls it.
"""
import gc
import sys

import dynevse.compat  # noqa: F401  (loaded by everything before the engine)

MODULES = ("dynevse.core.distribute", "dynevse.core.sources", "dynevse.core.engine")


def main():
    gc.collect()
    start = last = gc.mem_alloc()
    for name in MODULES:
        __import__(name)
        gc.collect()
        now = gc.mem_alloc()
        print("%-26s %6d" % (name, now - last))
        last = now
    print("engine modules: %d bytes" % (last - start))
    from dynevse.config.check import check_setup
    from dynevse.core.engine import allocate
    bat = {"soc_min": 20, "soc_target": 80, "soc_hysteresis": 3, "max_charge_w": 5000, "max_discharge_w": 5000}
    site = {"phases": 3, "voltage_v": 230, "breaker_a": 25, "max_import_w": 11000, "mode": "eco",
            "battery": bat, "grid_a": [3.0, -2.0, 1.5], "solar_w": 6000, "battery_soc": 85, "battery_w": 1200}
    chs = [{"id": "cp1", "status": "Charging", "draw_a": [8, 8, 8]},
           {"id": "cp2", "status": "Charging", "phases": 1, "phase_map": "B", "mode": "solar", "draw_a": [7]},
           {"id": "cp3", "status": "Available"}]
    settings = check_setup(site, chs)
    for name in ("dynevse.config.check", "dynevse.config.fields", "dynevse.config.site", "dynevse.config.schema"):
        sys.modules.pop(name, None)
    state = allocate(site, chs, None, settings)["state"]
    worst = 0
    for _ in range(3):
        gc.collect()
        before = gc.mem_alloc()
        gc.disable()
        state = allocate(site, chs, state, settings)["state"]
        used = gc.mem_alloc() - before
        gc.enable()
        worst = used if used > worst else worst
    print("one allocate(), 3 chargers (one idle), battery site: %d bytes allocated" % worst)


main()
