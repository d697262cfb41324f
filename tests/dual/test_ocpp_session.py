"""A charge point session on its own: answers to a charger's CALLs, malformed messages, and
the CALLs the controller makes (profiles, units, stack levels, quirk options, timeouts).

The websocket is replaced by ``FakeLink``, which answers our CALLs the way a charger
would; the real websocket and real chargers are in test_ocpp_ws and tests/ocpp.
Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
import asyncio
import json

from dualtest import raises
from dynevse.ocpp import answers, setup
from dynevse.ocpp.central import CentralSystem

T0 = 1714564800          # 2024-05-01T12:00:00Z
TS = "2024-05-01T12:00:00Z"


class FakeClock:
    def __init__(self, utc_s=T0, ms=5000):
        self.utc = utc_s
        self.ms = ms

    def monotonic_ms(self):
        return self.ms

    def utc_s(self):
        return self.utc


class FakeLink:
    """Stands in for the websocket: records our CALLs and answers each with
    ``answer(action, payload)``: a dict (CALLRESULT), a string (CALLERROR code) or None
    (no answer)."""

    def __init__(self, session, answer):
        self.session = session
        self.answer = answer
        self.calls = []
        self.texts = []

    async def send_text(self, text):
        self.texts.append(text)
        msg = json.loads(text)
        if msg[0] != 2:
            return
        self.calls.append((msg[2], msg[3]))
        a = self.answer(msg[2], msg[3])
        if a is None:
            return
        reply = [3, msg[1], a] if isinstance(a, dict) else [4, msg[1], a, "", {}]
        assert self.session.handle_text(json.dumps(reply)) is None


def accept_all(action, payload):
    return {"status": "Accepted"}


SESSIONS = []     # made by make(): their senders stop when run() ends


def make(ocpp=None, answer=accept_all, clock=None, set_up=True, **opts):
    """A session on a FakeLink; ``set_up``: its setup after connecting is over (the
    sender sends nothing before)."""
    charger = {"id": "CP1"}
    charger.update(opts)
    cs = CentralSystem(ocpp or {}, [charger], clock or FakeClock())
    s = cs.charger("CP1")
    link = FakeLink(s, answer)
    state = s._attach(link)
    if set_up:
        state[2] = True      # central._SETUP: done
    SESSIONS[:] = SESSIONS[-3:] + [s]      # a test makes one or two
    return s, link


def run(coro):
    """Run ``coro``; then stop the senders it started (CPython's asyncio.run cancels what
    is left, MicroPython's would run it in the next run: both runtimes alike)."""
    async def main():
        try:
            return await coro
        finally:
            for s in SESSIONS:
                t = s._link[6] if s._link is not None else None     # central._SENDER
                if t is not None and not t.done():
                    t.cancel()
            await asyncio.sleep(0)
    return asyncio.run(main())


def call(s, action, payload, uid="u1"):
    """Send a CALL from the charger; returns the decoded answer."""
    return json.loads(s.handle_text(json.dumps([2, uid, action, payload])))


# ---- what the charger sends -----------------------------------------------------------

def test_boot_notification_accepted_with_time_and_interval():
    s, _ = make({"heartbeat_interval_s": 120}, set_up=False)    # (a boot after a setup starts another)
    r = call(s, "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Wall",
                                     "firmwareVersion": "1.2"}, "b1")
    assert r == [3, "b1", {"status": "Accepted", "currentTime": TS, "interval": 120}]
    assert (s.vendor, s.model, s.firmware) == ("Acme", "Wall", "1.2")


