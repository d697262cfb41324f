"""The less frequent parts of the central system, imported when needed and forgotten once
no use of them runs (``central._use``), so they cost no heap while chargers just charge:

- ``answer``: the CALLs a charger sends now and then (BootNotification, Authorize,
  Start/StopTransaction, DataTransfer, status notifications), checked against this
  module's table and answered; an action not taken here is NotSupported or
  NotImplemented (the frequent ones, Heartbeat, StatusNotification and MeterValues,
  are answered in ``central.py``)
- ``refuse``: a malformed message's CALLERROR (or drop), an answer to no CALL (dropped);
  ``describe``: the text of a fault rpc names by a key; ``text``: the text of a rare
  event (a log line, an error) central names by a key
- ``setup``: after every (re)connection, wait for the BootNotification (after
  ``boot_wait_s`` ask for one), then ``configure``: read the charger's capabilities, set
  its meter sampling and install the fallback profile
- the controller's occasional commands: ``clear_profiles``, ``remote_start``,
  ``remote_stop``, ``reset``, ``trigger``
- ``snapshot`` of a session, ``status`` and ``totals`` of the central system, for pages
  and the API; ``init``: what ``CentralSystem()`` does, once, at boot

Each function takes the session (or the central system) first; the methods of the same
name call them.
"""
import json

from dynevse import aio
from dynevse.compat import const
from dynevse.ocpp import central, rpc

_TX_EPOCH_S = const(1577836800)   # 2020-01-01T00:00:00Z
_SETUP = const(2)      # central._SETUP
_BOOTED = const(5)     # central._BOOTED
# A charger that rejected every kind of profile is tried again after this long (and
# after every new setup: a reconnection, a BootNotification).
_RETRY_MS = const(600000)

# In the form of rpc._TABLE: the schemas of the CALLs answered here (and of the answer
# to our GetConfiguration), their word lists, and the statuses of the answers to the
# CALLs sent from here.
_TABLE = (
    "|BootNotification:chargePointVendor s20!,chargePointModel s20!,chargePointSerialNumber s25,"
    "chargeBoxSerialNumber s25,firmwareVersion s50,iccid s20,imsi s20,meterType s25,meterSerialNumber s25"
    "|Authorize:idTag s20!"
    "|StartTransaction:connectorId i1!,idTag s20!,meterStart i!,reservationId i,timestamp t!"
    "|StopTransaction:idTag s20,meterStop i!,timestamp t!,transactionId i!,reason eREASON,transactionData a0txmv"
    # data is a string in the schema but vendors send objects too; it is never read
    "|DataTransfer:vendorId s255!,messageId s50"
    "|DiagnosticsStatusNotification:status eDIAG!"
    "|FirmwareStatusNotification:status eFW!"
    # security extension: a notification a charger may send on its own
    "|SecurityEventNotification:type s50!,timestamp t!,techInfo s255"
    "|txmv:timestamp t!,sampledValue a0sv!"
    "|config:configurationKey a0key,unknownKey l50"
    "|key:key s50!,readonly b!,value s500"
    "|REASON EmergencyStop EVDisconnected HardReset Local Other PowerLoss Reboot Remote SoftReset"
    " UnlockCommand DeAuthorized "
    "|DIAG Idle Uploaded UploadFailed Uploading "
    "|FW Downloaded DownloadFailed Downloading Idle InstallationFailed Installing Installed "
    # OCPP 1.6 (and security extension) actions this central system knows but does not
    # take from a charger: NotSupported rather than NotImplemented
    "|NS CancelReservation ChangeAvailability ChangeConfiguration ClearCache ClearChargingProfile"
    " GetCompositeSchedule GetConfiguration GetDiagnostics GetLocalListVersion RemoteStartTransaction"
    " RemoteStopTransaction ReserveNow Reset SendLocalList SetChargingProfile TriggerMessage"
    " UnlockConnector UpdateFirmware CertificateSigned DeleteCertificate ExtendedTriggerMessage"
    " GetInstalledCertificateIds GetLog InstallCertificate SignedUpdateFirmware SignCertificate"
    " LogStatusNotification SignedFirmwareStatusNotification "
    # what TriggerMessage may ask for
    "|TRIG BootNotification DiagnosticsStatusNotification FirmwareStatusNotification Heartbeat"
    " MeterValues StatusNotification "
    "|ChangeConfiguration Accepted Rejected RebootRequired NotSupported "
    "|ClearChargingProfile Accepted Unknown "
    "|RemoteStartTransaction Accepted Rejected "
    "|RemoteStopTransaction Accepted Rejected "
    "|Reset Accepted Rejected "
    "|TriggerMessage Accepted Rejected NotImplemented |")


