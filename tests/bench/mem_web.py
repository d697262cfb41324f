"""Heap cost of the web side, from the built .mpy tree, on the 32-bit board model.

    python -c "from host_tools import build; build.build('unix-sim')"
    cd build/unix-sim && MICROPYPATH=.frozen:lib /tmp/mp32/micropython -X heapsize=1M \
        ../../tests/bench/mem_web.py

Prints: the bytes the setup portal's modules (microdot and ours) add after a collection;
the bytes one GET of the wizard allocates (collector off) and the page's size, served by
the real server over a loopback socket; what stays after it; the same for the status
page's module and one rendering of it for two chargers.
"""
import asyncio
import gc

import dynevse.compat  # noqa: F401
from dynevse.hal.unix import Board


async def _get(port, path):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    await w.drain()
    n = 0
    while True:
        b = await r.read(512)
        if not b:
            break
        n += len(b)
    w.close()
    return n


async def portal():
    gc.collect()
    a = gc.mem_alloc()
    from dynevse.web.portal import Portal
    gc.collect()
    b = gc.mem_alloc()
    print("portal modules (microdot + web.portal): %d bytes" % (b - a))
    p = Portal(Board({}, "/tmp"), None, "no configuration yet")
    port = 18977
    task = asyncio.create_task(p.serve("127.0.0.1", port))
    await asyncio.sleep_ms(100)
    await _get(port, "/")           # the first request loads what requests need
    gc.collect()
    c = gc.mem_alloc()
    print("portal serving, after a first request: %d bytes above the modules" % (c - b))
    gc.disable()
    c = gc.mem_alloc()
    n = await _get(port, "/")
    d = gc.mem_alloc()
    gc.enable()
    print("one GET / (the wizard, %d bytes with its head): %d bytes allocated, collector off" % (n, d - c))
    gc.collect()
    print("after it, collected: %+d bytes" % (gc.mem_alloc() - c))
    task.cancel()


class _App:
    """What the status page reads from the app: a default site, two chargers' last cycle."""

    def __init__(self):
        self.cfg = {"site": {"breaker_a": 25, "breaker_margin_a": 2, "mode": "solar", "distribution": "shared"}}
        self.cycles = 12
        self.mqtt_error = ""
        self.view = ([18.2, 9.1, 22.4], False,
                     [("garage", "Charging", 10.0, 9.9, "ok", 0, True, "ok", False),
                      ("carport", "SuspendedEV", 0.0, None, "paused", 240, True, "refused", False)])


def status():
    gc.collect()
    a = gc.mem_alloc()
    from dynevse.web import status as st
    gc.collect()
    b = gc.mem_alloc()
    print("status page module: %d bytes" % (b - a))
    app = _App()
    gc.collect()
    gc.disable()
    c = gc.mem_alloc()
    n = 0
    for chunk in st._chunks(st.summary(app), "0123456789abcdef"):
        n += len(chunk)
    d = gc.mem_alloc()
    gc.enable()
    print("one status page (%d bytes of HTML): %d bytes allocated, collector off" % (n, d - c))


asyncio.run(portal())
status()