def test_heartbeat_and_status():
    s, _ = make()
    assert call(s, "Heartbeat", {})[2] == {"currentTime": TS}
    assert s.status() is None
    call(s, "StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"})
    assert s.status() == "Available"       # connector 0 while 1 is unknown
    r = call(s, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
    assert r[2] == {} and s.status() == "Charging" and s.statuses[0] == "Available"


def test_authorize_free_charging_and_allow_list():
    s, _ = make()
    assert call(s, "Authorize", {"idTag": "ANYTHING"})[2] == {"idTagInfo": {"status": "Accepted"}}
    s, _ = make({"free_charging": False, "id_tags": ["Tag-1"]})
    assert call(s, "Authorize", {"idTag": "tag-1"})[2]["idTagInfo"]["status"] == "Accepted"  # CiString
    assert call(s, "Authorize", {"idTag": "Tag-2"})[2]["idTagInfo"]["status"] == "Invalid"


def test_transactions_get_ids_that_grow_across_restarts():
    # ids start at 1 + minutes since 2020-01-01; T0 is 2024-05-01T12:00Z = 1591 days + 12 h
    minutes = (T0 - 1577836800) // 60
    s, _ = make()
    r = call(s, "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 1500, "timestamp": TS})
    assert r[2] == {"idTagInfo": {"status": "Accepted"}, "transactionId": minutes + 2}
    assert s.transaction_id == minutes + 2 and s.meter_start_wh == 1500
    r = call(s, "StopTransaction", {"transactionId": minutes + 2, "meterStop": 9500, "timestamp": TS,
                                    "idTag": "T", "reason": "EVDisconnected"})
    assert r[2] == {"idTagInfo": {"status": "Accepted"}}
    assert s.transaction_id is None
    assert call(s, "StopTransaction", {"transactionId": 5, "meterStop": 1, "timestamp": TS})[2] == {}


def test_refused_tag_gets_an_id_but_no_running_transaction():
    s, _ = make({"free_charging": False, "id_tags": []})
    r = call(s, "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": TS})
    assert r[2]["idTagInfo"]["status"] == "Invalid" and isinstance(r[2]["transactionId"], int)
    assert s.transaction_id is None


def test_meter_values_are_stored_with_their_arrival_time():
    clock = FakeClock(ms=777)
    s, _ = make(clock=clock, phases=1)
    r = call(s, "MeterValues", {"connectorId": 1, "transactionId": 42, "meterValue": [
        {"timestamp": TS, "sampledValue": [{"value": "9.5", "measurand": "Current.Import", "unit": "A"},
                                           {"value": "2.2", "measurand": "Power.Active.Import", "unit": "kW"}]}]})
    assert r[2] == {}
    assert s.meter["current_a"] == ([9.5, None, None], 777)
    assert abs(s.meter["power_w"][0] - 2200) < 1e-6 and s.meter["power_w"][1] == 777
    # a transaction that was running before the board started is adopted
    assert s.transaction_id == 42
    # connector 2 is not the charger this session models
    call(s, "MeterValues", {"connectorId": 2, "meterValue": [
        {"timestamp": TS, "sampledValue": [{"value": "1", "measurand": "Current.Offered"}]}]})
    assert "offered_a" not in s.meter


def test_data_transfer_and_notifications():
    s, _ = make()
    assert call(s, "DataTransfer", {"vendorId": "com.acme", "data": {"x": 1}})[2] == {"status": "UnknownVendorId"}
    assert call(s, "FirmwareStatusNotification", {"status": "Idle"})[2] == {}
    assert call(s, "DiagnosticsStatusNotification", {"status": "Idle"})[2] == {}


def test_malformed_messages_get_their_callerror_or_are_dropped():
    s, _ = make()
    cases = [
        ('[2, "e1", "Heartbeat", {', "FormationViolation"),
        ('[9, "e2", "Heartbeat", {}]', "FormationViolation"),
        ('[2, "e3", "FlyToTheMoon", {}]', "NotImplemented"),
        ('[2, "e4", "RemoteStartTransaction", {"idTag": "x"}]', "NotSupported"),
        ('[2, "e5", "StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Available"}]',
         "TypeConstraintViolation"),
        ('[2, "e6", "StatusNotification", {"connectorId": 1, "status": "Available"}]', "ProtocolError"),
        ('[2, "e7", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Asleep"}]',
         "PropertyConstraintViolation"),
        ('[2, "e8", "MeterValues", {"connectorId": 1, "meterValue": []}]', "OccurenceConstraintViolation"),
    ]
    for i in range(len(cases)):
        text, code = cases[i]
        r = json.loads(s.handle_text(text))
        assert r[:3] == [4, "e%d" % (i + 1), code], (text, r)
    assert s.counters["callerrors"] == len(cases)
    # nothing else changed: no status, no boot
    assert s.statuses == {} and s.vendor is None
    for text in ("[]", '{"a": 1}', "null", '[3, "nobody-asked", {}]', '[4, "nobody", "X", "", {}]'):
        assert s.handle_text(text) is None
    assert s.counters["dropped"] == 5


def test_actions_not_taken_and_odd_action_names():
    s, _ = make()
    for action, code in (("SetChargingProfile", "NotSupported"), ("GetConfiguration", "NotSupported"),
                         ("SignCertificate", "NotSupported"), ("FlyToTheMoon", "NotImplemented"),
                         ("heartbeat", "NotImplemented"), ("mv", "NotImplemented"),
                         ("txmv", "NotImplemented"), ("config", "NotImplemented"),       # schema parts
                         ("STATUS", "NotImplemented"), ("NS", "NotImplemented"),         # word lists
                         ("Heartbeat:", "NotImplemented"), ("Authorize:idTag s20!|Heartbeat", "NotImplemented"),
                         ("Heart beat", "NotImplemented"), ("X" * 100, "NotImplemented")):
        r = call(s, action, {})
        assert r[:3] == [4, "u1", code] and len(r[3]) < 100, (action, r)
    assert s.counters["callerrors"] == 14


def test_callerror_descriptions_are_bounded():
    s, _ = make()
    r = call(s, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging",
                                       "info": "i" * 51})
    assert r[:3] == [4, "u1", "TypeConstraintViolation"] and r[4] == {}
    assert r[3] == "info must be at most 50 characters"
    from dynevse.ocpp.rpc import RpcError
    r = json.loads(answers.refuse(s, RpcError("ProtocolError", "x" * 500, 'a"b\\'), "Authorize"))
    assert r == [4, 'a"b\\', "ProtocolError", "x" * 120, {}]    # any id goes back as it came


