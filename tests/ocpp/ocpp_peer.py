"""Real charge points (PyPI ``ocpp``, which checks every message against the official OCPP
1.6 JSON schemas) over ``websockets``, and the server process they talk to.

``Server`` starts ``tests/ocpp/serve.py`` under CPython or under the MicroPython unix port
(from .mpy files compiled with mpy-cross, as on the board) and talks to its control API.
``Charger`` is a charge point with switches for the behaviours real chargers differ in.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from host_tools import build  # noqa: E402
from host_tools.broker import free_port  # noqa: E402,F401  (tests import it from here)
from host_tools.sim_charger import PURPOSES, ProfileStack  # noqa: E402
BIN = os.path.dirname(sys.executable)
# The test server holds 15 chargers (more than a home has), their logs, and an API that
# builds JSON documents the board never builds; test_heap.py measures what OCPP itself costs.
MPY_HEAP = os.environ.get("OCPP_TEST_MPY_HEAP", "256K")
START_TIMEOUT_S = 30
TS = "2024-05-01T12:00:00Z"


def compile_mpy(out_dir):
    """The firmware as it goes onto a board (host_tools.build, the unix-sim tree); returns
    the directory to put on MICROPYPATH."""
    build.build("unix-sim", os.path.join(out_dir, "tree"))
    return os.path.join(out_dir, "tree", "lib")


class Server:
    """The OCPP server in a child process, with its control API."""

    def __init__(self, runtime, config, workdir, mpy_dir=None, clock_rate=None):
        """``clock_rate``: the server's monotonic clock runs this many times as fast as
        real time (serve.py's ``--clock-rate``)."""
        self.runtime = runtime
        self.port = free_port()
        self.log_path = os.path.join(workdir, "server-%s.log" % runtime)
        cfg_path = os.path.join(workdir, "config-%s.json" % runtime)
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        args = ["127.0.0.1", str(self.port), cfg_path]
        if clock_rate:
            args += ["--clock-rate", str(clock_rate)]
        env = dict(os.environ)
        if runtime == "micropython":
            cmd = [os.path.join(BIN, "micropython"), "-X", "heapsize=" + MPY_HEAP,
                   os.path.join(ROOT, "tests", "ocpp", "serve.py")] + args
            env["MICROPYPATH"] = ".frozen:" + mpy_dir
        else:
            cmd = [sys.executable, os.path.join(ROOT, "tests", "ocpp", "serve.py")] + args
            env["PYTHONPATH"] = os.path.join(ROOT, "firmware")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log_tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start:\n" + self.log_tail())
                time.sleep(0.1)

    def log_tail(self, n=60):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-n:])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def url(self, cp_id):
        return "ws://127.0.0.1:%d/ocpp/%s" % (self.port, cp_id)

    def _http(self, path, body):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return {"http_status": e.code, "body": e.read().decode()}

    async def api(self, path, body=None):
        return await asyncio.to_thread(self._http, path, body)

    async def command(self, cp_id, name, *args):
        """Run a controller command on the server; returns its result (e.g. "Accepted")."""
        r = await self.api("/api/ocpp/%s/%s" % (cp_id, name), list(args))
        assert "result" in r, r
        return r["result"]

    async def status(self):
        return await self.api("/api/ocpp")

    async def charger(self, cp_id):
        c = await self.api("/api/ocpp/" + cp_id)
        assert c.get("id") == cp_id, c
        return c

    async def wait_charger(self, cp_id, predicate, timeout_s=30):
        """Poll the charger's state until predicate(state) holds; returns the state."""
        deadline = time.monotonic() + timeout_s
        while True:
            c = await self.charger(cp_id)
            if predicate(c):
                return c
            assert time.monotonic() < deadline, "timed out waiting; last state: %r" % (c,)
            await asyncio.sleep(0.1)


