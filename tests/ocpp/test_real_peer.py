"""The central system against real charge points (PyPI ``ocpp``: every message it sends or
receives is checked against the official OCPP 1.6 JSON schemas), with the server running
under CPython and under the MicroPython unix port (``server`` fixture, conftest.py).
"""
import asyncio
from decimal import Decimal

import pytest
import websockets

from ocpp.v16 import call
from ocpp_peer import Connected, TS


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 120))


def meter_values(tx_id):
    sv = [{"value": "15.8", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
          {"value": "15.6", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
          {"value": "15.9", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
          {"value": "16", "measurand": "Current.Offered", "unit": "A"},
          {"value": "10.9", "measurand": "Power.Active.Import", "unit": "kW"},
          {"value": "12.345", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
          {"value": "64", "measurand": "SoC", "unit": "Percent", "location": "EV"}]
    return call.MeterValues(connector_id=1, transaction_id=tx_id,
                            meter_value=[{"timestamp": TS, "sampled_value": sv}])


async def expect_setup(cp, unit="A", limit=Decimal("6.0"), level=1):
    """After boot: capabilities read, the fallback profile installed (first: a setup cut
    short still leaves the charger at it), sampling set."""
    kw = await cp.next("GetConfiguration")
    assert "ChargingScheduleAllowedChargingRateUnit" in kw["key"]
    assert "ChargeProfileMaxStackLevel" in kw["key"]
    while True:
        p = await cp.next("SetChargingProfile")
        if p["status"] == "Accepted":
            break
    assert (await cp.next("ChangeConfiguration")) == {"key": "MeterValueSampleInterval", "value": "10"}
    kw = await cp.next("ChangeConfiguration")
    assert kw["key"] == "MeterValuesSampledData" and "Current.Import" in kw["value"]
    prof = p["profile"]
    # the fallback: one level below the dynamic one, no expiry, the configured 6 A
    assert (prof["charging_profile_id"], prof["stack_level"]) == (10, level)
    assert prof["charging_profile_purpose"] == "TxDefaultProfile"
    sched = prof["charging_schedule"]
    assert "duration" not in sched and sched["charging_rate_unit"] == unit
    assert sched["charging_schedule_period"][0]["limit"] == limit
    return p


def test_charging_session_end_to_end(server):
    async def scenario():
        async with Connected(server, "FLOW") as cp:
            r = await cp.boot()
            assert r.interval == 300 and r.current_time.endswith("Z")
            await expect_setup(cp)
            await cp.status("Preparing")
            auth = await cp.call(call.Authorize(id_tag="RFID-1"), suppress=False)
            assert auth.id_tag_info["status"] == "Accepted"
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag="RFID-1", meter_start=1000,
                                                        timestamp=TS), suppress=False)
            tx = start.transaction_id
            assert start.id_tag_info["status"] == "Accepted" and isinstance(tx, int)
            await cp.status("Charging")
            await cp.call(meter_values(tx), suppress=False)
            c = await server.charger("FLOW")
            assert c["connected"] and (c["vendor"], c["model"], c["firmware"]) == ("TestVendor", "TestModel", "9.9")
            assert c["status"] == "Charging" and c["transaction_id"] == tx
            m = c["meter"]
            assert m["current_a"]["value"] == [15.8, 15.6, 15.9]
            assert m["offered_a"]["value"] == 16
            assert abs(m["power_w"]["value"] - 10900) < 1e-6
            assert abs(m["energy_wh"]["value"] - 12345) < 1e-6
            assert m["soc_pct"]["value"] == 64

            # the controller sets a limit: 13.7 A on 3 phases
            assert await server.command("FLOW", "set_limit", 13.7, 3) == "Accepted"
            p = await cp.next("SetChargingProfile")
            assert p["connector_id"] == 0
            prof = p["profile"]
            assert (prof["charging_profile_id"], prof["stack_level"]) == (11, 2)
            assert prof["charging_profile_purpose"] == "TxDefaultProfile"
            assert prof["charging_profile_kind"] == "Relative"
            sched = prof["charging_schedule"]
            # the regulation's profile_duration_s (default 180 s)
            assert sched["duration"] == 180 and sched["charging_rate_unit"] == "A"
            assert sched["charging_schedule_period"] == [{"start_period": 0, "limit": Decimal("13.7"),
                                                          "number_phases": 3}]

            stop = await cp.call(call.StopTransaction(meter_stop=9000, timestamp=TS, transaction_id=tx,
                                                      reason="EVDisconnected", id_tag="RFID-1"), suppress=False)
            assert stop.id_tag_info["status"] == "Accepted"
            c = await server.charger("FLOW")
            assert c["transaction_id"] is None
        await server.wait_charger("FLOW", lambda c: not c["connected"])

    run(scenario())


def test_charger_that_takes_only_watts_gets_watts(server):
    async def scenario():
        # it claims Current but rejects A: the board retries in W and keeps to W
        async with Connected(server, "WONLY", units=("W",)) as cp:
            await cp.boot()
            p = await expect_setup(cp, unit="W", limit=Decimal("4140.0"))   # 6 A x 230 V x 3
            assert p["status"] == "Accepted"
            assert await server.command("WONLY", "set_limit", 10, 3) == "Accepted"
            p = await cp.next("SetChargingProfile")
            sched = p["profile"]["charging_schedule"]
            assert sched["charging_rate_unit"] == "W"
            assert sched["charging_schedule_period"][0]["limit"] == Decimal("6900.0")   # 10 x 230 x 3
            assert (await server.charger("WONLY"))["rate_unit"] == "W"
        # one that says Power from the start gets W without a rejection first
        async with Connected(server, "POWER", rate_unit="Power", units=("W",)) as cp:
            await cp.boot()
            await expect_setup(cp, unit="W", limit=Decimal("4140.0"))
            assert await server.command("POWER", "set_limit", 8, 1) == "Accepted"
            p = await cp.next("SetChargingProfile")
            assert p["status"] == "Accepted"
            assert p["profile"]["charging_schedule"]["charging_schedule_period"][0]["limit"] == Decimal("1840.0")

    run(scenario())


def test_two_chargers_at_once(server):
    async def scenario():
        async with Connected(server, "TWO-A") as a, Connected(server, "TWO-B") as b:
            await asyncio.gather(a.boot(), b.boot())
            await asyncio.gather(expect_setup(a), expect_setup(b))
            ra, rb = await asyncio.gather(server.command("TWO-A", "set_limit", 11, 3),
                                          server.command("TWO-B", "set_limit", 7.5, 1))
            assert ra == rb == "Accepted"
            pa = await a.next("SetChargingProfile")
            pb = await b.next("SetChargingProfile")
            assert pa["profile"]["charging_schedule"]["charging_schedule_period"][0]["limit"] == Decimal("11.0")
            assert pb["profile"]["charging_schedule"]["charging_schedule_period"][0]["limit"] == Decimal("7.5")
            assert pb["profile"]["charging_schedule"]["charging_schedule_period"][0]["number_phases"] == 1
            await asyncio.gather(a.status("Charging"), b.status("SuspendedEV"))
            assert (await server.charger("TWO-A"))["status"] == "Charging"
            assert (await server.charger("TWO-B"))["status"] == "SuspendedEV"

    run(scenario())


def test_reconnect_after_a_dropped_connection(server):
    async def scenario():
        conn = Connected(server, "RECON")
        cp = await conn.__aenter__()
        await cp.boot()
        await expect_setup(cp)
        conn.ws.transport.abort()          # the network drops: no close frame
        await conn.__aexit__(None, None, None)
        await server.wait_charger("RECON", lambda c: not c["connected"])
        assert await server.command("RECON", "set_limit", 10, 3) == "NotConnected"
        # back again without a BootNotification (allowed): the board triggers one
        async with Connected(server, "RECON") as cp:
            kw = await cp.next("TriggerMessage")
            assert kw["requested_message"] == "BootNotification"
            await expect_setup(cp)
            assert await server.command("RECON", "set_limit", 9, 3) == "Accepted"
        c = await server.wait_charger("RECON", lambda c: not c["connected"])
        assert any("disconnected" in line for line in c["log"])

    run(scenario())


def test_a_second_connection_replaces_a_half_open_one(server):
    async def scenario():
        async with Connected(server, "REPLACE") as old:
            await old.boot()
            await expect_setup(old)
            async with Connected(server, "REPLACE") as new:
                await new.boot()
                await expect_setup(new)
                await asyncio.wait_for(old._connection.wait_closed(), 30)
                assert old._connection.close_code == 1001
                assert await server.command("REPLACE", "set_limit", 12, 3) == "Accepted"
                assert (await new.next("SetChargingProfile"))["profile"]["stack_level"] == 2

    run(scenario())


def test_charger_that_never_boots_is_asked_to(server):
    async def scenario():
        async with Connected(server, "NOBOOT") as cp:
            kw = await cp.next("TriggerMessage")       # boot_wait_s is 1 s in this server
            assert kw["requested_message"] == "BootNotification"
            await expect_setup(cp)
            c = await server.charger("NOBOOT")
            assert c["vendor"] == "TestVendor"

    run(scenario())


def test_quirk_options_and_reported_stack_level(server):
    async def scenario():
        # QUIRKS: Absolute profiles on connector 1 at stack level 0, stop by RemoteStop
        async with Connected(server, "QUIRKS") as cp:
            await cp.boot()
            await cp.next("GetConfiguration")
            assert await server.command("QUIRKS", "set_limit", 16, 3) == "Accepted"
            p = await cp.next("SetChargingProfile")
            prof = p["profile"]
            assert p["connector_id"] == 1 and prof["stack_level"] == 0
            assert prof["charging_profile_kind"] == "Absolute"
            assert prof["charging_schedule"]["start_schedule"].endswith("Z")
            assert prof["charging_schedule"]["duration"] == 240      # 180 s + the minute it starts early
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=TS),
                                  suppress=False)
            assert await server.command("QUIRKS", "set_limit", 0, 3) == "Accepted"
            kw = await cp.next("RemoteStopTransaction")
            assert kw["transaction_id"] == start.transaction_id
        # LOW-STACK reports a maximum stack level of 1: dynamic 1, fallback 0
        async with Connected(server, "LOW-STACK", max_stack="1") as cp:
            await cp.boot()
            await expect_setup(cp, level=0)
            assert await server.command("LOW-STACK", "set_limit", 10, 3) == "Accepted"
            assert (await cp.next("SetChargingProfile"))["profile"]["stack_level"] == 1

    run(scenario())