def test_faults_are_answered_even_when_their_texts_cannot_be_loaded():
    # the texts come from a module imported for the purpose; short of memory, the
    # CALLERROR still goes (without a description) and drops are still counted
    from dynevse.ocpp import central
    s, _ = make()
    real = central._sync

    def short_of_memory(name, fn, *args):
        if fn in ("refuse", "text"):
            raise MemoryError("memory allocation failed")
        return real(name, fn, *args)

    central._sync = short_of_memory
    try:
        assert json.loads(s.handle_text('[2, "m1", "Heartbeat", {"x": ')) == [4, "m1", "FormationViolation", "", {}]
        assert s.handle_text("[]") is None and s.handle_text('[3, "nobody-asked", {}]') is None
        assert call(s, "Heartbeat", {})[2] == {"currentTime": TS}     # all else as usual
    finally:
        central._sync = real
    assert s.counters["callerrors"] == 1 and s.counters["dropped"] == 2


def test_log_is_bounded():
    s, _ = make({"log_lines": 3})
    for i in range(10):
        s.handle_text("[]")
    assert len(s.log) == 3 and "dropped" in s.log[-1]


# ---- what the controller asks -----------------------------------------------------------

def profile(link, i=-1):
    action, payload = link.calls[i]
    assert action == "SetChargingProfile"
    return payload


def limit_text(link, i=-1):
    # the exact number text the charger received (must have one decimal)
    texts = [t for t in link.texts if '"SetChargingProfile"' in t]
    t = texts[i]
    start = t.index('"limit": ') + len('"limit": ')
    end = start
    while t[end] in "0123456789.":
        end += 1
    return t[start:end]


