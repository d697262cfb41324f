"""Setting up: the central system at boot (``init``: what ``CentralSystem()`` does), and
each charger after every (re)connection (``setup``: wait for its BootNotification, after
``boot_wait_s`` ask for one, then ``configure``: read its capabilities, install the
fallback profile, set its meter sampling); the fallback again after its profiles were
cleared (``clear_profiles``) and when it took its limit in another purpose (``learnt``),
and the word that it refused every profile (``refused``). Imported for the use and
forgotten after it (``central._run``/``_sync``).
"""
from dynevse import aio
from dynevse.compat import const
from dynevse.ocpp import central, rpc

_TX_EPOCH_S = const(1577836800)   # 2020-01-01T00:00:00Z
_SETUP = const(2)      # central._SETUP
_BOOTED = const(5)     # central._BOOTED
# A charger that rejected every kind of profile is tried again after this long (and
# after every new setup: a reconnection, a BootNotification).
_RETRY_MS = const(600000)

# In the form of rpc._TABLE: the answer to our GetConfiguration, and the statuses of the
# answers to the CALLs sent from here.
_TABLE = (
    "|config:configurationKey a0key,unknownKey l50"
    "|key:key s50!,readonly b!,value s500"
    "|ChangeConfiguration Accepted Rejected RebootRequired NotSupported "
    "|ClearChargingProfile Accepted Unknown |")

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
            await central._run("commands", "trigger", s, "BootNotification")
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
            s._log("GetConfiguration: invalid answer: " + central._sync("texts", "describe", e))
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