class Charger(ChargePoint):
    """An OCPP 1.6 charge point with the quirks real chargers have, as switches:

    ``rate_unit``: what it reports as ChargingScheduleAllowedChargingRateUnit;
    ``units``: the units it accepts in a profile; ``purposes``: the profile purposes it
    accepts; ``max_stack``: its ChargeProfileMaxStackLevel; ``profile_delay_s``: how long
    it takes to answer a SetChargingProfile; ``clock``: its time in seconds (a server
    with a fast clock needs a charger with a clock of the same rate, ``fast_clock``).
    The profiles it accepts go into ``stack`` (host_tools.sim_charger.ProfileStack, on
    ``clock``): stacking, the rules of OCPP 1.6 3.13 (a TxProfile only with the running
    transaction, a ChargePointMaxProfile only on connector 0) and expiry as a charger
    keeps them; ``limit_a()`` is what it allows now (None: its own maximum).
    Every CALL from the central system is recorded in ``received`` (a queue of
    (action, kwargs)); profiles also in ``profiles``.
    """

    def __init__(self, cp_id, connection, rate_unit="Current", units=("A", "W"), max_stack="8",
                 purposes=PURPOSES, profile_delay_s=0, clock=time.time):
        super().__init__(cp_id, connection, response_timeout=30)
        self.rate_unit = rate_unit
        self.units = units
        self.purposes = purposes
        self.max_stack = max_stack
        self.profile_delay_s = profile_delay_s
        self.clock = clock
        self.stack = ProfileStack(int(max_stack))
        self.transaction_id = None
        self._starting = False
        self.config_answered = False
        self.received = asyncio.Queue()
        self.profiles = asyncio.Queue()

    def limit_a(self, car_phases=3, later_s=0):
        """What its profiles allow now (or ``later_s`` from now, on its clock)."""
        return self.stack.limit_a(self.clock() + later_s, car_phases)

    async def start_transaction(self, id_tag="T"):
        # a charger knows its transaction's id from the moment the answer arrives: a
        # profile read right after it (the library routes it before this coroutine
        # resumes) waits until the id is set
        self._starting = True
        try:
            r = await self.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=TS),
                                suppress=False)
            self.transaction_id = r.transaction_id
        finally:
            self._starting = False
        return r.transaction_id

    async def stop_transaction(self):
        tx, self.transaction_id = self.transaction_id, None
        self.stack.end_transaction()
        await self.call(call.StopTransaction(meter_stop=1000, timestamp=TS, transaction_id=tx), suppress=False)

    async def next(self, action, timeout_s=30):
        """The next CALL of this action from the central system (others are skipped)."""
        while True:
            a, kw = await asyncio.wait_for(self.received.get(), timeout_s)
            if a == action:
                return kw

    async def boot(self):
        r = await self.call(call.BootNotification(charge_point_vendor="TestVendor",
                                                  charge_point_model="TestModel",
                                                  firmware_version="9.9"), suppress=False)
        assert r.status == "Accepted"
        return r

    async def status(self, status, connector_id=1):
        await self.call(call.StatusNotification(connector_id=connector_id, error_code="NoError",
                                                status=status), suppress=False)

    async def heartbeat(self):
        return await self.call(call.Heartbeat(), suppress=False)

    @on("GetConfiguration")
    async def _get_configuration(self, key=None):
        self.received.put_nowait(("GetConfiguration", {"key": key}))
        known = {"ChargingScheduleAllowedChargingRateUnit": self.rate_unit,
                 "ChargeProfileMaxStackLevel": self.max_stack, "NumberOfConnectors": "1"}
        keys = [{"key": k, "readonly": True, "value": known[k]} for k in (key or known) if k in known]
        self.config_answered = True
        return call_result.GetConfiguration(configuration_key=keys,
                                            unknown_key=[k for k in key or () if k not in known])

    @on("ChangeConfiguration")
    def _change_configuration(self, key, value):
        self.received.put_nowait(("ChangeConfiguration", {"key": key, "value": value}))
        return call_result.ChangeConfiguration(status="Accepted")

    @on("SetChargingProfile")
    async def _set_charging_profile(self, connector_id, cs_charging_profiles):
        if self.profile_delay_s:
            await asyncio.sleep(self.profile_delay_s)
        for _ in range(100):
            if not self._starting:
                break
            await asyncio.sleep(0.01)
        unit = cs_charging_profiles["charging_schedule"]["charging_rate_unit"]
        status = "Rejected"
        if unit in self.units and cs_charging_profiles["charging_profile_purpose"] in self.purposes:
            status = self.stack.set(connector_id, cs_charging_profiles, self.clock(), self.transaction_id)
        kw = {"connector_id": connector_id, "profile": cs_charging_profiles, "status": status,
              "config_answered": self.config_answered}
        self.received.put_nowait(("SetChargingProfile", kw))
        self.profiles.put_nowait(kw)
        return call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def _clear_charging_profile(self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None):
        self.received.put_nowait(("ClearChargingProfile", {"charging_profile_purpose": charging_profile_purpose}))
        self.stack.clear(id, connector_id, charging_profile_purpose, stack_level)
        return call_result.ClearChargingProfile(status="Accepted")

    @on("RemoteStartTransaction")
    def _remote_start(self, **kw):
        self.received.put_nowait(("RemoteStartTransaction", kw))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def _remote_stop(self, **kw):
        self.received.put_nowait(("RemoteStopTransaction", kw))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def _reset(self, **kw):
        self.received.put_nowait(("Reset", kw))
        return call_result.Reset(status="Accepted")

    @on("TriggerMessage")
    def _trigger(self, requested_message, connector_id=None):
        self.received.put_nowait(("TriggerMessage", {"requested_message": requested_message,
                                                     "connector_id": connector_id}))
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def _after_trigger(self, requested_message, connector_id=None):
        if requested_message == "BootNotification":
            await self.boot()
        elif requested_message == "StatusNotification":
            await self.status("Available")