# The texts of faults and rare events, by key: ``|key:text`` (``%s`` where an argument goes).
_TEXTS = (
    # rpc: a message or a field at fault
    "|json:message is not valid JSON|array:message is not a JSON array|id:message has no unique id"
    "|type:message type id must be 2, 3 or 4|long:unique id longer than 36 characters"
    "|call:CALL must have 4 elements|action:CALL action must be a string"
    "|payload:CALL payload must be a JSON object|result:CALLRESULT must be [3, id, {payload}]"
    "|req:is required|str:must be a string|max:must be at most %s characters|int:must be an integer"
    "|min:must be at least %s|bool:must be true or false|enum:is not an allowed value"
    "|time:must be a dateTime such as 2024-05-01T12:00:00Z|list:must be a list"
    "|strs:must hold strings of at most %s characters|few:must have at least %s entries"
    "|obj:entries must be objects"
    # central: rare events
    "|internal:internal error on %s: %r|adopted:adopted running transaction %d"
    "|unusable:MeterValues: %d sampled values not usable|timeout:%s: no answer in %s s"
    "|callerror:%s: CALLERROR %s %s|nostatus:%s: answer without a valid status"
    "|unit:charger takes limits in %s|replaced:a new connection replaces the old one"
    "|silent:silent for %d s: closing the connection|error:connection error: %r"
    "|amps:amps must be a number from 0 to 1000, got %r|phases:phases_in_use must be 1, 2 or 3, got %r"
    "|resend:not following its limit: clearing its profiles and sending the limit again"
    "|refused:refused every charging profile (%s; in %s): its current is not under the board's"
    " control; tried again after a reconnect and every %d minutes"
    "|learnt:charger takes its limit as a %s|notx:TxProfile: the charger gets its limit with each"
    " transaction, and no fallback profile (if the board stops it returns to its own default)|")


def text(key, args=()):
    """The text of ``key`` in ``_TEXTS``, with its arguments."""
    i = _TEXTS.find("|" + key + ":") + len(key) + 2
    t = _TEXTS[i:_TEXTS.find("|", i)]
    return t % args if args else t


def describe(e):
    """The text of RpcError ``e``: rpc names a fault by a key (``path ~key:arg``)."""
    d = e.description
    i = d.find("~")
    if i < 0:
        return d
    key, _, arg = d[i + 1:].partition(":")
    return d[:i] + text(key, (arg,) if arg else ())


