"""A simulated OCPP 1.6J charge point with a car, built on the PyPI ``ocpp`` library.

    car = site_model.Car({"max_a": 16}, 3)            # the site physics steps it
    charger = SimCharger("cp1", "ws://127.0.0.1:8080/ocpp/cp1", car, max_a=16)
    task = asyncio.create_task(charger.run(stop_event))
    charger.plug()                                   # a car arrives
    ... every physics step: model.step(dt); charger.tick(dt) ...

What it does, as a compliant charger would: BootNotification (retried while Pending or
Rejected), StatusNotification on every change (Available, Preparing, Charging,
SuspendedEVSE, Finishing), Authorize and StartTransaction when a car is plugged in,
MeterValues every MeterValueSampleInterval during a transaction (Current.Import per
phase, Current.Offered, Power.Active.Import, Energy.Active.Import.Register, SoC),
StopTransaction on unplug, Heartbeat at the interval the central system gave; it answers
SetChargingProfile, ClearChargingProfile, GetConfiguration, ChangeConfiguration,
TriggerMessage, RemoteStart/StopTransaction, Reset and DataTransfer. It reconnects when
the connection drops, like a real charger.

The car itself is a ``site_model.Car``: the charger only sets its ``limit_a`` (the current
offered, from the charging profiles) and reads its ``draw_a``; the simulator's physics
loop steps it, so the site's grid current and the charger's meter agree.

The profile logic (``ProfileStack``) is pure and takes the time as a number, so tests can
check stacking and expiry without a network. A profile lapses when its duration is over,
as on a real charger: the limit falls to the profile below it (the central system's
fallback), or to the charger's own rating when there is none; ``tick`` applies it.

Chargers differ in what they take; the switches ``units`` (the rate units accepted),
``purposes`` (the profile purposes accepted), ``rate_unit`` (what GetConfiguration
reports as ChargingScheduleAllowedChargingRateUnit) and ``max_stack_level`` make a
simulated charger one that, say, takes only W, only a TxProfile or nothing at all.
"""
import asyncio
import base64
import datetime
import time

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result

VOLTAGE_V = 230.0
CAR_MIN_A = 6.0                 # IEC 61851: below this the car pauses (site_model agrees)
DEFAULT_MAX_STACK_LEVEL = 8
DEFAULT_SAMPLE_INTERVAL_S = 10
CONNECT_TIMEOUT_S = 10
CALL_TIMEOUT_S = 20
RECONNECT_S = 2.0               # wait before reconnecting after a drop
REBOOT_S = 3.0                  # a Reset takes the charger away this long
AUTHORIZE_DELAY_S = 1.0         # plug-in to Authorize: the car and charger shake hands
LOOP_S = 0.2                    # how often the charger's own loop looks at its state
SUPPORTED_MEASURANDS = ("Current.Import", "Current.Offered", "Power.Active.Import",
                        "Energy.Active.Import.Register", "SoC", "Voltage")
DEFAULT_MEASURANDS = ("Current.Import", "Current.Offered", "Power.Active.Import",
                      "Energy.Active.Import.Register")
TRIGGERABLE = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification",
               "DiagnosticsStatusNotification", "FirmwareStatusNotification")
PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")
_RECURRENCE_S = {"Daily": 86400, "Weekly": 7 * 86400}


