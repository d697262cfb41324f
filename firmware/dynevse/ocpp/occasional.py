"""The rarely used parts of a charger's session, imported when needed and forgotten after
(``central._use``), so they cost no heap while chargers just charge:

- ``setup``: after every (re)connection, wait for the BootNotification (after
  ``boot_wait_s`` ask for one), then ``configure``: read the charger's capabilities, set
  its meter sampling and install the fallback profile
- the controller's occasional commands: ``clear_profiles``, ``remote_start``,
  ``remote_stop``, ``reset``, ``trigger``
- ``snapshot`` of a session, ``status`` and ``totals`` of the central system, for pages
  and the API

Each function takes the session (or the central system) first; the session's methods of
the same name call them.
"""
from dynevse import aio
from dynevse.compat import const
from dynevse.ocpp import rpc

_SETUP = const(2)      # central._SETUP
_BOOTED = const(5)     # central._BOOTED
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
    link then says the setup is done (a new BootNotification starts another)."""
    try:
        if not await _booted(s, link):
            s._log("no BootNotification after connecting: triggering one")
            await trigger(s, "BootNotification")
            await _booted(s, link)     # configured anyway: a charger may stay silent and still charge
        await configure(s)
    finally:
        link[_SETUP] = True


def _unit_from_config(value):
    """A or W from ChargingScheduleAllowedChargingRateUnit ("Current", "Power", both)."""
    tokens = [t.strip().lower() for t in value.split(",")]
    if "current" in tokens or "a" in tokens:
        return "A"
    if "power" in tokens or "w" in tokens:
        return "W"
    return None


async def configure(s):
    """Read the capabilities, set meter sampling, install the fallback profile."""
    cfg = s._cs.config
    kind, ans = await s._call("GetConfiguration", {"key": [_RATE_KEY, _STACK_KEY, _CONNECTORS_KEY]})
    if kind == "NotConnected":
        return
    if kind == "result":
        try:
            rpc.check(ans, "config")
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
            s._log("GetConfiguration: invalid answer: " + e.description)
    if cfg["meter_sample_interval_s"]:
        await s._call_status("ChangeConfiguration", {"key": "MeterValueSampleInterval",
                                                     "value": str(cfg["meter_sample_interval_s"])})
    if cfg["meter_measurands"]:
        await s._call_status("ChangeConfiguration", {"key": "MeterValuesSampledData",
                                                     "value": ",".join(cfg["meter_measurands"])})
    await install_fallback(s)


async def install_fallback(s):
    """The fallback profile: one stack level below the dynamic one, no end, fallback_a."""
    if s.stack_level() < 1:
        s._log("no stack level below 0: fallback profile not installed")
        return None
    return await s._send_profile(s._cs.config["fallback_profile_id"], 1, s._cs.config["fallback_a"],
                                 s.opts["phases"], 0)


async def clear_profiles(s):
    st = await s._call_status("ClearChargingProfile", {"chargingProfilePurpose": "TxDefaultProfile"})
    if st == "Accepted" or st == "Unknown":
        await install_fallback(s)
    return st


async def remote_start(s, id_tag):
    if not isinstance(id_tag, str) or not 0 < len(id_tag) <= 20:
        raise ValueError("id_tag must be 1 to 20 characters, got %r" % (id_tag,))
    return await s._call_status("RemoteStartTransaction", {"connectorId": 1, "idTag": id_tag})


async def remote_stop(s):
    if s.transaction_id is None:
        s._log("RemoteStopTransaction: no transaction running")
        return "Rejected"
    return await s._call_status("RemoteStopTransaction", {"transactionId": s.transaction_id})


async def reset(s, kind):
    if kind not in ("Soft", "Hard"):
        raise ValueError("reset kind must be Soft or Hard, got %r" % (kind,))
    return await s._call_status("Reset", {"type": kind})


async def trigger(s, message, connector_id=None):
    if not rpc.one_of(message, "TRIG"):
        raise ValueError("message must be one of%sgot %r" % (rpc.words("TRIG"), message))
    payload = {"requestedMessage": message}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    return await s._call_status("TriggerMessage", payload)


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
            "stack_level": s.stack_level(), "last_limit": s.last_limit, "counters": s.counters,
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
