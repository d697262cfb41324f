"""The OCPP central system and a session per known charger.

``CentralSystem`` holds the settings, the clock, a ``ChargePointSession`` per configured
charger, the short list of unknown ids that tried to connect, and the ids it hands out
(unique ids of CALLs, transaction ids). It knows nothing of HTTP frameworks: ``serve``
runs an upgrade request on a stream pair (``dynevse.web.front`` hands it one).

A ``ChargePointSession`` lives as long as the central system; connections come and go
(``run_connection``), each with its own small link state (a list, see ``_attach``), so an
idle charger costs little heap. ``handle_text`` answers one incoming message
synchronously: a malformed frame costs one CALLERROR (or a drop) and nothing else. CALLs
to the charger go one at a time with a timeout. One task (``_watch``) pings silent
chargers and ends the connections of those silent too long.

What is rare lives in modules imported for a use and forgotten when no use runs
(``_use``), so their code leaves the heap again: ``accept.py`` (checking an upgrade
request, the handshake), ``setup.py`` (the constructor, the setup after every
(re)connection), ``answers.py`` (the CALLs a charger sends now and then), ``commands.py``
(the controller's occasional commands), ``summary.py`` (for pages) and ``texts.py`` (the
texts of faults and rare events). Also here: MeterValues into readings, and time as text.
"""
import asyncio
import json

from dynevse import aio
from dynevse.compat import const, is_number
from dynevse.ocpp import rpc
from dynevse.ocpp.ws import WebSocketClosed

_MAX_WAITING = const(4)       # calls to one charger in flight or queued behind the outstanding one
_MAX_CONNECTORS = const(8)    # statuses kept per charger (connector 0..8)
_ABSOLUTE_LEAD_S = const(60)  # an Absolute profile starts this far in the past (clock drift)
_DAY_S = const(86400)
_GOING_AWAY = const(1001)

# The link state of a connection: a list indexed by these.
_WS = const(0)        # the websocket (or what stands for it in tests)
_TASK = const(1)      # the task serving it (run_connection), None in tests
_SETUP = const(2)     # the setup task; None: none on this link, True: done
_PENDING = const(3)   # the outstanding CALL: [unique id, Event set on its answer, the answer,
                      # Event set when it is over (made by the first call waiting)], else None
_WAITING = const(4)   # calls outstanding or queued
_BOOTED = const(5)    # a BootNotification came on this connection
_SENDER = const(6)    # the task delivering the wanted limit (_sender), made once one is wanted
_KICK = const(7)      # its state: _BUSY, _KICKED (look again before sleeping), _ASLEEP
_BUSY = const(0)
_KICKED = const(1)
_ASLEEP = const(2)    # sleeping until its next step is due: a kick cancels the sleep
_DAY_MS = const(86400000)   # "until kicked"

# The sender: an answer other than Accepted or Rejected (none in time, the link busy) is
# followed by another try after this long (a charger that rejected every kind of profile:
# setup._RETRY_MS).
_AGAIN_MS = const(10000)
_SETUP_AGAIN_MS = 10000    # a setup that could not begin is tried again after this long
# What a dynamic profile can be, in the order tried (OCPP 1.6, 3.13.1); a session's
# ``purpose`` is an index into it.
PURPOSES = ("TxDefaultProfile", "TxProfile", "ChargePointMaxProfile")

_MAX_ENTRIES = const(4)      # meterValue entries read (the latest)
_MAX_SAMPLES = const(48)     # sampledValue entries read per entry: 3 phases x 16 measurands

_users = {}    # rare module -> uses of it running


def _use(name, n=1):
    """A rarely used module of this package (accept, setup, answers, ...) for one use, which
    ``_use(name, -1)`` ends. The module stays imported while a use runs (uses at the same
    time share it) and is forgotten when none does, so its code leaves the heap."""
    _users[name] = _users.get(name, 0) + n
    if n > 0:
        return __import__("dynevse.ocpp." + name, None, None, (name,))
    if not _users[name]:
        aio.forget(("dynevse.ocpp." + name,))


def _sync(name, fn, *args):
    """Call function ``fn`` of rare module ``name``."""
    try:
        return getattr(_use(name), fn)(*args)
    finally:
        _use(name, -1)


async def _run(name, fn, *args):
    """Run coroutine ``fn`` of rare module ``name``."""
    try:
        return await getattr(_use(name), fn)(*args)
    finally:
        _use(name, -1)