def answer(s, action, p):
    """The CALLRESULT payload for a CALL of ``action`` that ``central`` does not answer
    itself; raises RpcError for an action not taken and for a payload at fault."""
    if ":" in action or "|" in action or not "A" <= action[0] <= "Z" or "|" + action + ":" not in _TABLE:
        raise rpc.RpcError("NotSupported" if rpc.one_of(action, "NS", _TABLE) else "NotImplemented",
                           "%s is not taken by this central system" % action[:40])
    rpc.check(p, action, _TABLE)
    cs = s._cs
    if action == "BootNotification":
        # kept and shown: as valid text (see rpc.valid_text)
        s.vendor = rpc.valid_text(p["chargePointVendor"])
        s.model = rpc.valid_text(p["chargePointModel"])
        s.firmware = p.get("firmwareVersion")
        if s.firmware is not None:
            s.firmware = rpc.valid_text(s.firmware)
        s._log("BootNotification %s %s firmware %s" % (s.vendor, s.model, s.firmware))
        link = s._link
        if link is not None:
            link[_BOOTED] = True
            t = link[_SETUP]
            if t is True or t is not None and t.done():
                # booted again on the same connection: it has lost its profiles (or the
                # setup could not run, short of memory)
                central._start_setup(s, link)
        return {"status": "Accepted", "currentTime": central.iso8601(cs.clock.utc_s()),
                "interval": cs.config["heartbeat_interval_s"]}
    if action == "StopTransaction":
        tx = p["transactionId"]
        if tx == s.transaction_id:
            s.transaction_id = None
            s._wake()     # a 0 A limit after a RemoteStop goes out as a profile
        s._log("StopTransaction %d at %d Wh (%s)" % (tx, p["meterStop"], p.get("reason") or "Local"))
        if p.get("idTag") is None:
            return {}
        action = "Authorize"
    if action == "Authorize" or action == "StartTransaction":
        tag = rpc.valid_text(p["idTag"])
        st = "Accepted"
        if not cs.config["free_charging"]:
            # IdTokens are case-insensitive strings (CiString20)
            st = "Invalid"
            for t in cs.config["id_tags"]:
                if t.lower() == tag.lower():
                    st = "Accepted"
        if action == "Authorize":
            return {"idTagInfo": {"status": st}}
        cs._tx += 1
        tx = cs._tx
        if st == "Accepted":
            s.transaction_id = tx
            s.meter_start_wh = p["meterStart"]
            s._wake()     # a TxProfile goes with each transaction
        s._log("StartTransaction connector %d idTag %s: %s, transaction %d" % (p["connectorId"], tag, st, tx))
        return {"idTagInfo": {"status": st}, "transactionId": tx}
    if action == "DataTransfer":
        return {"status": "UnknownVendorId"}
    if action != "DiagnosticsStatusNotification":
        # FirmwareStatusNotification, SecurityEventNotification
        s._log("%s %s" % (action, p.get("status") or p.get("type")))
    return {}


def refuse(s, e, action):
    """What answers RpcError ``e`` (of a CALL of ``action``, None when no action was read):
    its CALLERROR, or None when it has no unique id (dropped and counted). A code of None
    is an answer to no outstanding CALL (its id is the description): dropped."""
    if e.code is None:
        s.counters["dropped"] += 1
        s._log("dropped an answer to no outstanding CALL (id %s)" % e.description[:40])
        return None
    d = describe(e)
    if e.unique_id is None:
        s.counters["dropped"] += 1
        s._log("dropped a message: " + d)
        return None
    s.counters["callerrors"] += 1
    s._log("CALLERROR %s to %s: %s" % (e.code, action[:40] if action else "message", d))
    return json.dumps([4, e.unique_id, e.code, d[:120], {}])


_RATE_KEY = "ChargingScheduleAllowedChargingRateUnit"
_STACK_KEY = "ChargeProfileMaxStackLevel"
_CONNECTORS_KEY = "NumberOfConnectors"


async def _booted(s, link):
    """Whether a BootNotification comes on this connection within boot_wait_s."""
    for _ in range(int(s._cs.config["boot_wait_s"] * 10)):
        if link[_BOOTED]:
            break
        await aio.sleep_ms(100)
    return link[_BOOTED]


async def setup(s, link):
    """Configure the charger once it has booted (after boot_wait_s, it is asked to); the
    link then says the setup is done (a new BootNotification starts another). One
    charger is set up at a time: the others' setups wait their turn (the peak of a
    setup is not taken twice at once)."""
    cs = s._cs
    try:
        if not await _booted(s, link):
            s._log("no BootNotification after connecting: triggering one")
            await trigger(s, "BootNotification")
            await _booted(s, link)     # configured anyway: a charger may stay silent and still charge
        while cs.setup_turn is not None and cs.setup_turn is not s and cs.setup_turn._link is not None:
            await aio.sleep_ms(100)
        cs.setup_turn = s
        await configure(s)
    finally:
        if cs.setup_turn is s:
            cs.setup_turn = None
        link[_SETUP] = True
        if s._link is link:
            # the capabilities may have changed: a charger that refused every profile is
            # tried again now, and the sender may go
            s._tried = 0
            s._retry_ms = None
            s._wake()


def _unit_from_config(value):
    """A or W from ChargingScheduleAllowedChargingRateUnit ("Current", "Power", both)."""
    tokens = [t.strip().lower() for t in value.split(",")]
    if "current" in tokens or "a" in tokens:
        return "A"
    if "power" in tokens or "w" in tokens:
        return "W"
    return None


