"""Idle connections against the front must not take the firmware down: in the README's
192 KB heap (64-bit unix port) 44 idle connections used to end it with MemoryError. Now at
most 8 connections may be waiting for their head (beyond that the oldest is closed), each
head has 10 s in all, and a configured charger still connects during the flood.

The firmware runs where the heap budgets are measured (host_tools.board_model.heap_port):
the 32-bit board model in 160 KB, a little above the 144 KB in which the stock path runs
its two chargers clean (docs/decisions.md, "Memory"; the issue measured 0.6-1.4 KB per idle
connection on 64-bit, so 200 unbounded ones would take some 60-140 KB more on 32-bit); the
64-bit port, whose objects are twice the size, in 320 KB."""
import asyncio
import socket
import time

from harness import ensure_built, wait_line  # noqa: F401  (harness sets sys.path)
from host_tools.board_model import heap_port
from host_tools.broker import free_port
from host_tools.run import start_firmware
from host_tools.sim import sim_config
from test_portal_browser import _charger_boots

IDLE = 200


def test_200_idle_connections_leave_the_firmware_up_and_a_charger_connects():
    ensure_built()
    port = free_port()
    cfg = sim_config(port, free_port())          # MQTT at a port nobody listens on
    for c in cfg["chargers"]:
        c["password"] = "ocpp-Secret-83"          # as _charger_boots authenticates
    micropython, bits = heap_port()
    fw = start_firmware(cfg, heap_kb=160 if bits == 32 else 320, rebuild=False, listen=("127.0.0.1", port),
                        micropython=micropython)
    socks = []
    try:
        wait_line(fw, "cycle 2:", timeout=60)
        for _ in range(IDLE):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
        # a configured charger connects meanwhile. It may be among the 8 waiting for their
        # head when newer idle ones arrive (the listen backlog lets some of the 200 in only
        # on their SYN retries, after it, and on a busy machine its head comes late): then
        # it is closed, and tries again as a real charger does (seen once on a loaded machine)
        cid = cfg["chargers"][0]["id"]
        tries = []
        while len(tries) < 3:
            try:
                tries.append(asyncio.run(_charger_boots(port, cid)))
            except Exception as e:  # closed before the upgrade's answer
                tries.append("%s: %s" % (type(e).__name__, e))
                time.sleep(1)
                continue
            break
        assert tries[-1] == "Accepted", tries
        # every idle one is closed by the board: pushed out by newer ones, the last 8 when
        # their 10 s are up; 15 s leaves room for the accept queue
        open_ = list(socks)
        end = time.time() + 15
        while open_ and time.time() < end:
            still = []
            for s in open_:
                s.settimeout(0.01)
                try:
                    got = s.recv(1)
                    if got == b"H":              # "HTTP/1.1 408 ...": the head's time is up
                        s.settimeout(2)
                        rest = s.recv(100)
                        assert rest.startswith(b"TTP/1.1 408"), rest
                    else:
                        assert got == b"", got   # closed for newer ones
                except socket.timeout:
                    still.append(s)
                except ConnectionResetError:
                    pass
            open_ = still
            time.sleep(0.5)
        assert not open_, "%d idle connections still open after 15 s" % len(open_)
        after = len(fw.lines)
        wait_line(fw, "cycle", timeout=20, after=after)
        assert fw.alive() and fw.memory_errors == 0
    finally:
        for s in socks:
            s.close()
        fw.stop()