def test_set_limit_sends_the_dynamic_tx_default_profile():
    s, link = make()
    assert run(s.set_limit(16, 3)) == "Accepted"
    p = profile(link)
    assert p["connectorId"] == 0
    cp = p["csChargingProfiles"]
    assert (cp["chargingProfileId"], cp["stackLevel"]) == (11, 2)
    assert (cp["chargingProfilePurpose"], cp["chargingProfileKind"]) == ("TxDefaultProfile", "Relative")
    sched = cp["chargingSchedule"]
    # the duration is the regulation's profile_duration_s (default 180 s)
    assert sched["duration"] == 180 and sched["chargingRateUnit"] == "A" and "startSchedule" not in sched
    assert sched["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]
    assert limit_text(link) == "16.0"


def test_limits_are_floored_to_a_tenth():
    s, link = make()
    run(s.set_limit(15.99, 1))
    assert limit_text(link) == "15.9"
    run(s.set_limit(2.3, 1))            # 2.3 * 10 is 22.999999999999996 in binary floating point
    assert limit_text(link) == "2.3"
    run(s.set_limit(0, 3))
    assert limit_text(link) == "0.0"


def test_watts_are_amps_times_volts_times_phases_in_use():
    s, link = make({"voltage_v": 230}, rate_unit="W")
    run(s.set_limit(16, 3))
    assert profile(link)["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] == "W"
    assert limit_text(link) == "11040.0"     # 16 A x 230 V x 3
    run(s.set_limit(6.5, 1))
    assert limit_text(link) == "1495.0"      # 6.5 A x 230 V x 1
    s, link = make({"voltage_v": 231.5}, rate_unit="W")
    run(s.set_limit(10.1, 2))
    assert limit_text(link) == "4676.3"      # 10.1 x 231.5 x 2 = 4676.3


def test_a_rejected_unit_is_retried_once_in_the_other_and_remembered():
    def only_watts(action, payload):
        if action != "SetChargingProfile":
            return {"status": "Accepted"}
        unit = payload["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"]
        return {"status": "Accepted" if unit == "W" else "Rejected"}

    s, link = make(answer=only_watts)
    assert run(s.set_limit(10, 3)) == "Accepted"
    units = [p["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] for a, p in link.calls]
    assert units == ["A", "W"] and s.rate_unit == "W"
    assert limit_text(link) == "6900.0"      # 10 A x 230 V x 3
    run(s.set_limit(8, 3))
    assert len(link.calls) == 3               # straight to W now


def test_a_call_queued_behind_another_sees_what_that_one_learnt():
    # the fallback learns W (A rejected, W accepted) while a limit waits behind it: the
    # limit goes out in W at once
    def only_watts(action, payload):
        unit = payload["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"]
        return {"status": "Accepted" if unit == "W" else "Rejected"}

    s, link = make(answer=only_watts)

    async def both():
        return await asyncio.gather(setup.install_fallback(s), s.set_limit(10, 3))

    assert run(both()) == ["Accepted", "Accepted"]
    units = [p["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] for a, p in link.calls]
    assert units == ["A", "W", "W"] and s.rate_unit == "W"


def test_rejected_in_both_units():
    # TxDefaultProfile in A and W, then (no transaction runs, so no TxProfile) the
    # ChargePointMaxProfile in A and W: four rejections (test_ocpp_sender has the chain)
    s, link = make(answer=lambda a, p: {"status": "Rejected"})
    assert run(s.set_limit(10, 3)) == "Rejected" and len(link.calls) == 4
    # a forced unit is not second-guessed: one try per purpose
    s, link = make(answer=lambda a, p: {"status": "Rejected"}, rate_unit="A")
    assert run(s.set_limit(10, 3)) == "Rejected" and len(link.calls) == 2
    # a CALLERROR is a rejection too
    s, link = make(answer=lambda a, p: "NotSupported", rate_unit="A")
    assert run(s.set_limit(10, 3)) == "Rejected"


def test_unanswered_call_times_out_and_the_next_one_works():
    answers = []
    s, link = make({"call_timeout_s": 1}, answer=lambda a, p: answers.pop(0) if answers else None,
                   rate_unit="A")
    assert run(s.set_limit(10, 3)) == "Timeout" and s.counters["timeouts"] == 1
    answers.append({"status": "Accepted"})
    assert run(s.set_limit(10, 3)) == "Accepted"


def test_not_connected():
    s, link = make()
    s._link = None
    assert not s.connected
    assert run(s.set_limit(10, 3)) == "NotConnected"
    assert run(s.reset("Soft")) == "NotConnected"
    assert link.calls == []


def test_bad_arguments_are_refused():
    s, link = make()
    for amps, phases in ((-1, 3), (float("nan"), 3), ("16", 3), (True, 3), (16, 4), (16, 0), (16, True)):
        raises(ValueError, run, s.set_limit(amps, phases))
    raises(ValueError, run, s.reset("Warm"))
    e = raises(ValueError, run, s.trigger("Coffee"))
    assert "MeterValues" in str(e) and "Coffee" in str(e)
    e = raises(ValueError, run, s.set_limit(16, 4))
    assert str(e) == "phases_in_use must be 1, 2 or 3, got 4"
    raises(ValueError, run, s.remote_start(""))
    raises(ValueError, run, s.remote_start("x" * 21))
    assert link.calls == []


def test_quirk_options_absolute_connector_1_and_stack_level():
    clock = FakeClock()
    s, link = make(clock=clock, profile_kind="absolute", connector_id=1, stack_level=0)
    run(s.set_limit(12, 3))
    p = profile(link)
    assert p["connectorId"] == 1
    cp = p["csChargingProfiles"]
    assert cp["chargingProfileKind"] == "Absolute" and cp["stackLevel"] == 0
    # starts a minute in the past; the duration (180 s) covers that minute too
    assert cp["chargingSchedule"]["startSchedule"] == "2024-05-01T11:59:00Z"
    assert cp["chargingSchedule"]["duration"] == 240


def test_stop_by_remote_stop_when_configured():
    s, link = make(stop_method="remote_stop")
    call(s, "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": TS})
    tx = s.transaction_id
    assert run(s.set_limit(0, 3)) == "Accepted"
    assert link.calls[-1] == ("RemoteStopTransaction", {"transactionId": tx})
    # without a transaction a limit of 0 is still a profile
    s, link = make(stop_method="remote_stop")
    run(s.set_limit(0, 3))
    assert link.calls[-1][0] == "SetChargingProfile"


def test_commands():
    s, link = make()
    assert run(s.remote_start("TAG1")) == "Accepted"
    assert link.calls[-1] == ("RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG1"})
    assert run(s.remote_stop()) == "Rejected"          # nothing running: nothing sent
    assert link.calls[-1][0] == "RemoteStartTransaction"
    assert run(s.reset("Hard")) == "Accepted" and link.calls[-1] == ("Reset", {"type": "Hard"})
    assert run(s.trigger("MeterValues", 1)) == "Accepted"
    assert link.calls[-1] == ("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
    assert run(s.trigger("StatusNotification")) == "Accepted"
    assert link.calls[-1] == ("TriggerMessage", {"requestedMessage": "StatusNotification"})


def test_charger_specific_answers_pass_through_and_invalid_ones_are_rejections():
    s, link = make(answer=lambda a, p: {"status": "NotImplemented"})
    assert run(s.trigger("Heartbeat")) == "NotImplemented"
    s, link = make(answer=lambda a, p: {"status": "Unknown"})
    assert run(s.clear_profiles()) == "Unknown"
    s, link = make(answer=lambda a, p: {"status": "Maybe"})
    assert run(s.reset("Soft")) == "Rejected"
    s, link = make(answer=lambda a, p: {})
    assert run(s.reset("Soft")) == "Rejected"


def test_clear_profiles_then_the_fallback_goes_back():
    s, link = make()
    assert run(s.clear_profiles()) == "Accepted"
    assert link.calls[0] == ("ClearChargingProfile", {"chargingProfilePurpose": "TxDefaultProfile"})
    cp = profile(link, 1)["csChargingProfiles"]
    assert (cp["chargingProfileId"], cp["stackLevel"]) == (10, 1)


def configuration_answer(values):
    def answer(action, payload):
        if action == "GetConfiguration":
            keys = [{"key": k, "readonly": True, "value": values[k]} for k in payload["key"] if k in values]
            return {"configurationKey": keys, "unknownKey": [k for k in payload["key"] if k not in values]}
        return {"status": "Accepted"}
    return answer


def test_setup_after_boot_reads_capabilities_sets_sampling_and_installs_the_fallback():
    s, link = make({"meter_sample_interval_s": 15, "meter_measurands": ["Current.Import", "SoC"],
                    "fallback_a": 7.5, "stack_level": 3},
                   answer=configuration_answer({"ChargingScheduleAllowedChargingRateUnit": "Power",
                                                "ChargeProfileMaxStackLevel": "2", "NumberOfConnectors": "1"}),
                   phases=1)
    assert s.fallback_held is False
    run(setup.configure(s))
    actions = [a for a, p in link.calls]
    # the fallback right after the capabilities it needs (stack level, unit), before
    # the meter settings: a setup cut short by a board short of memory or a dropped link
    # still leaves the charger at fallback_a instead of its own rating
    assert actions == ["GetConfiguration", "SetChargingProfile", "ChangeConfiguration", "ChangeConfiguration"]
    assert sorted(link.calls[0][1]["key"]) == ["ChargeProfileMaxStackLevel",
                                               "ChargingScheduleAllowedChargingRateUnit", "NumberOfConnectors"]
    assert link.calls[2][1] == {"key": "MeterValueSampleInterval", "value": "15"}
    assert link.calls[3][1] == {"key": "MeterValuesSampledData", "value": "Current.Import,SoC"}
    # accepted: the regulator may count it at fallback_a while it is out of reach
    assert s.fallback_held is True
    assert (s.rate_unit, s.max_stack_level, s.connectors) == ("W", 2, 1)
    # configured level 3, the charger allows 2: dynamic at 2, fallback below it at 1
    assert s.stack_level() == 2
    cp = profile(link, 1)["csChargingProfiles"]
    assert (cp["chargingProfileId"], cp["stackLevel"], cp["chargingProfileKind"]) == (10, 1, "Relative")
    sched = cp["chargingSchedule"]
    assert "duration" not in sched and sched["chargingRateUnit"] == "W"
    assert limit_text(link) == "1725.0"     # 7.5 A x 230 V x 1 phase (the charger's phases)


def test_a_rejected_fallback_is_not_held():
    # the charger rejects every profile: out of reach it may draw its own rating
    s, link = make(answer=lambda action, payload: {"status": "Rejected"},
                   ocpp={"meter_sample_interval_s": 0, "meter_measurands": []})
    run(setup.configure(s))
    assert [a for a, p in link.calls][:2] == ["GetConfiguration", "SetChargingProfile"]
    assert s.fallback_held is False


def test_a_clear_of_our_purpose_takes_the_fallback_with_it_until_it_is_back():
    answers = {"SetChargingProfile": "Rejected"}
    s, link = make(answer=lambda action, payload: {"status": answers.get(action, "Accepted")})
    s.fallback_held = True
    assert run(s.clear_profiles()) == "Accepted"
    assert s.fallback_held is False        # cleared, and the new one was rejected
    answers.clear()
    run(s.clear_profiles())
    assert s.fallback_held is True


def test_one_charger_is_set_up_at_a_time():
    # Two chargers connect together: the second's setup waits until the first's is over
    # (its peak is not taken twice at once on a board short of memory).
    cs = CentralSystem({"meter_sample_interval_s": 0, "meter_measurands": [], "boot_wait_s": 1},
                       [{"id": "CP1"}, {"id": "CP2"}], FakeClock())
    held = []      # CP1's GetConfiguration is answered only when the test says so
    sessions = [cs.charger("CP1"), cs.charger("CP2")]
    links = []
    for s in sessions:
        def answer(action, payload, s=s):
            if s.id == "CP1" and action == "GetConfiguration" and not held:
                return None      # no answer yet: CP1's setup is still running
            return {"status": "Accepted"}
        link = FakeLink(s, answer)
        links.append(link)
        state = s._attach(link)
        state[5] = True          # central._BOOTED
    SESSIONS[:] = sessions

    async def main():
        t1 = asyncio.create_task(setup.setup(sessions[0], sessions[0]._link))
        sessions[0]._link[2] = t1      # central._SETUP: the link holds its setup task
        await asyncio.sleep(0.05)
        assert cs.setup_turn is sessions[0]
        assert cs.setting_up() is True           # Home Assistant's discovery waits
        t2 = asyncio.create_task(setup.setup(sessions[1], sessions[1]._link))
        sessions[1]._link[2] = t2
        await asyncio.sleep(0.3)
        calls2 = list(links[1].calls)
        held.append(1)
        t1.cancel()            # CP1's call times out or its link drops: its turn ends
        await asyncio.sleep(0.5)
        t2_done = t2.done()
        if not t2_done:
            t2.cancel()
        return calls2, t2_done
    calls2, t2_done = run(main())
    assert calls2 == [], calls2              # CP2 waited its turn
    assert [a for a, p in links[1].calls] == ["GetConfiguration", "SetChargingProfile"], links[1].calls
    assert t2_done and cs.setup_turn is None
    assert cs.setting_up() is False              # both set up: discovery may go


def test_a_setup_that_could_not_begin_is_tried_again():
    # Short of memory, setup.py cannot be loaded when the charger connects: nothing would
    # ever be sent (the sender waits for the setup) and the charger would charge on its own
    # rating. The setup is tried again while the link lasts; the second try installs the
    # fallback, and the log says what happened.
    from dynevse.ocpp import central
    cs = CentralSystem({"meter_sample_interval_s": 0, "meter_measurands": [], "boot_wait_s": 1},
                       [{"id": "CP1"}], FakeClock())
    s = cs.charger("CP1")
    link = FakeLink(s, accept_all)
    state = s._attach(link)
    state[5] = True          # central._BOOTED
    SESSIONS[:] = [s]
    real_use, real_again = central._use, central._SETUP_AGAIN_MS
    failed = []

    def short_of_memory(name, n=1):
        if name == "setup" and n > 0 and not failed:
            failed.append(name)
            raise MemoryError("memory allocation failed")
        return real_use(name, n)
    central._use = short_of_memory
    central._SETUP_AGAIN_MS = 50     # the board waits 10 s

    async def main():
        central._start_setup(s, s._link)
        assert cs.setting_up() is True
        for _ in range(100):
            await asyncio.sleep(0.02)
            if state[2] is True:
                break
    try:
        run(main())
    finally:
        central._use, central._SETUP_AGAIN_MS = real_use, real_again
    assert failed == ["setup"] and state[2] is True        # failed once, then set up
    assert [a for a, p in link.calls][:2] == ["GetConfiguration", "SetChargingProfile"]
    assert s.fallback_held is True
    assert [l for l in s.log if "could not begin (MemoryError): tried again in 0 s" in l], s.log


def test_setup_with_a_charger_that_allows_stack_level_0_only():
    s, link = make(answer=configuration_answer({"ChargeProfileMaxStackLevel": "0"}),
                   ocpp={"meter_sample_interval_s": 0, "meter_measurands": []})
    run(setup.configure(s))
    # nothing below level 0: no fallback, and no sampling changes were asked for
    assert [a for a, p in link.calls] == ["GetConfiguration"]
    assert s.stack_level() == 0
    run(s.set_limit(10, 3))
    assert profile(link)["csChargingProfiles"]["stackLevel"] == 0


def test_setup_survives_odd_configuration_answers():
    for ans in ({"configurationKey": "x"}, {"configurationKey": [{"key": 5}]},
                {"configurationKey": [{"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "lots"}]}):
        s, link = make(answer=lambda a, p, ans=ans: ans if a == "GetConfiguration" else {"status": "Accepted"})
        run(setup.configure(s))
        assert s.max_stack_level is None and s.rate_unit == "A"
        assert link.calls[1][0] == "SetChargingProfile" and s.fallback_held is True


def test_calls_waiting_behind_the_outstanding_one_are_bounded():
    answered = []

    def first_unanswered(action, payload):
        answered.append(action)
        return None if len(answered) == 1 else {"status": "Accepted"}

    s, link = make({"call_timeout_s": 1}, answer=first_unanswered, rate_unit="A")

    async def many():
        return await asyncio.gather(*[s.reset("Soft") for _ in range(6)])

    results = run(many())
    # at most 4 calls in all (one outstanding, three queued): the 5th and 6th are Busy at
    # once; the first times out, the three behind it go out one by one after it
    assert results == ["Timeout", "Accepted", "Accepted", "Accepted", "Busy", "Busy"]
    assert len(link.calls) == 4