def iso_utc(t_s):
    """OCPP dateTime for a Unix time, e.g. 2024-05-01T12:00:00.250Z."""
    d = datetime.datetime.fromtimestamp(t_s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def parse_iso(text):
    """Unix time of an OCPP dateTime (Z or an offset; no offset counts as UTC)."""
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


class ProfileStack:
    """The charging profiles a charger holds, and the limit they give at a moment.

    Profiles are kept by id; a new profile replaces the one with the same id, and (per
    OCPP 1.6, 3.13.2) the one with the same purpose, stack level and connector. The
    limit at ``now_s``: of the TxProfiles in force (else the TxDefaultProfiles) the one
    with the highest stack level gives its current period; a ChargePointMaxProfile in
    force caps that. A profile is in force from its schedule's start (Absolute: its
    startSchedule; Relative: when it was received — the central system means "from now")
    for its ``duration`` (no duration: indefinitely), within validFrom/validTo.
    """

    def __init__(self, max_stack_level=DEFAULT_MAX_STACK_LEVEL, voltage_v=VOLTAGE_V):
        self.max_stack_level = max_stack_level
        self.voltage_v = voltage_v
        self.profiles = {}          # id -> (connector_id, profile dict, schedule start s)

    def set(self, connector_id, profile, now_s, transaction_id=None):
        """Install ``profile`` (snake_case keys, as the ocpp library hands them over);
        returns "Accepted" or "Rejected"."""
        try:
            pid = profile["charging_profile_id"]
            level = profile["stack_level"]
            purpose = profile["charging_profile_purpose"]
            kind = profile["charging_profile_kind"]
            sched = profile["charging_schedule"]
            unit = sched["charging_rate_unit"]
            periods = sched["charging_schedule_period"]
        except (KeyError, TypeError):
            return "Rejected"
        if unit not in ("A", "W") or not periods or not 0 <= level <= self.max_stack_level:
            return "Rejected"
        if purpose not in PURPOSES or connector_id not in (0, 1):
            return "Rejected"
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return "Rejected"
        if purpose == "TxProfile" and (connector_id == 0 or transaction_id is None or
                                       profile.get("transaction_id") not in (None, transaction_id)):
            return "Rejected"     # a TxProfile is for the running transaction (3.13.4)
        if kind == "Absolute" or kind == "Recurring":
            if not sched.get("start_schedule"):
                return "Rejected"
            try:
                start_s = parse_iso(sched["start_schedule"])
            except ValueError:
                return "Rejected"
        else:
            start_s = now_s
        for other_id in list(self.profiles):
            c, p, _ = self.profiles[other_id]
            if other_id == pid or (p["stack_level"] == level and c == connector_id
                                   and p["charging_profile_purpose"] == purpose):
                del self.profiles[other_id]
        self.profiles[pid] = (connector_id, profile, start_s)
        return "Accepted"

    def clear(self, profile_id=None, connector_id=None, purpose=None, stack_level=None):
        """ClearChargingProfile: remove the profiles matching every given criterion (an id
        alone matches by id); returns "Accepted" if any went, else "Unknown"."""
        gone = []
        for pid in self.profiles:
            c, p, _ = self.profiles[pid]
            if profile_id is not None:
                match = pid == profile_id
            else:
                match = ((connector_id is None or c == connector_id)
                         and (purpose is None or p["charging_profile_purpose"] == purpose)
                         and (stack_level is None or p["stack_level"] == stack_level))
            if match:
                gone.append(pid)
        for pid in gone:
            del self.profiles[pid]
        return "Accepted" if gone else "Unknown"

    def end_transaction(self):
        """A TxProfile ends with its transaction."""
        self.clear(purpose="TxProfile")

    def _period(self, profile, start_s, now_s):
        """The period of ``profile`` in force at ``now_s``, or None when it is not in force."""
        if profile.get("valid_from") and now_s < parse_iso(profile["valid_from"]):
            return None
        if profile.get("valid_to") and now_s >= parse_iso(profile["valid_to"]):
            return None
        sched = profile["charging_schedule"]
        elapsed = now_s - start_s
        recurrence = _RECURRENCE_S.get(profile.get("recurrency_kind"))
        if profile["charging_profile_kind"] == "Recurring" and recurrence and elapsed >= 0:
            elapsed %= recurrence
        if elapsed < 0:
            return None
        duration = sched.get("duration")
        if duration is not None and elapsed >= duration:
            return None
        found = None
        for per in sched["charging_schedule_period"]:
            if per["start_period"] <= elapsed:
                found = per
        return found

    def _amps(self, profile, period, car_phases):
        limit = float(period["limit"])
        if profile["charging_schedule"]["charging_rate_unit"] == "W":
            phases = period.get("number_phases") or car_phases
            limit = limit / (self.voltage_v * phases)
        return limit

    def _top(self, purpose, now_s, car_phases):
        best = None
        for pid in self.profiles:
            c, p, start_s = self.profiles[pid]
            if p["charging_profile_purpose"] != purpose:
                continue
            per = self._period(p, start_s, now_s)
            if per is None:
                continue
            # a connector-1 profile beats a connector-0 one of the same level
            rank = (p["stack_level"], c)
            if best is None or rank > best[0]:
                best = (rank, self._amps(p, per, car_phases))
        return None if best is None else best[1]

    def limit_a(self, now_s, car_phases=3):
        """The current per phase the profiles allow at ``now_s``; None when none is in force."""
        limit = self._top("TxProfile", now_s, car_phases)
        if limit is None:
            limit = self._top("TxDefaultProfile", now_s, car_phases)
        cap = self._top("ChargePointMaxProfile", now_s, car_phases)
        if cap is not None and (limit is None or cap < limit):
            limit = cap
        return limit


class _Protocol(ChargePoint):
    """The OCPP side of a SimCharger: answers the central system's CALLs.

    Handlers never wait for the central system (the library's reader would block on
    itself): what has to be sent in return is queued for the charger's own loop.
    """

    def __init__(self, charger, connection):
        super().__init__(charger.id, connection, response_timeout=CALL_TIMEOUT_S)
        self.charger = charger

    @on("SetChargingProfile")
    def _set_charging_profile(self, connector_id, cs_charging_profiles):
        return call_result.SetChargingProfile(
            status=self.charger.on_profile(connector_id, cs_charging_profiles))

    @on("ClearChargingProfile")
    def _clear_charging_profile(self, id=None, connector_id=None, charging_profile_purpose=None,
                                stack_level=None):
        st = self.charger.profiles.clear(id, connector_id, charging_profile_purpose, stack_level)
        self.charger.note("ClearChargingProfile -> %s" % st)
        self.charger.apply_limit()
        return call_result.ClearChargingProfile(status=st)

    @on("GetConfiguration")
    def _get_configuration(self, key=None):
        table = self.charger.configuration()
        keys = key or sorted(table)
        known = [{"key": k, "readonly": table[k][1], "value": table[k][0]} for k in keys if k in table]
        unknown = [k for k in keys if k not in table]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def _change_configuration(self, key, value):
        st = self.charger.change_configuration(key, value)
        self.charger.note("ChangeConfiguration %s=%s -> %s" % (key, value, st))
        return call_result.ChangeConfiguration(status=st)

    @on("TriggerMessage")
    def _trigger_message(self, requested_message, connector_id=None):
        if requested_message not in TRIGGERABLE or connector_id not in (None, 0, 1):
            return call_result.TriggerMessage(status="Rejected")
        self.charger.queue(("trigger", requested_message))
        return call_result.TriggerMessage(status="Accepted")

    @on("RemoteStartTransaction")
    def _remote_start(self, id_tag, connector_id=None, charging_profile=None):
        c = self.charger
        if not c.plugged or c.transaction_id is not None or connector_id not in (None, 1):
            return call_result.RemoteStartTransaction(status="Rejected")
        if charging_profile is not None:
            # a TxProfile that comes with the start applies to the new transaction
            c.pending_tx_profile = charging_profile
        c.queue(("start", id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def _remote_stop(self, transaction_id):
        c = self.charger
        if c.transaction_id is None or transaction_id != c.transaction_id:
            return call_result.RemoteStopTransaction(status="Rejected")
        c.queue(("stop", "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def _reset(self, type):
        self.charger.queue(("reset", type))
        return call_result.Reset(status="Accepted")

    @on("DataTransfer")
    def _data_transfer(self, vendor_id, message_id=None, data=None):
        return call_result.DataTransfer(status="UnknownVendorId")

    @on("ChangeAvailability")
    def _change_availability(self, connector_id, type):
        return call_result.ChangeAvailability(status="Accepted")

    @after("SetChargingProfile")
    def _after_profile(self, connector_id, cs_charging_profiles):
        self.charger.wake()


class _Restart(Exception):
    """The charger's loop ends the connection: a Reset (reboot) was asked for."""


class SimCharger:
    """One simulated charger with its car (a ``site_model.Car``), reconnecting as needed.

    Counters for the simulator: ``profiles_received`` (SetChargingProfile CALLs),
    ``profiles_accepted``, ``energy_wh`` (what the car drew), ``status`` (as last reported
    to the central system), ``offered_a`` (the current offered to the car), ``connected``.
    """

    def __init__(self, cp_id, url, car, max_a=16.0, password=None, voltage_v=VOLTAGE_V,
                 max_stack_level=DEFAULT_MAX_STACK_LEVEL, car_capacity_wh=60000, car_soc_pct=40.0,
                 id_tag="SIMTAG01", clock=time.time, vendor="DynEVSE-Sim", model="SimCharger",
                 units=("A", "W"), purposes=PURPOSES, rate_unit="Current"):
        self.id = cp_id
        self.units = units
        self.purposes = purposes
        self.rate_unit = rate_unit
        self.url = url
        self.car = car
        self.max_a = float(max_a)
        self.password = password
        self.voltage_v = voltage_v
        self.id_tag = id_tag
        self.clock = clock
        self.vendor = vendor
        self.model = model
        self.profiles = ProfileStack(max_stack_level, voltage_v)
        self.sample_interval_s = DEFAULT_SAMPLE_INTERVAL_S
        self.measurands = list(DEFAULT_MEASURANDS)
        self.heartbeat_s = 300
        self.car_capacity_wh = car_capacity_wh
        self.car_soc_pct = car_soc_pct
        self.plugged = False
        self.plugged_at_s = None
        self.transaction_id = None
        self.tx_meter_start_wh = 0
        self.stopped_remotely = False      # the car stays plugged after a RemoteStop: Finishing
        self.pending_tx_profile = None
        self.energy_wh = 0.0               # the charger's energy register
        self.offered_a = 0.0
        self.status = None                 # as last reported to the central system
        self.connected = False
        self.booted = False
        self.connects = 0
        self.profiles_received = 0
        self.profiles_accepted = 0
        self.last_event = ""
        self._queue = []
        self._wake = asyncio.Event()
        self._cp = None

    # ---- the car -------------------------------------------------------------------

    def plug(self):
        """A car is plugged in; the charger starts a transaction on its own loop."""
        if not self.plugged:
            self.plugged = True
            self.plugged_at_s = self.clock()
            self.stopped_remotely = False
            self.wake()

    def unplug(self):
        self.plugged = False
        self.stopped_remotely = False
        self.apply_limit()
        self.wake()

    def phases_in_use(self):
        return self.car.phases

    def draw_a(self):
        """Per phase L1..L3, what the car draws through this charger now."""
        return [self.car.draw_a if k < self.car.phases else 0.0 for k in range(3)]

    def profile_limit_a(self):
        """What the profiles allow now (None: no profile, the charger's own maximum)."""
        return self.profiles.limit_a(self.clock(), self.car.phases)

    def apply_limit(self):
        """Offer the car what the profiles allow, within the charger's rating; nothing
        before a transaction runs (the EVSE switches on only for an authorised session)."""
        if not self.plugged or self.transaction_id is None:
            offered = 0.0
        else:
            limit = self.profile_limit_a()
            offered = self.max_a if limit is None else max(0.0, min(self.max_a, limit))
        self.offered_a = offered
        self.car.limit_a = offered

    def tick(self, dt_s):
        """After the physics stepped the car by ``dt_s``: count the energy it drew and
        re-apply the limit (a profile may have expired)."""
        wh = sum(self.draw_a()) * self.voltage_v * dt_s / 3600.0
        self.energy_wh += wh
        if self.car_capacity_wh:
            self.car_soc_pct = min(100.0, self.car_soc_pct + wh / self.car_capacity_wh * 100.0)
        self.apply_limit()

    def wanted_status(self):
        if not self.plugged:
            return "Available"
        if self.transaction_id is None:
            return "Finishing" if self.stopped_remotely else "Preparing"
        if min(self.offered_a, self.car.max_a) >= CAR_MIN_A:
            return "Charging"
        return "SuspendedEVSE"

    # ---- called from the protocol handlers -----------------------------------------

    def note(self, text):
        self.last_event = text

    def queue(self, item):
        self._queue.append(item)
        self.wake()

    def wake(self):
        self._wake.set()

    def takes(self, profile):
        """Whether this charger takes a profile of this unit and purpose at all."""
        sched = profile.get("charging_schedule") or {}
        return (sched.get("charging_rate_unit") in self.units
                and profile.get("charging_profile_purpose") in self.purposes)

    def on_profile(self, connector_id, profile):
        """SetChargingProfile: Accepted if this charger takes its unit and purpose and the
        stack takes it (ProfileStack.set); the limit applies at once."""
        self.profiles_received += 1
        st = "Rejected"
        if self.takes(profile):
            st = self.profiles.set(connector_id, profile, self.clock(), self.transaction_id)
        if st == "Accepted":
            self.profiles_accepted += 1
        sched = profile.get("charging_schedule") or {}
        periods = sched.get("charging_schedule_period") or [{}]
        self.note("SetChargingProfile id %s level %s %s %s -> %s" % (
            profile.get("charging_profile_id"), profile.get("stack_level"),
            periods[0].get("limit"), sched.get("charging_rate_unit"), st))
        self.apply_limit()
        return st

    def configuration(self):
        """{key: (value, readonly)} as GetConfiguration reports it."""
        return {
            "ChargingScheduleAllowedChargingRateUnit": (self.rate_unit, True),
            "ChargeProfileMaxStackLevel": (str(self.profiles.max_stack_level), True),
            "ChargingScheduleMaxPeriods": ("24", True),
            "NumberOfConnectors": ("1", True),
            "MeterValueSampleInterval": (str(self.sample_interval_s), False),
            "MeterValuesSampledData": (",".join(self.measurands), False),
            "HeartbeatInterval": (str(self.heartbeat_s), False),
        }

    def change_configuration(self, key, value):
        if key in ("MeterValueSampleInterval", "HeartbeatInterval"):
            if not value.strip().isdigit():
                return "Rejected"
            if key == "MeterValueSampleInterval":
                self.sample_interval_s = int(value)
            else:
                self.heartbeat_s = int(value)
            return "Accepted"
        if key == "MeterValuesSampledData":
            wanted = [m.strip() for m in value.split(",") if m.strip()]
            if not wanted or any(m not in SUPPORTED_MEASURANDS for m in wanted):
                return "Rejected"
            self.measurands = wanted
            return "Accepted"
        if key in self.configuration():
            return "Rejected"          # read-only
        return "NotSupported"

    # ---- the connection ------------------------------------------------------------

    async def run(self, stop):
        """Connect, and reconnect after every drop, until ``stop`` (an asyncio.Event) is set."""
        while not stop.is_set():
            restart_wait_s = RECONNECT_S
            try:
                await self._connection(stop)
            except _Restart:
                restart_wait_s = REBOOT_S
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
                self.note("connection: %s" % (e.__class__.__name__,))
            finally:
                self.connected = False
                self.booted = False
                self._cp = None
            try:
                await asyncio.wait_for(stop.wait(), restart_wait_s)
            except asyncio.TimeoutError:
                pass

    async def _connection(self, stop):
        headers = None
        if self.password:
            token = base64.b64encode(("%s:%s" % (self.id, self.password)).encode()).decode()
            headers = {"Authorization": "Basic " + token}
        ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"], additional_headers=headers,
                                      open_timeout=CONNECT_TIMEOUT_S, close_timeout=2)
        self.connected = True
        self.connects += 1
        self.status = None          # report everything again on a new connection
        cp = self._cp = _Protocol(self, ws)
        reader = asyncio.create_task(cp.start())
        behaviour = asyncio.create_task(self._behave(cp, stop))
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({reader, behaviour, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and not t.cancelled() and t.exception() is not None:
                    raise t.exception()
        finally:
            for t in (reader, behaviour, stopper):
                t.cancel()
            await asyncio.gather(reader, behaviour, stopper, return_exceptions=True)
            await ws.close()

    async def _call(self, cp, payload):
        """A CALL to the central system; None on a CALLERROR (the library logs it)."""
        return await cp.call(payload)

    async def _boot(self, cp, stop):
        while not stop.is_set():
            r = await self._call(cp, call.BootNotification(
                charge_point_vendor=self.vendor, charge_point_model=self.model,
                firmware_version="1.0", charge_point_serial_number=self.id))
            if r is not None and r.status == "Accepted":
                if r.interval:
                    self.heartbeat_s = r.interval
                self.booted = True
                self.note("BootNotification Accepted")
                return
            # Pending/Rejected: try again after the interval the central system gave
            wait_s = (r.interval if r is not None and r.interval else 10)
            try:
                await asyncio.wait_for(stop.wait(), min(wait_s, 30))
            except asyncio.TimeoutError:
                pass

    async def _behave(self, cp, stop):
        """The charger's own side: boot, status, transactions, meter values, heartbeats."""
        await self._boot(cp, stop)
        await self._call(cp, call.StatusNotification(connector_id=0, error_code="NoError",
                                                     status="Available", timestamp=iso_utc(self.clock())))
        next_meter_s = self.clock()
        next_heartbeat_s = self.clock() + self.heartbeat_s
        while True:
            self._wake.clear()
            for item in self._take_queue():
                await self._handle(cp, item)
            now = self.clock()
            if not self.plugged and self.transaction_id is not None:
                await self._stop_transaction(cp, "EVDisconnected")
            elif (self.plugged and self.transaction_id is None and not self.stopped_remotely
                  and now - self.plugged_at_s >= AUTHORIZE_DELAY_S and self.status == "Preparing"):
                await self._start_transaction(cp, self.id_tag, authorize=True)
            self.apply_limit()
            await self._report_status(cp)
            now = self.clock()
            if self.transaction_id is not None and self.sample_interval_s > 0 and now >= next_meter_s:
                await self._meter_values(cp, "Sample.Periodic")
                next_meter_s = now + self.sample_interval_s
            elif self.transaction_id is None:
                next_meter_s = now       # the first sample comes right at the start
            if now >= next_heartbeat_s:
                await self._call(cp, call.Heartbeat())
                next_heartbeat_s = now + self.heartbeat_s
            try:
                await asyncio.wait_for(self._wake.wait(), LOOP_S)
            except asyncio.TimeoutError:
                pass

    def _take_queue(self):
        items, self._queue = self._queue, []
        return items

    async def _handle(self, cp, item):
        what, arg = item
        if what == "trigger":
            await self._triggered(cp, arg)
        elif what == "start" and self.plugged and self.transaction_id is None:
            await self._start_transaction(cp, arg, authorize=False)
        elif what == "stop" and self.transaction_id is not None:
            await self._stop_transaction(cp, arg)
            self.stopped_remotely = self.plugged
        elif what == "reset":
            if self.transaction_id is not None:
                await self._stop_transaction(cp, "HardReset" if arg == "Hard" else "SoftReset")
            self.note("Reset %s: rebooting" % arg)
            # a reboot loses the volatile profiles; TxDefaultProfiles survive (stored)
            self.profiles.end_transaction()
            raise _Restart()

    async def _triggered(self, cp, message):
        if message == "BootNotification":
            await self._boot(cp, asyncio.Event())
        elif message == "Heartbeat":
            await self._call(cp, call.Heartbeat())
        elif message == "MeterValues":
            await self._meter_values(cp, "Trigger")
        elif message == "StatusNotification":
            self.status = None
            await self._report_status(cp)
        elif message == "DiagnosticsStatusNotification":
            await self._call(cp, call.DiagnosticsStatusNotification(status="Idle"))
        elif message == "FirmwareStatusNotification":
            await self._call(cp, call.FirmwareStatusNotification(status="Idle"))

    async def _report_status(self, cp):
        st = self.wanted_status()
        if st != self.status:
            await self._call(cp, call.StatusNotification(connector_id=1, error_code="NoError", status=st,
                                                         timestamp=iso_utc(self.clock())))
            self.status = st

    async def _start_transaction(self, cp, id_tag, authorize):
        if authorize:
            r = await self._call(cp, call.Authorize(id_tag=id_tag))
            if r is None:
                return          # no answer (a timeout, a dropped link): the loop asks again
            if r.id_tag_info["status"] != "Accepted":
                self.note("Authorize %s refused" % id_tag)
                self.stopped_remotely = True      # wait for a RemoteStart or a new plug-in
                return
        meter_wh = int(self.energy_wh)
        r = await self._call(cp, call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=meter_wh,
                                                       timestamp=iso_utc(self.clock())))
        if r is None:
            return
        if r.id_tag_info["status"] != "Accepted":
            self.note("StartTransaction refused: %s" % r.id_tag_info["status"])
            self.stopped_remotely = True
            return
        self.transaction_id = r.transaction_id
        self.tx_meter_start_wh = meter_wh
        if self.pending_tx_profile is not None:
            self.profiles.set(1, self.pending_tx_profile, self.clock(), self.transaction_id)
            self.pending_tx_profile = None
        self.note("transaction %s started" % self.transaction_id)

    async def _stop_transaction(self, cp, reason):
        tx = self.transaction_id
        self.transaction_id = None
        self.profiles.end_transaction()
        self.apply_limit()
        await self._call(cp, call.StopTransaction(meter_stop=int(self.energy_wh), timestamp=iso_utc(self.clock()),
                                                  transaction_id=tx, reason=reason))
        self.note("transaction %s stopped (%s)" % (tx, reason))

    def sampled_values(self, context):
        """The sampled values of one MeterValue for the configured measurands."""
        out = []

        def add(measurand, value, unit, phase=None, location="Outlet"):
            v = {"value": "%.1f" % value if unit != "Wh" else "%d" % value, "context": context,
                 "measurand": measurand, "location": location, "unit": unit}
            if phase:
                v["phase"] = phase
            out.append(v)

        draw = self.draw_a()
        for m in self.measurands:
            if m == "Current.Import":
                for k in range(3):
                    add(m, draw[k], "A", "L%d" % (k + 1))
            elif m == "Current.Offered":
                add(m, self.offered_a, "A")
            elif m == "Power.Active.Import":
                add(m, sum(draw) * self.voltage_v, "W")
            elif m == "Energy.Active.Import.Register":
                add(m, int(self.energy_wh), "Wh")
            elif m == "SoC":
                add(m, self.car_soc_pct, "Percent", location="EV")
            elif m == "Voltage":
                for k in range(3):
                    add(m, self.voltage_v, "V", "L%d-N" % (k + 1))
        return out

    async def _meter_values(self, cp, context):
        sv = self.sampled_values(context)
        if not sv:
            return
        await self._call(cp, call.MeterValues(
            connector_id=1, transaction_id=self.transaction_id,
            meter_value=[{"timestamp": iso_utc(self.clock()), "sampled_value": sv}]))
