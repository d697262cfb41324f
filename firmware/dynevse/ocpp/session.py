"""One known charger: its connection, what it reported, and the CALLs the controller makes.

A ``ChargePointSession`` lives as long as the central system; connections come and go
(``run_connection``), each with its own small ``_Link`` state, so an idle charger costs
little heap. ``handle_text`` answers one incoming message synchronously: a malformed
frame costs one CALLERROR (or a drop) and nothing else. CALLs to the charger go one at a
time with a timeout; after every (re)connection a setup task reads the charger's
capabilities, sets its meter sampling and installs the fallback profile.
"""
import asyncio

from dynevse import aio
from dynevse.compat import const
from dynevse.core.schema import is_number
from dynevse.ocpp import rpc, messages
from dynevse.ocpp.clock import iso8601, hhmmss
from dynevse.ocpp.meter import read_meter_values
from dynevse.ocpp.ws import WebSocketClosed, WebSocketIdle, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR

ACCEPTED = "Accepted"
REJECTED = "Rejected"
TIMEOUT = "Timeout"
NOT_CONNECTED = "NotConnected"
BUSY = "Busy"
_RESULT = "result"
_ERROR = "error"

_MAX_WAITING = const(4)       # calls to one charger in flight or queued behind the outstanding one
_MAX_CONNECTORS = const(8)    # statuses kept per charger (connector 0..8)
_ABSOLUTE_LEAD_S = const(60)  # an Absolute profile starts this far in the past (clock drift)
_LIMIT_MARK = "@limit@"       # stands for the limit in the JSON until it is spliced in
_RATE_KEY = "ChargingScheduleAllowedChargingRateUnit"
_STACK_KEY = "ChargeProfileMaxStackLevel"
_CONNECTORS_KEY = "NumberOfConnectors"


def _tenths(x):
    """x floored to a whole number of tenths; the small lead absorbs float error (2.3*10 is
    22.999999999999996; on the board floats are 32-bit)."""
    return int(x * 10 + 0.001)


def _unit_from_config(value):
    """A or W from ChargingScheduleAllowedChargingRateUnit ("Current", "Power", both)."""
    tokens = [t.strip().lower() for t in value.split(",")]
    if "current" in tokens or "a" in tokens:
        return "A"
    if "power" in tokens or "w" in tokens:
        return "W"
    return None


class _Link:
    """One connection: the websocket, its tasks, and the one CALL outstanding on it."""

    def __init__(self, ws):
        self.ws = ws
        self.reader = None      # task reading the websocket
        self.setup = None       # task configuring the charger after (re)boot
        self.lock = asyncio.Lock()
        self.answered = asyncio.Event()
        self.booted = asyncio.Event()
        self.pending = None     # unique id of our outstanding CALL
        self.answer = None      # (message type, payload or code, description)
        self.waiting = 0


