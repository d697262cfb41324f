"""Heap used by the OCPP server under the MicroPython unix port with chargers connected,
read with gc.mem_alloc() after gc.collect() through the control API.

The numbers are of the 64-bit unix port, where every object is about twice its size on
the 32-bit ESP32. The budgets below are regression guards set from measurement, with the
reasoning next to each; the measured values are printed (pytest -s) for the record.
"""
import asyncio

from contextlib import AsyncExitStack

from ocpp.v16 import call
from ocpp_peer import Connected, Server, TS
from test_real_peer import expect_setup, meter_values

N = 4
CONFIG = {"ocpp": {"boot_wait_s": 1, "log_lines": 10},
          "chargers": [{"id": "H%d" % i} for i in range(1, N + 1)]}


async def heap(srv):
    return (await srv.status())["heap_used"]


async def busy_charger(srv, stack, cp_id):
    """Connect, boot, set up, start a transaction, send meter values, take a limit."""
    cp = await stack.enter_async_context(Connected(srv, cp_id))
    await cp.boot()
    await expect_setup(cp)
    start = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=TS),
                          suppress=False)
    await cp.call(meter_values(start.transaction_id), suppress=False)
    assert await srv.command(cp_id, "set_limit", 10, 3) == "Accepted"


async def cycle(srv):
    """Heap with 1..N chargers connected, then after they have all left."""
    used = []
    async with AsyncExitStack() as stack:
        for i in range(1, N + 1):
            await busy_charger(srv, stack, "H%d" % i)
            used.append(await heap(srv))
    for i in range(1, N + 1):
        await srv.wait_charger("H%d" % i, lambda c: not c["connected"])
    return used, await heap(srv)


def test_heap_with_chargers_connected(tmp_path, mpy_dir):
    srv = Server("micropython", CONFIG, str(tmp_path), mpy_dir)
    try:
        async def scenario():
            start = await heap(srv)
            used1, after1 = await cycle(srv)
            used2, after2 = await cycle(srv)
            return start, used1, after1, used2, after2

        start, used1, after1, used2, after2 = asyncio.run(asyncio.wait_for(scenario(), 180))
    finally:
        srv.stop()
    per_charger = (used1[-1] - start) / N
    print("\nOCPP server heap (64-bit unix port): %d B with %d idle chargers configured; "
          "connected: %s; after they left: %d; second round: %s, after: %d; %.0f B per connected charger"
          % (start, N, used1, after1, used2, after2, per_charger))
    # Idle: imports (OCPP, microdot, asyncio, the schema) and four sessions. Measured about
    # 128 KB; 150 KB leaves room for small changes but catches a new big table or buffer.
    assert start < 150 * 1024
    # A connected charger holds its connection (streams, HTTP request, websocket, tasks),
    # its readings and its log. Measured about 10 KB; a per-connection buffer of the
    # message size (8 KB) would push it past 16 KB.
    assert per_charger < 16 * 1024
    # What stays after they leave is readings and at most log_lines lines per charger:
    # at most 4 KB each.
    assert after1 - start < N * 4 * 1024
    # The second round ends where the first did: nothing accumulates per connection.
    assert abs(after2 - after1) < 2 * 1024
    assert abs(used2[-1] - used1[-1]) < 4 * 1024