def fast_clock(rate):
    """Seconds at ``rate`` times real time: a charger's clock for a server started with
    the same ``clock_rate``."""
    return lambda: time.monotonic() * rate


class Tap:
    """A charge point's websocket that reads ahead: it notes when each message arrives
    (the ``ocpp`` library reads the next one only once it has answered the last), and
    what goes out, in ``log`` [("in" | "out", message)], in order."""

    def __init__(self, ws):
        self.ws = ws
        self.log = []
        self._queue = asyncio.Queue()
        self._pump = asyncio.create_task(self._read())

    async def _read(self):
        try:
            while True:
                m = await self.ws.recv()
                self.log.append(("in", json.loads(m)))
                self._queue.put_nowait(m)
        except Exception as e:     # the connection ended: recv raises it
            self._queue.put_nowait(e)

    async def recv(self):
        m = await self._queue.get()
        if isinstance(m, Exception):
            self._queue.put_nowait(m)
            raise m
        return m

    async def send(self, m):
        self.log.append(("out", json.loads(m)))
        await self.ws.send(m)

    def __getattr__(self, name):      # close_code, wait_closed...: the websocket's
        return getattr(self.ws, name)

    def most_in_flight(self):
        """The most CALLs of the central system outstanding at once."""
        open_ids = set()
        most = 0
        for way, m in self.log:
            if way == "in" and m[0] == 2:
                open_ids.add(m[1])
                most = max(most, len(open_ids))
            elif way == "out" and m[0] in (3, 4):
                open_ids.discard(m[1])
        return most


class Connected:
    """``async with Connected(server, cp_id, **charger_options) as cp``: a running charge point."""

    def __init__(self, server, cp_id, subprotocols=("ocpp1.6",), headers=None, **options):
        self.server = server
        self.cp_id = cp_id
        self.subprotocols = list(subprotocols)
        self.headers = headers
        self.options = options

    async def __aenter__(self):
        self.ws = await websockets.connect(self.server.url(self.cp_id), subprotocols=self.subprotocols,
                                           additional_headers=self.headers, open_timeout=30,
                                           ping_interval=None)
        self.tap = Tap(self.ws)
        self.cp = Charger(self.cp_id, self.tap, **self.options)
        self.task = asyncio.create_task(self.cp.start())
        return self.cp

    async def __aexit__(self, *exc):
        self.tap._pump.cancel()
        self.task.cancel()
        try:
            await self.task
        except BaseException:
            pass
        await self.ws.close()
