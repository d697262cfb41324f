"""The sender of a charger's limit, one per session (issue 13): the controller says what it
wants (``want_limit``, ``clear_and_resend``, never blocking); the sender sends it on change
and again before it lapses (0 A included), one call at a time with the newest value,
nothing before the setup has read the charger's capabilities, in the purpose and unit the
charger takes (TxDefaultProfile -> TxProfile -> ChargePointMaxProfile, A <-> W), and says
what is in force (``delivered_a``, ``delivered_ms``) and whether the charger is under
control (``control``).

The session's clock is a FakeClock: after moving it the test kicks the sender (what the
end of its sleep does on a board), and the sender decides from the clock whether anything
is due. The sleep itself, with real charge points, is in tests/ocpp/test_sender.py.
Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
import asyncio
import json

from dualtest import raises
from dynevse.ocpp import answers, setup
from test_ocpp_session import TS, FakeClock, FakeLink, call, configuration_answer, make, run

# the defaults: the regulation's profile_duration_s and refresh_before_s
DURATION_MS = 180000
REFRESH_MS = 180000 - 60000      # an unchanged limit goes again 60 s before it lapses


def profiles(link):
    return [p for a, p in link.calls if a == "SetChargingProfile"]


def summary(p):
    """(purpose, connector, unit, limit, transaction id) of a SetChargingProfile payload."""
    cp = p["csChargingProfiles"]
    sched = cp["chargingSchedule"]
    return (cp["chargingProfilePurpose"], p["connectorId"], sched["chargingRateUnit"],
            sched["chargingSchedulePeriod"][0]["limit"], cp.get("transactionId"))


def dynamic(link):
    """The limits sent (not the fallback), summarised."""
    return [summary(p) for p in profiles(link) if p["csChargingProfiles"]["chargingProfileId"] == 11]


async def settle(s):
    """Let the session do all it can now (the fake link answers at once): until its
    sender sleeps, no call is outstanding or waiting, and no setup runs."""
    for _ in range(2000):
        await asyncio.sleep(0)
        link = s._link
        if link is None:
            return
        setup_over = link[2] is True or link[2] is None       # central._SETUP
        sender = link[6]                                      # central._SENDER
        asleep = sender is None or sender.done() or link[7] == 2    # central._KICK, _ASLEEP
        if setup_over and asleep and link[3] is None and link[4] == 0:
            return
        if link[3] is not None and getattr(link[0], "held", None):
            return                   # waiting for an answer the test holds back
    raise AssertionError("the session did not settle")


async def later(s, clock, ms):
    """Move the clock on by ``ms``; the sender looks again (as after its sleep)."""
    clock.ms += ms
    s._wake()
    await settle(s)


def start_transaction(s):
    return call(s, "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                        "timestamp": TS}, "tx")[2]["transactionId"]


def stop_transaction(s, tx):
    call(s, "StopTransaction", {"meterStop": 100, "timestamp": TS, "transactionId": tx}, "stop")


def takes(purposes, units=("A", "W")):
    """A charger that accepts profiles of these purposes in these units (a TxProfile only
    for its running transaction, a ChargePointMaxProfile only on connector 0)."""
    state = {"tx": None}

    def answer(action, payload):
        if action != "SetChargingProfile":
            return {"status": "Accepted"}
        cp = payload["csChargingProfiles"]
        purpose = cp["chargingProfilePurpose"]
        ok = purpose in purposes and cp["chargingSchedule"]["chargingRateUnit"] in units
        if purpose == "TxProfile" and (payload["connectorId"] == 0 or cp.get("transactionId") != state["tx"]):
            ok = False
        if purpose == "ChargePointMaxProfile" and payload["connectorId"] != 0:
            ok = False
        return {"status": "Accepted" if ok else "Rejected"}

    return answer, state


class HeldLink(FakeLink):
    """A link whose charger answers only when the test says so (``release``)."""

    def __init__(self, session):
        FakeLink.__init__(self, session, lambda a, p: None)
        self.held = []

    async def send_text(self, text):
        await FakeLink.send_text(self, text)
        msg = json.loads(text)
        if msg[0] == 2:
            self.held.append(msg[1])

    def release(self, status="Accepted"):
        uid = self.held.pop(0)
        assert self.session.handle_text(json.dumps([3, uid, {"status": status}])) is None


# ---- when a limit goes out -------------------------------------------------------------

def test_nothing_goes_out_before_the_setup_has_read_the_capabilities():
    # a charger that takes only W and has no stack level below 0: a profile sent before
    # GetConfiguration answered would be in A at level 2 and rejected
    answer = configuration_answer({"ChargingScheduleAllowedChargingRateUnit": "Power",
                                   "ChargeProfileMaxStackLevel": "0", "NumberOfConnectors": "1"})
    s, link = make(answer=answer, set_up=False, ocpp={"meter_sample_interval_s": 0, "meter_measurands": []})

    async def scenario():
        s.want_limit(10, 3)
        s.want_limit(12, 3)          # the newest wins
        await settle(s)
        assert link.calls == [] and s.delivered_a is None and s.control == "pending"
        state = s._link
        state[5] = True              # central._BOOTED: a BootNotification came
        await setup.setup(s, state)
        await settle(s)

    run(scenario())
    # capabilities first; no fallback (nothing below level 0); then the limit in W at level 0
    assert [a for a, p in link.calls] == ["GetConfiguration", "SetChargingProfile"]
    p = profiles(link)[0]
    assert p["csChargingProfiles"]["stackLevel"] == 0
    assert summary(p) == ("TxDefaultProfile", 0, "W", 8280.0, None)     # 12 A x 230 V x 3
    assert s.delivered_a == 12.0 and s.control == "ok"


def test_one_call_in_flight_and_the_newest_wanted_value_goes_next():
    s, _ = make(rate_unit="A")
    link = HeldLink(s)
    s._attach(link)[2] = True        # connected, set up

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        assert len(link.held) == 1
        s.want_limit(11, 3)          # while 10 A is on its way: neither goes now
        s.want_limit(12.5, 3)
        await settle(s)
        assert len(link.held) == 1
        assert s.delivered_a is None     # not accepted yet
        link.release()
        await settle(s)
        assert s.delivered_a == 10.0 and len(link.held) == 1    # 12.5 A went; 11 A never
        link.release()
        await settle(s)

    run(scenario())
    assert [x[3] for x in dynamic(link)] == [10.0, 12.5]
    assert s.delivered_a == 12.5


def test_want_limit_never_blocks_and_checks_its_arguments():
    s, link = make()
    s._detach(None)
    assert s.want_limit(10, 3) is None and s.clear_and_resend() is None     # not connected: kept
    for amps, phases in ((-1, 3), (float("nan"), 3), ("16", 3), (True, 3), (16, 4), (16, 0), (16, True),
                         (1000.1, 3)):
        raises(ValueError, s.want_limit, amps, phases)
    assert link.calls == [] and s._want == [100, 3]


def test_an_unchanged_limit_is_sent_again_before_it_lapses_0_a_included():
    # held at 0 A (a paused or idle charger) for three profile durations: a profile of
    # 180 s goes again 60 s before its end, so the charger never falls back to its
    # fallback or its full rating (main sent a 0 A limit once and let it lapse)
    clock = FakeClock()
    s, link = make(clock=clock)

    async def scenario():
        s.want_limit(0, 3)
        await settle(s)
        sent = [clock.ms]
        assert s.delivered_a == 0.0 and s.delivered_ms == clock.ms
        while clock.ms - sent[0] < 3 * DURATION_MS:
            # 1 ms before the refresh is due, nothing goes; at the moment it is due, it goes
            await later(s, clock, REFRESH_MS - 1)
            assert len(profiles(link)) == len(sent) and s.delivered_a == 0.0
            await later(s, clock, 1)
            assert len(profiles(link)) == len(sent) + 1
            sent.append(clock.ms)
            assert s.delivered_a == 0.0 and s.delivered_ms == clock.ms
        return sent

    sent = run(scenario())
    assert [b - a for a, b in zip(sent, sent[1:])] == [REFRESH_MS] * 5
    assert [x[3] for x in dynamic(link)] == [0.0] * 6


def test_a_limit_not_refreshed_is_no_longer_in_force_once_it_lapses():
    clock = FakeClock()
    answers = ["Accepted"]
    s, link = make(clock=clock, rate_unit="A", answer=lambda a, p: {"status": answers[-1]})

    async def scenario():
        s.want_limit(16, 3)
        await settle(s)
        answers.append("Rejected")         # from now on it rejects everything
        await later(s, clock, REFRESH_MS)
        # the refresh was rejected: the old limit holds until its duration is over
        assert s.delivered_a == 16.0
        await later(s, clock, DURATION_MS - REFRESH_MS - 1)
        assert s.delivered_a == 16.0
        clock.ms += 1
        assert s.delivered_a is None and s.delivered_ms is None

    run(scenario())


# ---- what kind of profile: the fallback chain ---------------------------------------------

def test_tx_default_rejected_then_a_tx_profile_with_each_transaction():
    answer, charger = takes(("TxProfile",))
    s, link = make(answer=answer)

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        # TxDefaultProfile in A and W; no transaction runs, so the ChargePointMaxProfile
        # next (in A and W); a TxProfile is still to be tried: not refused, not controlled
        assert dynamic(link) == [("TxDefaultProfile", 0, "A", 10.0, None), ("TxDefaultProfile", 0, "W", 6900.0, None),
                                 ("ChargePointMaxProfile", 0, "A", 10.0, None),
                                 ("ChargePointMaxProfile", 0, "W", 6900.0, None)]
        assert s.control == "pending" and s.delivered_a is None
        tx = charger["tx"] = start_transaction(s)
        await settle(s)
        assert dynamic(link)[4:] == [("TxProfile", 1, "A", 10.0, tx)]
        assert s.control == "ok" and s.delivered_a == 10.0 and s.purpose == 1
        s.want_limit(8, 3)           # learnt: straight to a TxProfile
        await settle(s)
        assert dynamic(link)[5:] == [("TxProfile", 1, "A", 8.0, tx)]
        stop_transaction(s, tx)
        await settle(s)
        assert s.delivered_a is None and len(dynamic(link)) == 6    # nothing to send it with
        tx2 = charger["tx"] = start_transaction(s)
        await settle(s)
        assert tx2 != tx and dynamic(link)[6:] == [("TxProfile", 1, "A", 8.0, tx2)]
        assert s.delivered_a == 8.0

    run(scenario())
    assert any("TxProfile" in line for line in s.log)


def test_only_a_charge_point_max_profile_on_connector_0():
    answer, _ = takes(("ChargePointMaxProfile",))
    s, link = make(answer=answer)

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        s.want_limit(7, 3)
        await settle(s)

    run(scenario())
    assert dynamic(link) == [("TxDefaultProfile", 0, "A", 10.0, None), ("TxDefaultProfile", 0, "W", 6900.0, None),
                             ("ChargePointMaxProfile", 0, "A", 10.0, None),
                             ("ChargePointMaxProfile", 0, "A", 7.0, None)]
    # its fallback (6 A, one level below, no end) goes as a ChargePointMaxProfile too,
    # so that the limit falls to it when the dynamic one lapses
    fb = [p for p in profiles(link) if p["csChargingProfiles"]["chargingProfileId"] == 10]
    assert [summary(p) for p in fb] == [("ChargePointMaxProfile", 0, "A", 6.0, None)]
    assert fb[0]["csChargingProfiles"]["stackLevel"] == 1
    assert "duration" not in fb[0]["csChargingProfiles"]["chargingSchedule"]
    assert s.control == "ok" and s.delivered_a == 7.0


def test_no_charge_point_max_profile_for_a_charger_of_two_connectors():
    # OCPP 1.6, 3.13.1: a ChargePointMaxProfile limits the whole charge point; for a
    # charger of two connectors that would limit the other connector's car too
    s, link = make(answer=lambda a, p: {"status": "Rejected"})
    s.connectors = 2

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        assert [x[0] for x in dynamic(link)] == ["TxDefaultProfile"] * 2 and s.control == "pending"
        start_transaction(s)
        await settle(s)

    run(scenario())
    assert [x[0] for x in dynamic(link)] == ["TxDefaultProfile"] * 2 + ["TxProfile"] * 2
    assert s.control == "refused"


def test_a_charger_that_refuses_everything_is_said_once_and_tried_again_now_and_then():
    clock = FakeClock()
    s, link = make(clock=clock, answer=lambda a, p: {"status": "Rejected"})

    def refusals():
        return len([line for line in s.log if "refused every charging profile" in line])

    async def scenario():
        start_transaction(s)
        s.want_limit(10, 3)
        await settle(s)
        assert [x[:3] for x in dynamic(link)] == [
            ("TxDefaultProfile", 0, "A"), ("TxDefaultProfile", 0, "W"), ("TxProfile", 1, "A"), ("TxProfile", 1, "W"),
            ("ChargePointMaxProfile", 0, "A"), ("ChargePointMaxProfile", 0, "W")]
        assert s.control == "refused" and s.delivered_a is None and refusals() == 1
        # new wanted values, a clear asked for, minutes passing: nothing goes (not every cycle)
        for amps in (12, 13, 6):
            s.want_limit(amps, 3)
            s.clear_and_resend()
            await later(s, clock, 60000)
        assert len(link.calls) == 6
        # ten minutes after the refusal: the whole chain again, said no second time
        await later(s, clock, 600000 - 3 * 60000)
        assert len(dynamic(link)) == 12 and dynamic(link)[6][3] == 6.0
        assert s.control == "refused" and refusals() == 1
        # a new BootNotification (the charger may have been updated): its setup, then the chain again
        call(s, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}, "boot")
        await settle(s)
        assert len(dynamic(link)) == 18 and refusals() == 1

    run(scenario())
    assert not [line for line in s.log if "not following its limit" in line]   # nothing to clear


def test_a_charger_that_takes_a_profile_again_is_under_control_again():
    clock = FakeClock()
    answers = ["Rejected"]
    s, link = make(clock=clock, rate_unit="A", answer=lambda a, p: {"status": answers[-1]})

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        assert s.control == "pending"     # no transaction: a TxProfile is still to be tried
        start_transaction(s)
        await settle(s)
        assert s.control == "refused"
        answers.append("Accepted")
        await later(s, clock, 600000)
        assert s.control == "ok" and s.delivered_a == 10.0

    run(scenario())
    # the first kind that applies now is taken again: the TxDefaultProfile
    assert dynamic(link)[-1] == ("TxDefaultProfile", 0, "A", 10.0, None)


# ---- clear and resend, reconnecting ---------------------------------------------------------

def test_clear_and_resend_clears_our_purpose_installs_the_fallback_and_sends_again():
    s, link = make()

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        s.clear_and_resend()
        s.clear_and_resend()         # asked twice before it ran: done once
        await settle(s)

    run(scenario())
    assert [a for a, p in link.calls] == ["SetChargingProfile", "ClearChargingProfile", "SetChargingProfile",
                                          "SetChargingProfile"]
    assert link.calls[1][1] == {"chargingProfilePurpose": "TxDefaultProfile"}
    ids = [p["csChargingProfiles"]["chargingProfileId"] for p in profiles(link)]
    assert ids == [11, 10, 11]       # the limit, the fallback, the limit again
    assert s.delivered_a == 10.0
    assert len([line for line in s.log if "not following its limit" in line]) == 1


def test_a_charger_that_connects_again_gets_its_limit_in_what_it_learnt():
    answer, _ = takes(("ChargePointMaxProfile",), ("W",))
    s, link = make(answer=answer)

    async def scenario():
        s.want_limit(10, 3)
        await settle(s)
        assert s.control == "ok" and s.rate_unit == "W" and s.purpose == 2
        s._detach(None)
        # what a charger that is away (it may reboot) has in force is not known
        assert s.control == "pending" and s.delivered_a is None
        again = FakeLink(s, answer)
        state = s._attach(again)
        state[2] = True              # its setup is over
        s._wake()
        await settle(s)
        return again

    again = run(scenario())
    assert dynamic(again) == [("ChargePointMaxProfile", 0, "W", 6900.0, None)]     # no rejection first
    assert s.control == "ok" and s.delivered_a == 10.0