def _start_setup(s, link):
    # Not in a coroutine: a stale slot of a long-lived coroutine's stack would keep the
    # setup's coroutine, and with it setup.py, in the heap for as long as the
    # connection lasts (the garbage collector takes every word it sees for a reference).
    link[_SETUP] = asyncio.create_task(_set_up(s, link))


async def _set_up(s, link):
    """The setup after connecting. One that could not begin (setup.py not loaded: short
    of memory) is tried again while the connection lasts: the sender waits for the setup,
    so without it the charger would charge on its own rating for as long as it stays."""
    while True:
        try:
            await _run("setup", "setup", s, link)
        except Exception as e:   # a setup that began marks the link set up however it ends
            if link[_SETUP] is not True and s._link is link:
                s._note("nosetup", type(e).__name__, _SETUP_AGAIN_MS // 1000)
        if link[_SETUP] is True or s._link is not link:
            return
        await aio.sleep_ms(_SETUP_AGAIN_MS)


async def _sender(s, link):
    """The one sender of a charger's limit, for as long as this connection lasts: a step
    (``ChargePointSession._deliver``) whenever it is kicked or its timer runs out.

    It sleeps until its next step is due and a kick cancels the sleep: a task asleep
    costs less heap than one waiting for an Event with a timeout (on MicroPython
    ``wait_for`` adds two tasks)."""
    while s._link is link:
        link[_KICK] = _BUSY
        try:
            wait_ms = await s._deliver(link)
        except Exception as e:    # MemoryError: the sender goes on, a while later
            s._note("internal", "sender", e)
            wait_ms = _AGAIN_MS
        if s._link is not link:
            break
        if wait_ms == 0 or link[_KICK] == _KICKED:
            # the next step now (kicked during this one): after a yield, as a step's
            # calls need not have given other tasks a turn
            await aio.sleep_ms(0)
            continue
        link[_KICK] = _ASLEEP
        try:
            # (a test's clock may run faster than real time: its ``rate``)
            await aio.sleep_ms(_DAY_MS if wait_ms is None else wait_ms // s._cs.clock_rate)
        except asyncio.CancelledError:
            # a kick leaves _ASLEEP before it cancels (a second kick before this task
            # runs again makes it _KICKED); any other cancel ends the sender
            if s._link is not link or link[_KICK] == _ASLEEP:
                raise
            t = asyncio.current_task()
            if hasattr(t, "uncancel") and t.uncancel():
                raise             # CPython: cancelled from outside as well


def iso8601(utc_s):
    """``2024-05-01T12:00:00Z`` for a Unix time in seconds (fractions dropped)."""
    days, secs = divmod(int(utc_s), _DAY_S)
    # the civil date of a day count since 1970-01-01 (proleptic Gregorian)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return "%04d-%02d-%02dT%s" % (yoe + era * 400 + (1 if month <= 2 else 0), month, doy - (153 * mp + 2) // 5 + 1,
                                  hhmmss(secs)) + "Z"


def hhmmss(utc_s):
    """``12:00:00`` (UTC) for log lines."""
    secs = int(utc_s) % _DAY_S
    return "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)


def read_meter_values(meter_values, phases):
    """Readings in the (checked) ``meterValue`` list of a MeterValues.req, for a charger
    wired with ``phases`` (1 or 3). Returns ``(readings, ignored)``:

    - ``readings``: the keys the message carries of ``current_a`` ([L1, L2, L3] in A from
      Current.Import with phase L1 or L1-N...; a value without a phase is the current of
      each of the charger's phases; None where not reported), ``offered_a``
      (Current.Offered in A, without a phase, else the highest phase), ``power_w``
      (Power.Active.Import in W or kW; without a phase, else the sum of phases),
      ``energy_wh`` (Energy.Active.Import.Register in Wh or kWh, the measurand a sampled
      value without one has), ``soc_pct`` (SoC in %)
    - ``ignored``: sampled values that could not be used (unit, not a number...)

    Only the last few entries and the first samples of each are read, so a huge message
    costs bounded work.
    """
    # (tables here, not as module globals: a global costs a name and a slot)
    # what the controller reads, the unit each is measured in, what it becomes
    measurands = ("Current.Import", "Current.Offered", "Power.Active.Import", "Energy.Active.Import.Register",
                  "SoC")
    units = ("A", "A", "W", "Wh", "Percent")
    phase_names = ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N")
    out = {}
    ignored = 0
    start = len(meter_values) - _MAX_ENTRIES
    for entry in meter_values[start if start > 0 else 0:]:
        # one entry is one instant: its phase values are summed or combined together
        phase_a = [None, None, None]
        acc = [None] * 15     # per measurand k: [3k] unphased, [3k+1] sum of phases, [3k+2] highest phase
        samples = entry["sampledValue"]
        if len(samples) > _MAX_SAMPLES:
            ignored += len(samples) - _MAX_SAMPLES
            samples = samples[:_MAX_SAMPLES]
        for sv in samples:
            if sv.get("format") == "SignedData":
                ignored += 1
                continue
            m = sv.get("measurand") or measurands[3]
            if m not in measurands:
                continue   # a measurand the controller does not use
            k = measurands.index(m)
            unit = sv.get("unit")
            try:
                v = float(sv["value"])
            except (ValueError, TypeError):
                v = None
            if v is not None and v - v != 0:
                v = None        # nan and inf are not readings
            if unit is not None and unit != units[k]:
                if unit != "k" + units[k]:
                    v = None    # a unit the measurand is not measured in
                elif v is not None:
                    v *= 1000   # kW, kWh
            if v is None:
                ignored += 1
                continue
            phase = sv.get("phase")
            if phase is None:
                idx = -1
            elif phase in phase_names:
                idx = phase_names.index(phase) % 3
            else:
                continue    # N or line-to-line: not a phase current or power
            if k == 0 and idx >= 0:
                phase_a[idx] = v
                continue
            j = 3 * k
            if idx < 0:
                acc[j] = v
            else:
                acc[j + 1] = v if acc[j + 1] is None else acc[j + 1] + v
                if acc[j + 2] is None or v > acc[j + 2]:
                    acc[j + 2] = v
        if phase_a != [None, None, None]:
            out["current_a"] = phase_a
        elif acc[0] is not None:
            out["current_a"] = [acc[0], acc[0] if phases == 3 else None, acc[0] if phases == 3 else None]
        for k in range(1, 5):
            v = acc[3 * k]
            if v is None:     # power and energy: the sum of the phases, else the highest phase
                v = acc[3 * k + (1 if k == 2 or k == 3 else 2)]
            if v is None:
                continue
            if k == 4 and not 0 <= v <= 100:
                ignored += 1
            else:
                out[("current_a", "offered_a", "power_w", "energy_wh", "soc_pct")[k]] = v
    return out, ignored


class ChargePointSession:
    """A known charger. Read by the controller each cycle:

    ``connected``, ``vendor``/``model``/``firmware`` (None until a BootNotification),
    ``status()`` (status of connector 1, else 0), ``statuses`` {connector: status},
    ``meter`` {"current_a"|"offered_a"|"power_w"|"energy_wh"|"soc_pct": (value, arrived_ms)},
    ``transaction_id``, ``meter_start_wh``, ``rate_unit``, ``connectors``, ``counters``, ``log``;
    and of the limit: ``delivered_a``, ``delivered_ms``, ``control``, ``purpose``.

    The controller says what limit it wants (``want_limit``, every cycle) and when the
    charger does not follow it (``clear_and_resend``); the session's sender
    (``_sender``, ``_deliver``) owns the rest: it sends a limit when it differs from the
    one in force and again before that one lapses, one call at a time, the newest wanted
    value first, nothing before the setup has read the charger's capabilities, in the
    purpose and unit the charger takes (learnt, remembered for the session's lifetime).
    """

    # until a charger reports them (class attributes: an idle charger stores nothing)
    _link = None
    vendor = None
    model = None
    firmware = None
    transaction_id = None
    meter_start_wh = None
    rate_unit = "A"
    max_stack_level = None
    connectors = None
    last_limit = None         # [A, phases, unit, answer, purpose] of the sender's last outcome
    _log_text = ""            # the log: lines, each ending in a newline
    # the limit
    control = "pending"       # "ok": the charger takes our profiles; "refused": it took none
    purpose = 0               # the learnt purpose of the dynamic profile (index in PURPOSES)
    _tried = 0                # a bit per purpose rejected in A and W since the last acceptance
    _want = None              # [tenths of an amp, phases in use] wanted by the controller
    _delivered = None         # [tenths, phases, accepted_ms, sent_ms, transaction id or None]
    _clear = False            # a clear and resend is asked for
    _retry_ms = None          # it refused every purpose: when to try again (clock ms)
    # our fallback profile was accepted (kept while it is away: a charger keeps its
    # profiles; until then, out of reach, it may draw its own rating)
    fallback_held = False

    def __init__(self, central, opts):
        self.id = opts["id"]
        self.opts = opts
        self._cs = central
        if opts["rate_unit"] != "auto":
            self.rate_unit = opts["rate_unit"]
        self.statuses = {}
        self.meter = {}
        self.counters = {"dropped": 0, "callerrors": 0, "timeouts": 0}

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

    def _in_force(self, now_ms):
        """The delivered limit if it is still in force: not lapsed (profile_duration_s
        from when it was sent), and for a TxProfile (or a RemoteStop) its transaction
        still the running one; else None."""
        d = self._delivered
        if d is None or d[4] is not None and d[4] != self.transaction_id:
            return None
        if aio.ticks_diff(now_ms, d[3]) >= self._cs.config["profile_duration_s"] * 1000:
            return None
        return d

    @property
    def delivered_a(self):
        """The limit (A per phase) the charger accepted and has in force now, else None."""
        d = self._in_force(self._cs.clock.monotonic_ms())
        return None if d is None else d[0] / 10

    @property
    def delivered_ms(self):
        """``clock.monotonic_ms()`` when the charger accepted ``delivered_a``, else None."""
        d = self._in_force(self._cs.clock.monotonic_ms())
        return None if d is None else d[2]

    def snapshot(self, now_ms):
        """A JSON-ready summary (ages in s instead of tick stamps) for pages and the API."""
        return _sync("summary", "snapshot", self, now_ms)

    def _note(self, key, *args):
        """Log a rare event, its text from texts.py (its key if that cannot be had)."""
        try:
            key = _sync("texts", "text", key, args)
        except Exception as e:   # MemoryError: the event still shows, and why its text doesn't
            key = key + " (" + type(e).__name__ + ")"
        self._log(key)

    @property
    def log(self):
        """The last log_lines event lines, oldest first."""
        return self._log_text.split("\n")[:-1]

    def _log(self, text):
        # one string per charger: a list of lines costs twice the heap
        cs = self._cs
        line = hhmmss(cs.clock.utc_s()) + " " + text.replace("\n", " ")
        t = self._log_text + line + "\n"
        while t.count("\n") > cs.config["log_lines"]:
            t = t[t.find("\n") + 1:]
        self._log_text = t
        if cs.log_sink is not None:
            cs.log_sink(self.id, line)

    # ---- incoming messages ---------------------------------------------------------

    def handle_text(self, text):
        """Handle one websocket text message; returns the text to send back, or None.

        MeterValues, Heartbeat and StatusNotification are answered here, the other CALLs
        by ``answers.answer``; faults by ``answers.refuse``."""
        action = None
        try:
            kind, uid, a, p = rpc.decode(text)
            if kind != 2:
                link = self._link
                c = link[_PENDING] if link is not None else None
                if c is None or uid != c[0] or c[2] is not None:   # a second answer is dropped too
                    raise rpc.RpcError(None, uid)
                c[2] = (kind, a, p)
                c[1].set()
                return None
            action = a
            try:
                cs = self._cs
                if a == "MeterValues" or a == "Heartbeat" or a == "StatusNotification":
                    rpc.check(p, a)
                    if a == "Heartbeat":
                        p = {"currentTime": iso8601(cs.clock.utc_s())}
                    elif a == "StatusNotification":
                        c = p["connectorId"]
                        st = p["status"]
                        if c <= _MAX_CONNECTORS and self.statuses.get(c) != st:
                            err = p["errorCode"]
                            self._log("connector %d: %s%s" % (c, st, "" if err == "NoError" else " (%s)" % err))
                            self.statuses[c] = st
                        p = {}
                    elif p["connectorId"] > 1:
                        p = {}    # the controller models one connector: 0 (whole charger) and 1
                    else:
                        tx = p.get("transactionId")
                        if tx is not None and self.transaction_id is None:
                            # running since before the board (re)started: adopted, so it can be stopped
                            self.transaction_id = tx
                            self._note("adopted", tx)
                            self._wake()    # a TxProfile may go now
                        readings, ignored = read_meter_values(p["meterValue"], self.opts["phases"])
                        now = cs.clock.monotonic_ms()
                        for k in readings:
                            self.meter[k] = (readings[k], now)
                        if ignored:
                            self._note("unusable", ignored)
                        p = {}
                else:
                    p = _sync("answers", "answer", self, a, p)
                return json.dumps([3, uid, p])
            except rpc.RpcError as e:
                e.unique_id = uid
                raise
            except Exception as e:   # a fault of ours must cost one message, not the connection
                self._note("internal", a[:40], e)
                raise rpc.RpcError("InternalError", "internal error", uid)
        except rpc.RpcError as e:
            try:
                return _sync("answers", "refuse", self, e, action)
            except Exception:   # MemoryError: the text cannot be had, the answer still goes
                self.counters["dropped" if e.unique_id is None else "callerrors"] += 1
                return None if e.unique_id is None else json.dumps([4, e.unique_id, e.code, "", {}])

    # ---- calls to the charger ------------------------------------------------------

    async def _call(self, action, payload):
        """Send one CALL and wait for its answer: (``"result"``, payload), (``"error"``, code),
        or ("Timeout" | "NotConnected" | "Busy", None). ``payload`` is a dict, or the
        arguments of a SetChargingProfile (a list, see below) built when the CALL goes
        out, after the calls before it."""
        link = self._link
        if link is None:
            return "NotConnected", None
        if link[_WAITING] >= _MAX_WAITING:
            return "Busy", None
        link[_WAITING] += 1
        try:
            # at most one outstanding CALL to this charger: the others wait for its end
            while True:
                if self._link is not link:
                    return "NotConnected", None
                p = link[_PENDING]
                if p is None:
                    break
                if p[3] is None:
                    p[3] = asyncio.Event()
                await p[3].wait()
            cs = self._cs
            cs._uid += 1
            uid = str(cs._uid)
            p = link[_PENDING] = [uid, asyncio.Event(), None, None]
            timeout_s = cs.config["call_timeout_s"]
            if type(payload) is list:
                # a profile: [profile id, levels below the dynamic stack level, tenths of
                # an amp, phases, duration in s (0: none), unit (None: the charger's; the
                # one used is written back), purpose (index in PURPOSES), transaction id
                # (TxProfile)], built now: a call before it may just have learnt the
                # charger's unit or stack level
                profile_id, below, tenths, phases, duration_s, unit, purpose, tx = payload
                unit = payload[5] = unit or self.rate_unit
                if unit == "W":
                    # W = A x V x phases, from the limit already floored to 0.1 A
                    tenths = tenths * int(cs.config["voltage_v"] * 10 + 0.001) * phases // 10
                kind = "Relative"
                extra = ""
                if self.opts["profile_kind"] == "absolute":
                    kind = "Absolute"
                    extra = ', "startSchedule": "%s"' % iso8601(cs.clock.utc_s() - _ABSOLUTE_LEAD_S)
                    if duration_s:
                        duration_s += _ABSOLUTE_LEAD_S
                if duration_s:
                    extra += ', "duration": %d' % duration_s
                # OCPP 1.6, 3.13.1: a ChargePointMaxProfile only on connector 0, a
                # TxProfile on the connector of its transaction (the one this session
                # models) with the transaction's id
                connector = self.opts["connector_id"] if purpose == 0 else 1 if purpose == 1 else 0
                # SetChargingProfile; the limit with exactly one decimal
                payload = ('{"connectorId": %d, "csChargingProfiles": {"chargingProfileId": %d, %s"stackLevel": %d, '
                           '"chargingProfilePurpose": "%s", "chargingProfileKind": "%s", '
                           '"chargingSchedule": {"chargingRateUnit": "%s"%s, "chargingSchedulePeriod": '
                           '[{"startPeriod": 0, "limit": %d.%d, "numberPhases": %d}]}}}'
                           % (connector, profile_id, '"transactionId": %d, ' % tx if purpose == 1 else "",
                              self.stack_level() - below, PURPOSES[purpose], kind, unit, extra,
                              tenths // 10, tenths % 10, phases))
            else:
                payload = json.dumps(payload)
            try:
                await link[_WS].send_text('[2, "%s", "%s", %s]' % (uid, action, payload))
                payload = None
                await aio.wait_for(p[1].wait(), timeout_s)
            except aio.TimeoutError:
                self.counters["timeouts"] += 1
                self._note("timeout", action, timeout_s)
                return "Timeout", None
            except WebSocketClosed:
                return "NotConnected", None
            finally:
                # over: the next call may go (it runs once this one has been dealt with)
                link[_PENDING] = None
                if p[3] is not None:
                    p[3].set()
            ans = p[2]
            if ans is None:
                return "NotConnected", None   # woken by the connection ending
            if ans[0] == 4:
                self._note("callerror", action, ans[1][:40], ans[2][:60])
                return "error", ans[1]
            return "result", ans[1]
        finally:
            link[_WAITING] -= 1

    async def _call_status(self, action, payload, table=None):
        """The charger's status answer to a CALL (one of the words of ``action`` in
        ``table`` or rpc's); a CALLERROR or a malformed answer is Rejected."""
        kind, ans = await self._call(action, payload)
        if kind == "result":
            result = ans.get("status")
            if not rpc.one_of(result, action, table):
                self._note("nostatus", action)
                result = "Rejected"
        else:
            result = "Rejected" if kind == "error" else kind
        self._log("%s -> %s" % (action, result))
        return result

    async def _send_profile(self, profile_id, below, tenths, phases, duration_s, purpose=0, tx=None):
        """A profile of ``purpose`` ``below`` levels under the dynamic stack level, in the
        charger's unit; with rate unit auto a rejection is retried once in the other unit.
        Returns Accepted, Rejected (NotSupported too), Timeout, NotConnected or Busy."""
        args = [profile_id, below, tenths, phases, duration_s, None, purpose, tx]
        st = await self._call_status("SetChargingProfile", args)
        if (st == "Rejected" or st == "NotSupported") and args[5] and self.opts["rate_unit"] == "auto":
            other = args[5] = "W" if args[5] == "A" else "A"
            st = await self._call_status("SetChargingProfile", args)
            if st == "Accepted":
                self.rate_unit = other
                self._note("unit", other)
        return "Rejected" if st == "NotSupported" else st

    # ---- the limit: what the controller wants, and its one sender ----------------------

    def want_limit(self, limit_a, phases_in_use):
        """The limit the charger should have now: ``limit_a`` (A per phase, floored to
        0.1 A; 0 stops it) on ``phases_in_use`` phases (1..3, for a limit in W). Never
        blocks and takes a limit for a charger that is not connected; the sender delivers
        it. A bad value raises ValueError."""
        if not is_number(limit_a) or not 0 <= limit_a <= 1000:
            raise ValueError(_sync("texts", "text", "amps", (limit_a,)))
        if phases_in_use not in (1, 2, 3) or type(phases_in_use) is bool:
            raise ValueError(_sync("texts", "text", "phases", (phases_in_use,)))
        # floored to 0.1 A; the small lead absorbs float error (2.3 * 10 is
        # 22.999999999999996; on the board floats are 32-bit)
        tenths = int(limit_a * 10 + 0.001)
        w = self._want
        if w is None or w[0] != tenths or w[1] != phases_in_use:
            self._want = [tenths, phases_in_use]
            self._wake()

    def clear_and_resend(self):
        """The charger does not follow its limit: clear its profiles of our purpose,
        install the fallback again and send the limit again. Never blocks. A charger that
        refused every profile has none of ours to clear: it is tried again on its own."""
        if self.control != "refused" and not self._clear:
            self._note("resend")
            self._clear = True
            self._wake()

    def _wake(self):
        """Kick the sender of the current connection (made when first needed)."""
        link = self._link
        if link is None or self._want is None and not self._clear:
            return
        t = link[_SENDER]
        if t is None or t.done():
            link[_KICK] = _BUSY
            link[_SENDER] = asyncio.create_task(_sender(self, link))
        elif link[_KICK] == _ASLEEP:
            link[_KICK] = _BUSY
            t.cancel()
        else:
            link[_KICK] = _KICKED

    async def _deliver(self, link):
        """One step of the sender: a clear asked for, else the wanted limit if it is not
        the one in force or that one is due to be refreshed. Returns the ms until the
        next step (None: when kicked; 0: at once)."""
        if link[_SETUP] is not True:
            return None            # no profile before the capabilities are known: kicked after
        if self._clear:
            self._clear = False
            await _run("setup", "clear_profiles", self)
            return 0
        want = self._want
        cs = self._cs
        cfg = cs.config
        now = cs.clock.monotonic_ms()
        if want is None:
            return None
        tx = self.transaction_id
        d = self._in_force(now)
        if d is not None and d[0] == want[0] and d[1] == want[1]:
            # in force: sent again refresh_before_s before it lapses, whatever its value
            left = (cfg["profile_duration_s"] - cfg["refresh_before_s"]) * 1000 - aio.ticks_diff(now, d[3])
            if left > 0:
                return left
        if want[0] == 0 and tx is not None and self.opts["stop_method"] == "remote_stop":
            # the charger ignores a 0 A limit: its transaction is ended instead
            st = await self.remote_stop()
            if st == "Accepted":
                self._delivered = [0, want[1], cs.clock.monotonic_ms(), now, tx]
            self.last_limit = [0.0, want[1], self.rate_unit, st, "RemoteStopTransaction"]
            return 0 if st == "Accepted" else _AGAIN_MS
        if self._retry_ms is not None:
            # it refused every kind of profile: the whole chain again now and then
            left = aio.ticks_diff(self._retry_ms, now)
            if left > 0:
                return left
            self._retry_ms = None
            self._tried = 0
        single = (self.connectors or 1) == 1
        p = self.purpose
        if self._tried >> p & 1:
            # the learnt purpose was rejected: the first not yet rejected that applies now
            # (a TxProfile only with a transaction, a ChargePointMaxProfile only for a
            # charger of one connector)
            p = None
            for q in (0, 1, 2):
                if not self._tried >> q & 1 and (q != 1 or tx is not None) and (q != 2 or single):
                    p = q
                    break
            if p is None:
                if (self._tried | (0 if single else 4)) != 7:
                    # rejected so far; a TxProfile is still to be tried, once a
                    # transaction starts (that kicks the sender)
                    self.last_limit = [want[0] / 10, want[1], self.rate_unit, "Rejected", None]
                    return None
                return _sync("setup", "refused", self, now)
        elif p == 1 and tx is None:
            return None            # a TxProfile needs a transaction: kicked when one starts
        st = await self._send_profile(cfg["profile_id"], 0, want[0], want[1], cfg["profile_duration_s"], p,
                                      tx if p == 1 else None)
        if st == "Rejected":
            self._tried |= 1 << p
            if self.control == "ok":
                self.control = "pending"
            return 0               # the next purpose at once
        if st == "Accepted":
            self._delivered = [want[0], want[1], cs.clock.monotonic_ms(), now, tx if p == 1 else None]
            self._tried = 0
            self.control = "ok"
            if p != self.purpose:
                self.purpose = p
                await _run("setup", "learnt", self)
        self.last_limit = [want[0] / 10, want[1], self.rate_unit, st, PURPOSES[p]]
        return 0 if st == "Accepted" else _AGAIN_MS

    # The controller's occasional commands (coroutines, in commands.py; clear_profiles
    # in setup.py, which reinstalls the fallback).

    def set_limit(self, amps, phases_in_use):
        """``want_limit``, then wait for the sender: Accepted once the limit is in force,
        else what the charger last answered (Rejected, Timeout, Busy) or NotConnected.
        For the bench API and tests; the controller only says what it wants."""
        return _run("commands", "set_limit", self, amps, phases_in_use)

    def clear_profiles(self):
        """Clear the charger's profiles of our purpose (ours and any that would compete
        with them), install the fallback profile again; the sender then sends the limit
        again. Returns the answer to the clear."""
        return _run("setup", "clear_profiles", self)

    def remote_start(self, id_tag):
        """RemoteStartTransaction on connector 1."""
        return _run("commands", "remote_start", self, id_tag)

    def remote_stop(self):
        """RemoteStopTransaction of the running transaction (Rejected when there is none)."""
        return _run("commands", "remote_stop", self)

    def reset(self, kind):
        """Reset ``Soft`` or ``Hard``."""
        return _run("commands", "reset", self, kind)

    def trigger(self, message, connector_id=None):
        """TriggerMessage: ask the charger to send ``message`` (e.g. StatusNotification) now."""
        return _run("commands", "trigger", self, message, connector_id)

    # ---- connection ----------------------------------------------------------------

    def _attach(self, ws):
        """Make ``ws`` the charger's connection; returns its link state."""
        self._link = link = [ws, None, None, None, 0, False, None, _BUSY]
        self._log("connected")
        return link

    def _detach(self, code):
        """The current connection is over: wake a waiting CALL, stop the connection's tasks."""
        link = self._link
        self._link = None
        # what a charger that is away (and may have rebooted) has in force is not known;
        # one that refused every profile stays refused until it takes one
        self._delivered = None
        if self.control == "ok":
            self.control = "pending"
        p = link[_PENDING]
        if p is not None:
            p[1].set()      # no answer: NotConnected
        for t in (link[_TASK], link[_SETUP], link[_SENDER]):
            if t is not None and t is not True and t is not asyncio.current_task():
                t.cancel()
        self._log("disconnected" + ("" if code is None else " (%d)" % code))

    def _drop(self, ws, code, reason):
        """End a connection from outside the task serving it: that task closes it."""
        ws.close_request = (code, reason)
        if self._link is not None and self._link[_WS] is ws:
            self._detach(code)

    async def run_connection(self, ws):
        """Serve an open websocket until it ends (replacing an older connection of this charger)."""
        if self._link is not None:
            self._note("replaced")
            self._drop(self._link[_WS], _GOING_AWAY, "replaced by a new connection")
        link = self._attach(ws)
        link[_TASK] = asyncio.current_task()
        _start_setup(self, link)
        cs = self._cs
        if not cs._watching and cs.config["ws_ping_interval_s"]:
            cs._watching = True
            asyncio.create_task(_watch(cs))
        code = None
        try:
            try:
                # _drop cancels this task, but CPython 3.11's wait_for can swallow a cancel
                # that meets arriving data: close_request is the word that always gets through
                while ws.close_request is None:
                    text = await ws.receive()
                    if ws.close_request is not None:
                        break     # this connection was ended while the message came in
                    reply = self.handle_text(text)
                    text = None
                    if reply is not None:
                        await ws.send_text(reply)
            except WebSocketClosed as e:
                code = e.code
            except asyncio.CancelledError:
                if self._link is link:
                    raise     # cancelled from outside, not by _drop
                t = asyncio.current_task()
                if hasattr(t, "uncancel"):
                    t.uncancel()  # CPython: the cancel from _drop is taken care of
            except Exception as e:
                self._note("error", e)
        finally:
            if self._link is link:
                self._detach(code)
        if not ws.closed:
            code, reason = ws.close_request or (1011, "internal error")
            await ws.close(code, reason)


async def _watch(cs):
    """Ping the chargers silent for ws_ping_interval_s; end the connection of one silent
    three times as long (1001). One task for all connections, while there are any."""
    interval_ms = int(cs.config["ws_ping_interval_s"] * 1000)
    try:
        while True:
            await aio.sleep_ms(min(interval_ms, 10000))
            alive = False
            for cp_id in cs.ids:
                s = cs.chargers[cp_id]
                link = s._link
                if link is None:
                    continue
                alive = True
                ws = link[_WS]
                now = aio.ticks_ms()
                silent_ms = aio.ticks_diff(now, ws.last_rx_ms)
                if silent_ms >= 3 * interval_ms:
                    s._note("silent", silent_ms // 1000)
                    s._drop(ws, _GOING_AWAY, "no traffic")
                elif silent_ms >= interval_ms and aio.ticks_diff(now, ws.ping_ms) >= interval_ms:
                    ws.ping_ms = now
                    try:
                        await ws.ping()
                    except Exception:   # the connection's own task sees it end
                        pass
            if not alive:
                return
    finally:
        cs._watching = False


class CentralSystem:
    """The OCPP 1.6J central system (see the package docstring for the interface).

    ``checked``: ``config`` and ``chargers`` are already validated, with defaults filled
    in (``dynevse.config.check`` does it at boot); otherwise they are validated here
    (``config.check.check_central``, which is then imported).
    """

    _watching = False    # the watch over silent connections runs (_watch)
    mem_free = None      # a test's stand-in for the board's free heap (accept.heap_free)

    def __init__(self, config=None, chargers=(), clock=None, log_sink=None, checked=False):
        # runs once, at boot: setup.init has the code (config, clock, log_sink,
        # chargers {id: session}, ids, unknown, counters, and the last ids handed out)
        _sync("setup", "init", self, config, chargers, clock, log_sink, checked)

    def charger(self, cp_id):
        """The session of a known charger id, or None."""
        return self.chargers.get(cp_id)

    def setting_up(self):
        """Is a charger's after-connect setup running or waiting its turn? Home
        Assistant's discovery waits for it (link.hold): a setup's memory peak is not to
        meet the announcement's."""
        for s in self.chargers.values():
            l = s._link
            if l is not None and l[_SETUP] is not None and l[_SETUP] is not True:
                return True
        return False

    async def serve(self, cp_id, headers, reader, writer):
        """Answer an upgrade request for ``cp_id`` and serve the charger until it leaves.

        A refused request gets its HTTP answer (``accept.refusal``). Without an ocpp1.6
        subprotocol offer the handshake completes without one and the connection is closed
        at once (1002), as OCPP-J 1.6 asks of a central system.
        """
        ws = await _run("accept", "accept", self, cp_id, headers, reader, writer)
        if ws is not None:
            await self.chargers[cp_id].run_connection(ws)

    def totals(self):
        """Counters summed over the chargers, with the connection refusals."""
        return _sync("summary", "totals", self)

    def status(self):
        """A summary for a status page or the JSON API: each charger's id, connection and
        status, the unknown ids (ages in seconds) and the counters. Details per charger:
        ``charger(id).snapshot(now_ms)``."""
        return _sync("summary", "status", self)
