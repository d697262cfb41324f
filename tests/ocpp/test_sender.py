"""The sender of a charger's limit (issue 13) against real charge points (PyPI ``ocpp``),
with the server under CPython and under the MicroPython unix port (``sender_server``,
conftest.py): chargers that take only some kinds of profile, one that takes none, one
held at 0 A for three profile durations, one that is slow to answer, one whose unit and
stack level are known only once GetConfiguration has answered.

The server's clock runs CLOCK_RATE times as fast as real time and the charge points keep
their profiles on a clock of the same rate (serve.py): a 60 s profile lapses in 6 s.
"""
import asyncio
import time

from conftest import CLOCK_RATE
from ocpp_peer import Connected, fast_clock

CLOCK = fast_clock(CLOCK_RATE)
DURATION_S = 60           # SENDER_CONFIG's profile_duration_s (the schema's minimum)
REFRESH_S = 60 - 20       # an unchanged limit goes again 20 s before it lapses


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 120))


def summary(kw):
    """(purpose, connector, unit, limit, transaction id, answer) of a received profile."""
    prof = kw["profile"]
    sched = prof["charging_schedule"]
    return (prof["charging_profile_purpose"], kw["connector_id"], sched["charging_rate_unit"],
            float(sched["charging_schedule_period"][0]["limit"]), prof.get("transaction_id"), kw["status"])


async def limits(cp, n, timeout_s=30):
    """The next ``n`` dynamic profiles (id 11; the fallback is id 10) the charger received."""
    out = []
    while len(out) < n:
        kw = await asyncio.wait_for(cp.profiles.get(), timeout_s)
        if kw["profile"]["charging_profile_id"] == 11:
            out.append(summary(kw))
    return out


