"""Heap of the OCPP package alone, under the MicroPython unix port, from .mpy files.

    MICROPYPATH=.frozen:<mpy dir> micropython tests/ocpp/heap_probe.py [N [ROUNDS]]

Prints one JSON object (bytes of heap after gc.collect(), 64-bit unix port):

- ``code``: what importing the central system costs once boot-time validation is
  dropped (as the app does), on top of what the rest of the firmware has anyway
  (asyncio, dynevse.aio/compat, the HTTP front)
- ``code_once_used``: the same after chargers have come and gone: the modules imported
  for one use are gone again, but the names they interned stay (MicroPython never frees
  a qstr)
- ``sessions``: N configured chargers, none connected
- ``per_charger``: each connected, busy charger (booted, set up, a transaction, meter
  values, a limit taken), without the stream objects an HTTP server gives it
- ``after``: what stays per charger once they have left (log lines, readings)
- ``later_per_charger``, ``later_after``: the same in each further round of connecting
  and leaving (nothing may accumulate)
- ``resident``: the package's modules still imported with N chargers connected
- ``boot_only``: the validation modules the central system imported again (none: it
  takes checked settings)

Chargers talk to ``CentralSystem.serve`` over in-memory streams, so the numbers hold the
OCPP package's objects and not an HTTP server's (those are measured in test_heap.py).
"""
import gc
import json
import sys

import asyncio
import binascii      # noqa: F401  (the firmware has these anyway)
import hashlib       # noqa: F401

from dynevse import aio, compat    # noqa: F401
from dynevse.web import front      # noqa: F401