class ChargePointSession:
    """A known charger. Read by the controller each cycle:

    ``connected``, ``vendor``/``model``/``firmware`` (None until a BootNotification),
    ``status()`` (status of connector 1, else 0), ``statuses`` {connector: status},
    ``meter`` {"current_a"|"offered_a"|"power_w"|"energy_wh"|"soc_pct": (value, arrived_ms)},
    ``transaction_id``, ``meter_start_wh``, ``rate_unit``, ``connectors``, ``counters``, ``log``.
    """

    def __init__(self, central, opts):
        self.id = opts["id"]
        self.opts = opts
        self._cs = central
        self._link = None
        self.vendor = None
        self.model = None
        self.firmware = None
        self.statuses = {}
        self.meter = {}
        self.transaction_id = None
        self.meter_start_wh = None
        self.rate_unit = "A" if opts["rate_unit"] == "auto" else opts["rate_unit"]
        self.max_stack_level = None
        self.connectors = None
        self.last_limit = None        # [A, phases, unit, answer] of the last set_limit
        self.counters = {"dropped": 0, "callerrors": 0, "timeouts": 0}
        self.log = []

    # ---- reading -------------------------------------------------------------------

    @property
    def connected(self):
        return self._link is not None

    def status(self):
        """OCPP status of connector 1 (the main connector), else of connector 0, else None."""
        s = self.statuses.get(1)
        return s if s is not None else self.statuses.get(0)

    def stack_level(self):
        """Stack level of the dynamic profile: the charger's option, else the site's
        lowered to what the charger reports as its maximum."""
        lvl = self.opts["stack_level"]
        if lvl >= 0:
            return lvl
        lvl = self._cs.config["stack_level"]
        if self.max_stack_level is not None and self.max_stack_level < lvl:
            lvl = self.max_stack_level
        return lvl

    def snapshot(self, now_ms):
        """A JSON-ready summary (ages in s instead of tick stamps) for pages and the API."""
        meter = {}
        for k in self.meter:
            v, at = self.meter[k]
            meter[k] = {"value": v, "age_s": aio.ticks_diff(now_ms, at) // 1000}
        conns = {}
        for c in self.statuses:
            conns[str(c)] = self.statuses[c]
        return {"id": self.id, "connected": self.connected, "vendor": self.vendor,
                "model": self.model, "firmware": self.firmware, "status": self.status(),
                "connectors": conns, "transaction_id": self.transaction_id, "meter": meter,
                "rate_unit": self.rate_unit, "stack_level": self.stack_level(),
                "last_limit": self.last_limit, "counters": self.counters, "log": self.log}

    def _log(self, text):
        line = "%s %s" % (hhmmss(self._cs.clock.utc_s()), text)
        self.log.append(line)
        if len(self.log) > self._cs.config["log_lines"]:
            self.log.pop(0)
        sink = self._cs.log_sink
        if sink is not None:
            sink(self.id, line)

    # ---- incoming messages ---------------------------------------------------------

    def handle_text(self, text):
        """Handle one websocket text message; returns the text to send back, or None."""
        try:
            kind, uid, a, b = rpc.decode(text)
        except rpc.RpcError as e:
            return self._refuse(e)
        if kind == rpc.CALL:
            try:
                if not messages.is_word(a, messages.REQUESTS):
                    code = rpc.NOT_SUPPORTED if messages.is_word(a, messages.NOT_SUPPORTED) \
                        else rpc.NOT_IMPLEMENTED
                    raise rpc.RpcError(code, "%s is not taken by this central system" % a[:40])
                messages.check(b, a)
                reply = self._answer_call(a, b)
            except rpc.RpcError as e:
                e.unique_id = uid
                return self._refuse(e, a)
            except Exception as e:   # a fault of ours must cost one message, not the connection
                self._log("internal error on %s: %r" % (a, e))
                return self._refuse(rpc.RpcError(rpc.INTERNAL_ERROR, "internal error", uid), a)
            return rpc.result_text(uid, reply)
        link = self._link
        if link is None or link.pending is None or uid != link.pending:
            self.counters["dropped"] += 1
            self._log("dropped an answer to no outstanding CALL (id %s)" % uid[:40])
            return None
        link.pending = None    # a second answer with this id is dropped
        link.answer = (kind, a, b)
        link.answered.set()
        return None

    def _refuse(self, err, action=None):
        if err.unique_id is None:
            self.counters["dropped"] += 1
            self._log("dropped a message: %s" % err.description)
            return None
        self.counters["callerrors"] += 1
        self._log("CALLERROR %s to %s: %s" % (err.code, action or "message", err.description))
        return rpc.error_text(err.unique_id, err.code, err.description)

    def _answer_call(self, action, p):
        """The CALLRESULT payload for a checked CALL from the charger."""
        cs = self._cs
        if action == "MeterValues":
            if p["connectorId"] > 1:
                return {}   # the controller models one connector: 0 (whole charger) and 1
            tx = p.get("transactionId")
            if tx is not None and self.transaction_id is None:
                # running since before the board (re)started: adopted, so it can be stopped
                self.transaction_id = tx
                self._log("adopted running transaction %d" % tx)
            readings, ignored = read_meter_values(p["meterValue"], self.opts["phases"])
            now = cs.clock.monotonic_ms()
            for k in readings:
                self.meter[k] = (readings[k], now)
            if ignored:
                self._log("MeterValues: %d sampled values not usable" % ignored)
            return {}
        if action == "Heartbeat":
            return {"currentTime": iso8601(cs.clock.utc_s())}
        if action == "StatusNotification":
            c = p["connectorId"]
            st = p["status"]
            if c <= _MAX_CONNECTORS and self.statuses.get(c) != st:
                err = p["errorCode"]
                self._log("connector %d: %s%s" % (c, st, "" if err == "NoError" else " (%s)" % err))
                self.statuses[c] = st
            return {}
        if action == "BootNotification":
            self.vendor = p["chargePointVendor"]
            self.model = p["chargePointModel"]
            self.firmware = p.get("firmwareVersion")
            self._log("BootNotification %s %s firmware %s" % (self.vendor, self.model, self.firmware))
            link = self._link
            if link is not None:
                link.booted.set()
                if link.setup is not None and link.setup.done():
                    # booted again on the same connection: it has lost its profiles
                    link.setup = asyncio.create_task(self._setup(link))
            return {"status": ACCEPTED, "currentTime": iso8601(cs.clock.utc_s()),
                    "interval": cs.config["heartbeat_interval_s"]}
        if action == "Authorize":
            return {"idTagInfo": {"status": cs.id_tag_status(p["idTag"])}}
        if action == "StartTransaction":
            tag = p["idTag"]
            st = cs.id_tag_status(tag)
            tx = cs.new_transaction_id()
            if st == ACCEPTED:
                self.transaction_id = tx
                self.meter_start_wh = p["meterStart"]
            self._log("StartTransaction connector %d idTag %s: %s, transaction %d"
                      % (p["connectorId"], tag, st, tx))
            return {"idTagInfo": {"status": st}, "transactionId": tx}
        if action == "StopTransaction":
            tx = p["transactionId"]
            if tx == self.transaction_id:
                self.transaction_id = None
            self._log("StopTransaction %d at %d Wh (%s)" % (tx, p["meterStop"], p.get("reason") or "Local"))
            tag = p.get("idTag")
            return {} if tag is None else {"idTagInfo": {"status": cs.id_tag_status(tag)}}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        if action != "DiagnosticsStatusNotification":
            # FirmwareStatusNotification, SecurityEventNotification
            self._log("%s %s" % (action, p.get("status") or p.get("type")))
        return {}

    # ---- calls to the charger ------------------------------------------------------

    async def _call(self, action, payload):
        """Send one CALL and wait for its answer: (``"result"``, payload), (``"error"``, code),
        or (TIMEOUT | NOT_CONNECTED | BUSY, None). ``payload`` may be a function returning
        (payload, limit in tenths): it runs when the CALL goes out, after the calls before it."""
        link = self._link
        if link is None:
            return NOT_CONNECTED, None
        if link.waiting >= _MAX_WAITING:
            return BUSY, None
        link.waiting += 1
        try:
            async with link.lock:   # at most one outstanding CALL to this charger
                if self._link is not link:
                    return NOT_CONNECTED, None
                limit_tenths = None
                if callable(payload):
                    payload, limit_tenths = payload()
                uid = self._cs.next_unique_id()
                text = rpc.call_text(uid, action, payload)
                if limit_tenths is not None:
                    # the limit goes out with exactly one decimal, whatever float repr does
                    text = text.replace('"%s"' % _LIMIT_MARK,
                                        "%d.%d" % (limit_tenths // 10, limit_tenths % 10))
                link.answer = None
                link.answered.clear()
                link.pending = uid
                try:
                    await link.ws.send_text(text)
                    await aio.wait_for(link.answered.wait(), self._cs.config["call_timeout_s"])
                except aio.TimeoutError:
                    self.counters["timeouts"] += 1
                    self._log("%s: no answer in %s s" % (action, self._cs.config["call_timeout_s"]))
                    return TIMEOUT, None
                except WebSocketClosed:
                    return NOT_CONNECTED, None
                finally:
                    link.pending = None
                ans = link.answer
                if ans is None:
                    return NOT_CONNECTED, None   # woken by the connection ending
                if ans[0] == rpc.CALLERROR:
                    self._log("%s: CALLERROR %s %s" % (action, ans[1][:40], ans[2][:60]))
                    return _ERROR, ans[1]
                return _RESULT, ans[1]
        finally:
            link.waiting -= 1

    async def _call_status(self, action, payload):
        """The charger's status answer to a CALL; a CALLERROR or a malformed answer is Rejected."""
        kind, ans = await self._call(action, payload)
        if kind == _RESULT:
            result = ans.get("status")
            if not messages.is_word(result, messages.ANSWERS[action]):
                self._log("%s: answer without a valid status" % action)
                result = REJECTED
        else:
            result = REJECTED if kind == _ERROR else kind
        self._log("%s -> %s" % (action, result))
        return result

    def _profile(self, profile_id, stack_level, unit, phases, duration_s):
        sched = {"chargingRateUnit": unit,
                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": _LIMIT_MARK,
                                             "numberPhases": phases}]}
        kind = "Relative"
        if self.opts["profile_kind"] == "absolute":
            kind = "Absolute"
            sched["startSchedule"] = iso8601(self._cs.clock.utc_s() - _ABSOLUTE_LEAD_S)
            if duration_s:
                duration_s += _ABSOLUTE_LEAD_S
        if duration_s:
            sched["duration"] = duration_s
        return {"connectorId": self.opts["connector_id"],
                "csChargingProfiles": {"chargingProfileId": profile_id, "stackLevel": stack_level,
                                       "chargingProfilePurpose": "TxDefaultProfile",
                                       "chargingProfileKind": kind, "chargingSchedule": sched}}

    async def _send_profile(self, profile_id, below, amps, phases, duration_s):
        """A TxDefaultProfile ``below`` levels under the dynamic stack level, in the charger's
        unit; with rate unit auto a rejection is retried once in the other unit."""
        used = []

        def build(unit=None):
            # unit and stack level are read as the CALL goes out: a call before it may
            # just have learnt them
            unit = unit or self.rate_unit
            used.append(unit)
            tenths = _tenths(amps)
            if unit == "W":
                # W = A x V x phases, from the limit already floored to 0.1 A
                tenths = tenths * _tenths(self._cs.config["voltage_v"]) * phases // 10
            return self._profile(profile_id, self.stack_level() - below, unit, phases, duration_s), tenths

        st = await self._call_status("SetChargingProfile", build)
        if st in (REJECTED, "NotSupported") and used and self.opts["rate_unit"] == "auto":
            other = "W" if used[0] == "A" else "A"
            st = await self._call_status("SetChargingProfile", lambda: build(other))
            if st == ACCEPTED:
                self.rate_unit = other
                self._log("charger takes limits in %s" % other)
        return st

    async def set_limit(self, amps, phases_in_use):
        """Limit the charger to ``amps`` per phase on ``phases_in_use`` phases (a TxDefault
        profile at the dynamic stack level, valid for profile_duration_s).

        Returns Accepted, Rejected, Timeout, NotConnected or Busy.
        """
        if not is_number(amps) or not 0 <= amps <= 1000:
            raise ValueError("amps must be a number from 0 to 1000, got %r" % (amps,))
        if phases_in_use not in (1, 2, 3) or type(phases_in_use) is bool:
            raise ValueError("phases_in_use must be 1, 2 or 3, got %r" % (phases_in_use,))
        if amps < 0.1 and self.opts["stop_method"] == "remote_stop" and self.transaction_id is not None:
            st = await self.remote_stop()
        else:
            st = await self._send_profile(self._cs.config["profile_id"], 0, amps, phases_in_use,
                                          self._cs.config["profile_duration_s"])
        if st == "NotSupported":
            st = REJECTED
        self.last_limit = [_tenths(amps) / 10, phases_in_use, self.rate_unit, st]
        return st

    async def _install_fallback(self):
        if self.stack_level() < 1:
            self._log("no stack level below 0: fallback profile not installed")
            return None
        return await self._send_profile(self._cs.config["fallback_profile_id"], 1,
                                        self._cs.config["fallback_a"], self.opts["phases"], 0)

    async def clear_profiles(self):
        """Clear the charger's TxDefaultProfiles (ours and any that would compete with them),
        then install the fallback profile again. Returns the answer to the clear."""
        st = await self._call_status("ClearChargingProfile",
                                     {"chargingProfilePurpose": "TxDefaultProfile"})
        if st in (ACCEPTED, "Unknown"):
            await self._install_fallback()
        return st

    async def remote_start(self, id_tag):
        """RemoteStartTransaction on connector 1."""
        if not isinstance(id_tag, str) or not 0 < len(id_tag) <= 20:
            raise ValueError("id_tag must be 1 to 20 characters, got %r" % (id_tag,))
        return await self._call_status("RemoteStartTransaction", {"connectorId": 1, "idTag": id_tag})

    async def remote_stop(self):
        """RemoteStopTransaction of the running transaction (Rejected when there is none)."""
        if self.transaction_id is None:
            self._log("RemoteStopTransaction: no transaction running")
            return REJECTED
        return await self._call_status("RemoteStopTransaction", {"transactionId": self.transaction_id})

    async def reset(self, kind):
        """Reset ``Soft`` or ``Hard``."""
        if kind not in ("Soft", "Hard"):
            raise ValueError("reset kind must be Soft or Hard, got %r" % (kind,))
        return await self._call_status("Reset", {"type": kind})

    async def trigger(self, message, connector_id=None):
        """TriggerMessage: ask the charger to send ``message`` (e.g. StatusNotification) now."""
        if not messages.is_word(message, messages.TRIGGER_MESSAGES):
            raise ValueError("message must be one of%sgot %r" % (messages.TRIGGER_MESSAGES, message))
        payload = {"requestedMessage": message}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await self._call_status("TriggerMessage", payload)

    # ---- after connecting ----------------------------------------------------------

    async def _configure(self):
        """Read the capabilities, set meter sampling, install the fallback profile."""
        cfg = self._cs.config
        kind, ans = await self._call("GetConfiguration", {"key": [_RATE_KEY, _STACK_KEY, _CONNECTORS_KEY]})
        if kind == NOT_CONNECTED:
            return
        if kind == _RESULT:
            try:
                messages.check(ans, "GetConfiguration")
                for item in ans.get("configurationKey") or ():
                    key = item["key"]
                    value = (item.get("value") or "").strip()
                    if key == _RATE_KEY and self.opts["rate_unit"] == "auto":
                        self.rate_unit = _unit_from_config(value) or self.rate_unit
                    elif key == _STACK_KEY and value.isdigit():
                        self.max_stack_level = int(value)
                    elif key == _CONNECTORS_KEY and value.isdigit():
                        self.connectors = int(value)
                self._log("capabilities: unit %s, max stack level %s, connectors %s"
                          % (self.rate_unit, self.max_stack_level, self.connectors))
            except rpc.RpcError as e:
                self._log("GetConfiguration: invalid answer: %s" % e.description)
        if cfg["meter_sample_interval_s"]:
            await self._call_status("ChangeConfiguration", {"key": "MeterValueSampleInterval",
                                                            "value": str(cfg["meter_sample_interval_s"])})
        if cfg["meter_measurands"]:
            await self._call_status("ChangeConfiguration", {"key": "MeterValuesSampledData",
                                                            "value": ",".join(cfg["meter_measurands"])})
        await self._install_fallback()

    async def _setup(self, link):
        """Configure the charger once it has booted (after boot_wait_s, it is asked to)."""
        if not link.booted.is_set():
            wait_s = self._cs.config["boot_wait_s"]
            try:
                await aio.wait_for(link.booted.wait(), wait_s)
            except aio.TimeoutError:
                self._log("no BootNotification after connecting: triggering one")
                await self.trigger("BootNotification")
                try:
                    await aio.wait_for(link.booted.wait(), wait_s)
                except aio.TimeoutError:
                    pass     # configured anyway: a charger may stay silent and still charge
        await self._configure()

    # ---- connection ----------------------------------------------------------------

    def _attach(self, ws):
        """Make ``ws`` the charger's connection; returns its link."""
        self._link = link = _Link(ws)
        self._log("connected")
        return link

    async def _read_loop(self, ws, done):
        code = None
        interval_s = self._cs.config["ws_ping_interval_s"]
        try:
            # _drop cancels this task, but CPython 3.11's wait_for can swallow a cancel that
            # meets arriving data: close_request is the word that always gets through
            while ws.close_request is None:
                try:
                    text = await ws.receive(interval_s)
                except WebSocketIdle:
                    # silent for interval_s: ping it; silent three times that long: gone
                    silent_ms = aio.ticks_diff(aio.ticks_ms(), ws.last_rx_ms)
                    if silent_ms >= 3000 * interval_s:
                        self._log("silent for %d s: closing the connection" % (silent_ms // 1000))
                        ws.close_request = (CLOSE_GOING_AWAY, "no traffic")
                        code = CLOSE_GOING_AWAY
                        return
                    await ws.ping()
                    continue
                if ws.close_request is not None:
                    break     # this connection was ended while the message came in
                reply = self.handle_text(text)
                if reply is not None:
                    await ws.send_text(reply)
        except WebSocketClosed as e:
            code = e.code
        except Exception as e:   # not CancelledError: that is how _drop ends this loop
            self._log("connection error: %r" % (e,))
        finally:
            if self._link is not None and self._link.ws is ws:
                self._detach(code)
            done.set()

    def _detach(self, code):
        """The current connection is over: wake a waiting CALL, stop the connection's tasks."""
        link = self._link
        self._link = None
        link.answer = None
        link.answered.set()
        me = asyncio.current_task()
        for t in (link.reader, link.setup):
            if t is not None and t is not me:
                t.cancel()
        self._log("disconnected%s" % ("" if code is None else " (%d)" % code))

    def _drop(self, ws, code, reason):
        """End a connection from outside its reader: the connection's handler closes it."""
        ws.close_request = (code, reason)
        if self._link is not None and self._link.ws is ws:
            self._detach(code)

    async def run_connection(self, ws):
        """Serve an open websocket until it ends (replacing an older connection of this charger)."""
        if self._link is not None:
            self._log("a new connection replaces the old one")
            self._drop(self._link.ws, CLOSE_GOING_AWAY, "replaced by a new connection")
        link = self._attach(ws)
        done = asyncio.Event()
        link.reader = asyncio.create_task(self._read_loop(ws, done))
        link.setup = asyncio.create_task(self._setup(link))
        try:
            await done.wait()
            if not ws.closed:
                code, reason = ws.close_request or (CLOSE_INTERNAL_ERROR, "internal error")
                await ws.close(code, reason)
        finally:
            link.reader.cancel()
            link.setup.cancel()