async def none_for(cp, seconds):
    """No dynamic profile for ``seconds`` of real time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        while not cp.profiles.empty():
            kw = cp.profiles.get_nowait()
            assert kw["profile"]["charging_profile_id"] != 11, summary(kw)
        await asyncio.sleep(0.05)


def test_held_at_0_a_for_three_profile_durations_never_lapses(sender_server):
    # Two idle chargers at 0 A: ZERO has the 6 A fallback below its limit, ZERO0 a stack of
    # level 0 only (no fallback: a lapse gives it its full rating). The 0 A limit goes
    # again every 40 s of the clock (60 s - 20 s), so the charger never holds anything but
    # 0 A. Main sent a 0 A limit once: it lapsed after 60 s (to 6 A, and to no limit at all).
    srv = sender_server

    async def scenario():
        async with Connected(srv, "ZERO", clock=CLOCK) as a, \
                Connected(srv, "ZERO0", max_stack="0", clock=CLOCK) as b:
            await asyncio.gather(a.boot(), b.boot())
            for cp in (a, b):      # set up (the setup's last call answered), then idle
                await cp.next("GetConfiguration")
                await cp.next("ChangeConfiguration")
                await cp.next("ChangeConfiguration")
            await asyncio.sleep(0.5)
            assert await asyncio.gather(srv.command("ZERO", "set_limit", 0, 3),
                                        srv.command("ZERO0", "set_limit", 0, 3)) == ["Accepted", "Accepted"]
            t0 = CLOCK()
            seen = {"ZERO": set(), "ZERO0": set()}
            while CLOCK() - t0 < 3 * DURATION_S:
                seen["ZERO"].add(a.limit_a())
                seen["ZERO0"].add(b.limit_a())
                await asyncio.sleep(0.02)
            assert seen == {"ZERO": {0.0}, "ZERO0": {0.0}}
            for cp, cid in ((a, "ZERO"), (b, "ZERO0")):
                got = []
                while not cp.profiles.empty():
                    kw = cp.profiles.get_nowait()
                    if kw["profile"]["charging_profile_id"] == 11:
                        got.append(summary(kw))
                # the first at t0, then at 40, 80, 120 and 160 s: five, each 0 A and taken
                assert got == [("TxDefaultProfile", 0, "A", 0.0, None, "Accepted")] * 5, (cid, got)
                c = await srv.charger(cid)
                assert c["delivered_a"] == 0.0 and c["control"] == "ok"

    run(scenario())


def test_a_charger_that_rejects_tx_default_is_controlled_by_tx_profiles(sender_server):
    srv = sender_server

    async def scenario():
        async with Connected(srv, "TXONLY", purposes=("TxProfile",), clock=CLOCK) as cp:
            await cp.boot()
            # no transaction yet: TxDefaultProfile and ChargePointMaxProfile are rejected
            # (in A and W); a TxProfile needs a transaction: the charger is not controlled yet
            assert await srv.command("TXONLY", "set_limit", 10, 3) == "Rejected"
            assert await limits(cp, 4) == [("TxDefaultProfile", 0, "A", 10.0, None, "Rejected"),
                                           ("TxDefaultProfile", 0, "W", 6900.0, None, "Rejected"),
                                           ("ChargePointMaxProfile", 0, "A", 10.0, None, "Rejected"),
                                           ("ChargePointMaxProfile", 0, "W", 6900.0, None, "Rejected")]
            c = await srv.charger("TXONLY")
            assert c["control"] == "pending" and c["delivered_a"] is None and cp.limit_a() is None
            # a car starts charging: its transaction gets the limit as a TxProfile
            tx = await cp.start_transaction()
            assert await limits(cp, 1) == [("TxProfile", 1, "A", 10.0, tx, "Accepted")]
            assert cp.limit_a() == 10.0
            c = await srv.wait_charger("TXONLY", lambda c: c["control"] == "ok")
            assert c["purpose"] == "TxProfile" and c["delivered_a"] == 10.0
            # the next car: its transaction gets it again, with the new id
            await cp.stop_transaction()
            tx2 = await cp.start_transaction()
            assert tx2 != tx and await limits(cp, 1) == [("TxProfile", 1, "A", 10.0, tx2, "Accepted")]
            assert cp.limit_a() == 10.0

    run(scenario())


def test_a_charger_that_takes_only_charge_point_max_profiles(sender_server):
    srv = sender_server

    async def scenario():
        async with Connected(srv, "CPMAX", purposes=("ChargePointMaxProfile",), clock=CLOCK) as cp:
            await cp.boot()
            assert await srv.command("CPMAX", "set_limit", 10, 3) == "Accepted"
            assert await limits(cp, 3) == [("TxDefaultProfile", 0, "A", 10.0, None, "Rejected"),
                                           ("TxDefaultProfile", 0, "W", 6900.0, None, "Rejected"),
                                           ("ChargePointMaxProfile", 0, "A", 10.0, None, "Accepted")]
            assert cp.limit_a() == 10.0
            # its fallback went as a ChargePointMaxProfile too: once the limit lapses
            # (the board gone quiet) the charger holds 6 A, not its full rating
            await srv.wait_charger("CPMAX", lambda c: c["purpose"] == "ChargePointMaxProfile")
            for _ in range(100):
                if cp.limit_a(later_s=DURATION_S + 1) is not None:
                    break
                await asyncio.sleep(0.05)
            assert cp.limit_a(later_s=DURATION_S + 1) == 6.0
            c = await srv.charger("CPMAX")
            assert c["control"] == "ok" and c["delivered_a"] == 10.0

    run(scenario())


def test_a_charger_that_rejects_everything_is_refused_said_once_and_not_pestered(sender_server):
    srv = sender_server

    def refusals(c):
        return [line for line in c["log"] if "refused every charging profile" in line]

    async def scenario():
        async with Connected(srv, "REFUSER", purposes=(), clock=CLOCK) as cp:
            await cp.boot()
            tx = await cp.start_transaction()
            assert await srv.command("REFUSER", "set_limit", 10, 3) == "Rejected"
            assert [x[:3] for x in await limits(cp, 6)] == [
                ("TxDefaultProfile", 0, "A"), ("TxDefaultProfile", 0, "W"), ("TxProfile", 1, "A"),
                ("TxProfile", 1, "W"), ("ChargePointMaxProfile", 0, "A"), ("ChargePointMaxProfile", 0, "W")]
            c = await srv.wait_charger("REFUSER", lambda c: c["control"] == "refused")
            assert c["delivered_a"] is None and len(refusals(c)) == 1
            assert "TxDefaultProfile, TxProfile, ChargePointMaxProfile" in refusals(c)[0]
            # what the controller does every cycle meanwhile gets no new profile out
            for amps in (12, 8, 16):
                assert await srv.command("REFUSER", "want_limit", amps, 3) is None
                assert await srv.command("REFUSER", "clear_and_resend") is None
            await none_for(cp, 2)
            assert tx == cp.transaction_id
        # it connects again (perhaps with new firmware; its transaction still runs): the
        # chain is tried again, and the refusal is not said a second time
        async with Connected(srv, "REFUSER", purposes=(), clock=CLOCK) as cp:
            cp.transaction_id = tx
            await cp.boot()
            assert [x[0] for x in await limits(cp, 6)] == ["TxDefaultProfile"] * 2 + ["TxProfile"] * 2 + \
                ["ChargePointMaxProfile"] * 2
            c = await srv.wait_charger("REFUSER", lambda c: c["last_limit"] and c["last_limit"][0] == 16.0)
            assert c["control"] == "refused" and len(refusals(c)) == 1

    run(scenario())


def test_no_dynamic_profile_before_get_configuration_has_answered(sender_server):
    # A charger that takes only W and has no stack level above 0 connects and is slow to
    # boot; the controller wants a limit at once. Main sent it before the setup had read
    # the charger's capabilities: in A, at level 2, both rejected.
    srv = sender_server

    async def scenario():
        async with Connected(srv, "LATECONF", rate_unit="Power", units=("W",), max_stack="0", clock=CLOCK) as cp:
            async def boot_later():
                await asyncio.sleep(0.5)
                await cp.boot()

            result, _ = await asyncio.gather(srv.command("LATECONF", "set_limit", 10, 3), boot_later())
            assert result == "Accepted"
            got = []
            while not cp.profiles.empty():
                got.append(cp.profiles.get_nowait())
            assert [kw["config_answered"] for kw in got] == [True]        # no fallback: nothing below 0
            assert summary(got[0]) == ("TxDefaultProfile", 0, "W", 6900.0, None, "Accepted")
            assert got[0]["profile"]["stack_level"] == 0

    run(scenario())


def test_a_slow_charger_gets_one_call_at_a_time_and_the_newest_limit(sender_server):
    # it takes a second to answer a profile; the controller wants 10 A, then 11 A and
    # 12 A while 10 A is on its way: 11 A never goes, 12 A goes once 10 A is answered
    srv = sender_server

    async def scenario():
        conn = Connected(srv, "LAGGARD", profile_delay_s=1.0, clock=CLOCK)
        async with conn as cp:
            await cp.boot()
            fallback = await asyncio.wait_for(cp.profiles.get(), 30)
            assert fallback["profile"]["charging_profile_id"] == 10
            assert await srv.command("LAGGARD", "want_limit", 10, 3) is None
            await asyncio.sleep(0.2)
            assert await srv.command("LAGGARD", "want_limit", 11, 3) is None
            assert await srv.command("LAGGARD", "want_limit", 12, 3) is None
            assert [x[3] for x in await limits(cp, 2)] == [10.0, 12.0]
            await none_for(cp, 0.5)
            assert cp.limit_a() == 12.0 and conn.tap.most_in_flight() == 1
            c = await srv.wait_charger("LAGGARD", lambda c: c["delivered_a"] == 12.0)
            assert c["control"] == "ok"

    run(scenario())