N = int(sys.argv[1]) if len(sys.argv) > 1 else 4
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
TS = "2024-05-01T12:00:00Z"
MASK = b"\x11\x22\x33\x44"
HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "ocpp1.6"}
SAMPLES = [{"value": "15.8", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
           {"value": "15.6", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
           {"value": "15.9", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
           {"value": "16", "measurand": "Current.Offered", "unit": "A"},
           {"value": "10.9", "measurand": "Power.Active.Import", "unit": "kW"},
           {"value": "12.345", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
           {"value": "64", "measurand": "SoC", "unit": "Percent", "location": "EV"}]
CONFIG_ANSWER = {"configurationKey": [
    {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"},
    {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"},
    {"key": "NumberOfConnectors", "readonly": True, "value": "1"}], "unknownKey": []}


def _scrub(n):
    # deep calls with locals that are no references: they overwrite what earlier calls
    # left on the C stack, which the collector (it takes every word it sees there for a
    # reference) would otherwise keep alive at random
    a = b = c = d = e = f = g = h = 0
    if n:
        _scrub(n - 1)
    return a + b + c + d + e + f + g + h


def heap():
    _scrub(60)
    gc.collect()
    gc.collect()
    return gc.mem_alloc()


def drop(name):
    """Forget a module as the app's _drop_modules does."""
    mod = sys.modules.pop(name, None)
    parent, _, child = name.rpartition(".")
    pkg = sys.modules.get(parent)
    if mod is not None and pkg is not None and getattr(pkg, child, None) is mod:
        delattr(pkg, child)


class Pipe:
    """The server's end of an in-memory connection: it reads what the charger feeds and
    writes into ``out``."""

    def __init__(self):
        self.buf = bytearray()
        self.out = bytearray()
        self.more = asyncio.Event()
        self.eof = False

    def feed(self, data):
        self.buf.extend(data)
        self.more.set()

    async def readexactly(self, n):
        while len(self.buf) < n:
            if self.eof:
                raise EOFError()
            self.more.clear()
            await self.more.wait()
        d = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return d

    async def read(self, n):
        while not self.buf:
            if self.eof:
                return b""
            self.more.clear()
            await self.more.wait()
        d = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return d

    def write(self, data):
        self.out.extend(data)

    async def drain(self):
        pass


def client_frame(text):
    body = bytearray(text.encode())
    for i in range(len(body)):
        body[i] ^= MASK[i % 4]
    n = len(body)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE, n >> 8, n & 0xFF))
    return head + MASK + body


def setup_over(link):
    """Whether the setup after connecting has ended (central._SETUP; the link was an
    object with a setup task before 2026-11)."""
    if type(link) is list:
        return link[2] is True
    return link.setup is not None and link.setup.done()


class Charger:
    """A charge point answering the central system's CALLs."""

    def __init__(self, cs, cp_id):
        self.cs = cs
        self.id = cp_id
        self.pipe = Pipe()
        self.results = {}
        self.profiles = 0
        self.uid = 0
        self.stop = False

    def frames(self):
        out = self.pipe.out
        if out.startswith(b"HTTP/1.1"):
            i = out.find(b"\r\n\r\n")
            if i < 0:
                return []
            out = out[i + 4:]
        msgs = []
        i = 0
        while i + 2 <= len(out):
            n = out[i + 1] & 0x7F
            j = i + 2
            if n == 126:
                n = out[j] << 8 | out[j + 1]
                j += 2
            if j + n > len(out):
                break
            if out[i] & 0x0F == 1:
                msgs.append(json.loads(bytes(out[j:j + n])))
            i = j + n
        self.pipe.out = bytearray(out[i:])
        return msgs

    async def respond(self):
        while not self.stop:
            for m in self.frames():
                if m[0] == 2:
                    a = m[2]
                    if a == "GetConfiguration":
                        ans = CONFIG_ANSWER
                    else:
                        ans = {"status": "Accepted"}
                        if a == "SetChargingProfile":
                            self.profiles += 1
                    self.pipe.feed(client_frame(json.dumps([3, m[1], ans])))
                else:
                    self.results[m[1]] = m
            await asyncio.sleep_ms(1)

    async def call(self, action, payload):
        self.uid += 1
        uid = "c%d" % self.uid
        self.pipe.feed(client_frame(json.dumps([2, uid, action, payload])))
        while uid not in self.results:
            await asyncio.sleep_ms(1)
        return self.results.pop(uid)[2]

    async def busy(self):
        """Connect, boot, be set up, start a transaction, send meter values, take a limit."""
        self.server = asyncio.create_task(self.cs.serve(self.id, HEADERS, self.pipe, self.pipe))
        self.responder = asyncio.create_task(self.respond())
        await self.call("BootNotification", {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel",
                                             "firmwareVersion": "9.9"})
        session = self.cs.charger(self.id)
        while not setup_over(session._link):
            await asyncio.sleep_ms(1)
        await self.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
        tx = (await self.call("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                                   "timestamp": TS}))["transactionId"]
        assert await self.cs.charger(self.id).set_limit(10, 3) == "Accepted"
        # the charger goes on reporting (and what the test's own frames held of the
        # set_limit above is gone: the garbage collector looks at every stale slot)
        await self.call("MeterValues", {"connectorId": 1, "transactionId": tx,
                                        "meterValue": [{"timestamp": TS, "sampledValue": SAMPLES}]})
        await self.call("Heartbeat", {})
        self.stop = True
        await self.responder
        self.responder = None
        self.results = None

    async def leave(self):
        self.pipe.eof = True
        self.pipe.more.set()
        await self.server
        self.server = None


async def pause(ms):
    await asyncio.sleep_ms(ms)


def ocpp_modules():
    return sorted(n for n in sys.modules if n.startswith("dynevse.ocpp"))


async def round_trip(cs, base):
    """Heap (above ``base``) with the N chargers connected and busy, then after they left."""
    chargers = [Charger(cs, "H%d" % (i + 1)) for i in range(N)]
    for c in chargers:
        await c.busy()
    connected = heap() - base
    resident = ocpp_modules()
    for c in chargers:
        await c.leave()
    for _ in range(5):
        await asyncio.sleep_ms(1)
    del chargers
    return connected, heap() - base, resident


class Clock:
    """The clock the app gives the central system (so clock.py is not imported)."""

    def monotonic_ms(self):
        return aio.ticks_ms()

    def utc_s(self):
        return 1714564800


def qstr_info():
    """Print the interned names' pool (``qstr pool: ... n_total_bytes=N``): MicroPython
    grows it in chunks of several KB, so where one is taken depends on every name interned
    before, not on the step that happens to take it."""
    import micropython
    micropython.qstr_info()


def new_central(cfg, chargers):
    from dynevse.ocpp.central import CentralSystem
    try:
        return CentralSystem(cfg, chargers, Clock(), None, checked=True)
    except TypeError:    # before the checked argument existed
        return CentralSystem(cfg, chargers, Clock())


def main():
    start = heap()
    from dynevse.config.check import check_central
    # the watch over silent connections looks every second (it ends a second after the
    # last charger has left, and lets the used central system go)
    cfg, chargers = check_central({"boot_wait_s": 1, "log_lines": 10, "ws_ping_interval_s": 1},
                                  [{"id": "H%d" % (i + 1)} for i in range(N)])
    del check_central
    for name in ("dynevse.config.check", "dynevse.config.schema"):
        drop(name)
    settings = heap()
    from dynevse.ocpp.central import CentralSystem   # noqa: F401
    code = heap() - settings
    qstr_info()                 # the interned names' pool before and after (the test reads both):
    cs = new_central(cfg, chargers)
    sessions = heap() - settings - code
    qstr_info()                 # a new pool chunk taken here is not the sessions' own
    boot_only = [n for n in ("dynevse.config.check", "dynevse.config.schema") if n in sys.modules]
    # what the test's own objects cost (its charge points, the streams: an HTTP server
    # has its own instead)
    base = heap()
    harness = [Charger(cs, "H%d" % (i + 1)) for i in range(N)]
    pipes_cost = heap() - base
    del harness
    base = heap()
    qstr_info()                 # the names the first round interns (a pool chunk may fall
    c1, a1, resident = asyncio.run(round_trip(cs, base))
    qstr_info()                 # there) stay for every later round: the test takes them out
    per_round = []
    after_round = []
    for _ in range(ROUNDS - 1):
        c2, a2, _ = asyncio.run(round_trip(cs, base))
        per_round.append((c2 - pipes_cost) // N)
        after_round.append(a2 // N)
    # what the code leaves once used: a new central system in place of the used one
    asyncio.run(pause(1500))
    del cs
    cs = new_central(cfg, chargers)
    used = heap() - settings - sessions
    print(json.dumps({"n": N, "code": code, "code_once_used": used, "sessions": sessions, "boot_only": boot_only,
                      "per_charger": (c1 - pipes_cost) // N, "after": a1 // N,
                      "later_per_charger": per_round, "later_after": after_round,
                      "resident": resident}))


main()