async def configure(s):
    """Read the capabilities, install the fallback profile, set meter sampling: the
    fallback first, so that a charger whose setup ends halfway (a board short of memory,
    a dropped link) is held at fallback_a rather than its own rating."""
    cfg = s._cs.config
    kind, ans = await s._call("GetConfiguration", {"key": [_RATE_KEY, _STACK_KEY, _CONNECTORS_KEY]})
    if kind == "NotConnected":
        return
    if kind == "result":
        try:
            rpc.check(ans, "config", _TABLE)
            for item in ans.get("configurationKey") or ():
                key = item["key"]
                value = (item.get("value") or "").strip()
                if key == _RATE_KEY and s.opts["rate_unit"] == "auto":
                    s.rate_unit = _unit_from_config(value) or s.rate_unit
                elif key == _STACK_KEY and value.isdigit():
                    s.max_stack_level = int(value)
                elif key == _CONNECTORS_KEY and value.isdigit():
                    s.connectors = int(value)
            s._log("capabilities: unit %s, max stack level %s, connectors %s"
                   % (s.rate_unit, s.max_stack_level, s.connectors))
        except rpc.RpcError as e:
            s._log("GetConfiguration: invalid answer: " + describe(e))
    await install_fallback(s)
    if cfg["meter_sample_interval_s"]:
        await s._call_status("ChangeConfiguration", {"key": "MeterValueSampleInterval",
                                                     "value": str(cfg["meter_sample_interval_s"])}, _TABLE)
    if cfg["meter_measurands"]:
        await s._call_status("ChangeConfiguration", {"key": "MeterValuesSampledData",
                                                     "value": ",".join(cfg["meter_measurands"])}, _TABLE)


async def install_fallback(s):
    """The fallback profile: one stack level below the dynamic one, no end, fallback_a;
    a ChargePointMaxProfile for a charger that takes its limit as one, else a
    TxDefaultProfile (a TxProfile would end with its transaction)."""
    if s.stack_level() < 1:
        s._log("no stack level below 0: fallback profile not installed")
        return None
    cfg = s._cs.config
    st = await s._send_profile(cfg["fallback_profile_id"], 1, int(cfg["fallback_a"] * 10 + 0.001),
                               s.opts["phases"], 0, 2 if s.purpose == 2 else 0)
    if st == "Accepted":
        s.fallback_held = True
    return st


async def clear_profiles(s):
    st = await s._call_status("ClearChargingProfile", {"chargingProfilePurpose": central.PURPOSES[s.purpose]},
                              _TABLE)
    if st == "Accepted" or st == "Unknown":
        s.fallback_held = False    # cleared with the purpose's other profiles
        await install_fallback(s)
    s._delivered = None    # the limit goes out again
    s._wake()
    return st