def test_controller_commands(server):
    async def scenario():
        async with Connected(server, "CMDS") as cp:
            await cp.boot()
            await expect_setup(cp)
            assert await server.command("CMDS", "remote_start", "TAG-9") == "Accepted"
            assert (await cp.next("RemoteStartTransaction"))["id_tag"] == "TAG-9"
            assert await server.command("CMDS", "reset", "Soft") == "Accepted"
            assert (await cp.next("Reset"))["type"] == "Soft"
            assert await server.command("CMDS", "trigger", "StatusNotification") == "Accepted"
            await server.wait_charger("CMDS", lambda c: c["status"] == "Available")
            assert await server.command("CMDS", "clear_profiles") == "Accepted"
            assert (await cp.next("ClearChargingProfile"))["charging_profile_purpose"] == "TxDefaultProfile"
            p = await cp.next("SetChargingProfile")          # the fallback goes back on
            assert p["profile"]["charging_profile_id"] == 10
            r = await server.api("/api/ocpp/CMDS/reset", ["Warm"])
            assert r["http_status"] == 400 and "Soft or Hard" in r["body"]

    run(scenario())


def test_unknown_id_is_refused_and_remembered(server):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as e:
            async with Connected(server, "STRANGER-7"):
                pass
        assert e.value.response.status_code == 404
        unknown = (await server.status())["unknown"]
        assert any(u["id"] == "STRANGER-7" for u in unknown)

    run(scenario())


def basic(user, password):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def test_password_is_checked(server):
    async def scenario():
        for headers in (None, basic("SECRET", "wrong"), basic("OTHER", "s3cret-pw")):
            with pytest.raises(websockets.InvalidStatus) as e:
                async with Connected(server, "SECRET", headers=headers):
                    pass
            assert e.value.response.status_code == 401
        async with Connected(server, "SECRET", headers=basic("SECRET", "s3cret-pw")) as cp:
            await cp.boot()
            assert (await server.charger("SECRET"))["connected"]

    run(scenario())


def test_no_ocpp_subprotocol_is_refused(server):
    async def scenario():
        for offer in ((), ("ocpp2.0.1",)):
            ws = await websockets.connect(server.url("NOPROTO"), subprotocols=list(offer) or None,
                                          open_timeout=30)
            assert ws.subprotocol is None
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1002
        c = await server.charger("NOPROTO")
        assert c["vendor"] is None and not c["connected"]

    run(scenario())