def refused(s, now_ms):
    """The sender found every kind of profile rejected: the charger is not under control.
    Said once; tried again after _RETRY_MS (and after every new setup). Returns the wait."""
    if s.control != "refused":
        names = [central.PURPOSES[p] for p in (0, 1, 2) if s._tried >> p & 1]
        units = "A and in W" if s.opts["rate_unit"] == "auto" else s.rate_unit
        s._note("refused", ", ".join(names), units, _RETRY_MS // 60000)
        s.control = "refused"
    s._retry_ms = aio.ticks_add(now_ms, _RETRY_MS)
    w = s._want
    s.last_limit = [w[0] / 10, w[1], s.rate_unit, "Rejected", None]
    return _RETRY_MS


async def learnt(s):
    """The charger took its limit in another purpose than before: said, and for a
    ChargePointMaxProfile the fallback goes in that purpose too."""
    s._note("learnt", central.PURPOSES[s.purpose])
    if s.purpose == 1:
        s._note("notx")
    elif s.purpose == 2:
        await install_fallback(s)


async def set_limit(s, amps, phases):
    s.want_limit(amps, phases)
    s._wake()          # asked for: tried now even after a failure
    cs = s._cs
    want = s._want
    mark = s.last_limit
    if s.control == "refused" and s._retry_ms is not None:
        return "Rejected"     # tried again later (refused)
    for _ in range(int((cs.config["call_timeout_s"] * 7 + cs.config["boot_wait_s"]) * 50)):
        if s._link is None:
            return "NotConnected"
        d = s._in_force(cs.clock.monotonic_ms())
        if d is not None and d[0] == want[0] and d[1] == want[1] and s._clear is False:
            return "Accepted"
        ll = s.last_limit
        if ll is not mark and ll is not None and int(ll[0] * 10 + 0.001) == want[0] and ll[1] == want[1]:
            return ll[3]
        await aio.sleep_ms(20)
    return "Timeout"


async def remote_start(s, id_tag):
    if not isinstance(id_tag, str) or not 0 < len(id_tag) <= 20:
        raise ValueError("id_tag must be 1 to 20 characters, got %r" % (id_tag,))
    return await s._call_status("RemoteStartTransaction", {"connectorId": 1, "idTag": id_tag}, _TABLE)


async def remote_stop(s):
    if s.transaction_id is None:
        s._log("RemoteStopTransaction: no transaction running")
        return "Rejected"
    return await s._call_status("RemoteStopTransaction", {"transactionId": s.transaction_id}, _TABLE)


async def reset(s, kind):
    if kind not in ("Soft", "Hard"):
        raise ValueError("reset kind must be Soft or Hard, got %r" % (kind,))
    return await s._call_status("Reset", {"type": kind}, _TABLE)


async def trigger(s, message, connector_id=None):
    if not rpc.one_of(message, "TRIG", _TABLE):
        i = _TABLE.find("|TRIG ") + 5
        raise ValueError("message must be one of%sgot %r" % (_TABLE[i:_TABLE.find("|", i)], message))
    payload = {"requestedMessage": message}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    return await s._call_status("TriggerMessage", payload, _TABLE)


def snapshot(s, now_ms):
    meter = {}
    for k in s.meter:
        v, at = s.meter[k]
        meter[k] = {"value": v, "age_s": aio.ticks_diff(now_ms, at) // 1000}
    conns = {}
    for c in s.statuses:
        conns[str(c)] = s.statuses[c]
    return {"id": s.id, "connected": s.connected, "vendor": s.vendor, "model": s.model,
            "firmware": s.firmware, "status": s.status(), "connectors": conns,
            "transaction_id": s.transaction_id, "meter": meter, "rate_unit": s.rate_unit,
            "stack_level": s.stack_level(), "last_limit": s.last_limit, "control": s.control,
            "purpose": central.PURPOSES[s.purpose], "delivered_a": s.delivered_a, "counters": s.counters,
            "log": s.log}


def totals(cs):
    out = dict(cs.counters)
    for cp_id in cs.ids:
        c = cs.chargers[cp_id].counters
        for k in c:
            out[k] = out.get(k, 0) + c[k]
    return out


def status(cs):
    now = cs.clock.monotonic_ms()
    unknown = []
    for e in cs.unknown:
        unknown.append({"id": e[0], "attempts": e[1], "age_s": aio.ticks_diff(now, e[2]) // 1000})
    chargers = []
    for i in cs.ids:
        s = cs.chargers[i]
        chargers.append({"id": i, "connected": s.connected, "status": s.status()})
    return {"chargers": chargers, "unknown": unknown, "counters": totals(cs)}


def init(cs, config, chargers, clock, log_sink, checked):
    """``CentralSystem(config, chargers, clock, log_sink, checked)``: the settings
    (validated here unless ``checked``), the clock, a session per charger."""
    if not checked:
        from dynevse.config.check import check_central
        config, chargers = check_central(config, chargers)
    if clock is None:
        from dynevse.ocpp.clock import SystemClock
        clock = SystemClock()
    cs.config = config
    cs.clock = clock
    cs.clock_rate = getattr(clock, "rate", 1)
    cs.log_sink = log_sink
    cs.chargers = {}
    for opts in chargers:
        cs.chargers[opts["id"]] = central.ChargePointSession(cs, opts)
    cs.ids = sorted(cs.chargers)
    cs.unknown = []     # [id, attempts, last_ms], least recently seen first
    cs.counters = {"refused_unknown": 0, "refused_auth": 0, "refused_protocol": 0, "refused_memory": 0}
    cs.setup_turn = None    # the session whose setup runs (one at a time)
    cs._uid = 0         # the last unique id of a CALL
    # Transaction ids continue across restarts of the board: one id per minute since
    # 2020 is more than a home's chargers start, so a new id is never an old one.
    cs._tx = 1 + max(0, (int(clock.utc_s()) - _TX_EPOCH_S) // 60)
