"""Home Assistant's view of a charger, end to end: the firmware under the MicroPython unix
port, a real Mosquitto, and a real charge point (PyPI ``ocpp``) that boots, starts a
transaction and sends MeterValues. Checked on the broker as Home Assistant reads it:
the energy and power entities' discovery, the device block from BootNotification, the
measured values in the state, a register reset that must not make the total go
backwards, and per-charger availability when the charger drops its link."""
import asyncio
import json
import os
import sys
import time

import pytest
import websockets
from ocpp.v16 import ChargePoint, call

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "mqtt")]

from host_tools.broker import free_port, start_broker  # noqa: E402
from host_tools.run import start_firmware  # noqa: E402
from mqtt_harness import Probe  # noqa: E402

BASE = "dynevse/ha"
CONFIG_TOPIC = "homeassistant/%s/dynevse_ha/ch_cp1_%s/config"
TS = "2024-05-01T12:00:00Z"


@pytest.fixture(scope="module")
def system():
    broker = start_broker()
    web_port = free_port()
    config = {
        "device": {"id": "ha"},
        "web": {"port": web_port},
        "control": {"cycle_s": 1, "grid_source": "mqtt"},
        "site": {"phases": 3, "breaker_a": 25, "mode": "standard"},
        "chargers": [{"id": "cp1"}],
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "state_period_s": 1},
    }
    fw = start_firmware(config)
    probe = Probe(broker)
    probe.broker = broker
    yield fw, probe, web_port
    probe.close()
    fw.stop()
    broker.stop()


def config_of(probe, component, key, pred=lambda p: True, what=None):
    _, payload, _ = probe.wait_for(
        lambda m: m[0] == CONFIG_TOPIC % (component, key) and m[1] and pred(json.loads(m[1])),
        what=what or "the discovery config of %s %s" % (component, key))
    return json.loads(payload)


def charger_state(probe, pred, what):
    _, payload, _ = probe.wait_for(
        lambda m: m[0] == BASE + "/charger/cp1/state" and pred(json.loads(m[1])), what=what)
    return json.loads(payload)


def meter(energy_wh, power_w, amps):
    sv = [{"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
          {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"}]
    for i in range(3):
        sv.append({"value": str(amps[i]), "measurand": "Current.Import", "phase": "L%d" % (i + 1),
                   "unit": "A"})
    return call.MeterValues(connector_id=1, transaction_id=None, meter_value=[{"timestamp": TS, "sampled_value": sv}])


def test_energy_and_power_entities_are_announced(system):
    fw, probe, _ = system
    e = config_of(probe, "sensor", "energy_kwh")
    # what the Energy dashboard requires of an energy sensor
    assert (e["device_class"], e["state_class"], e["unit_of_measurement"]) == \
        ("energy", "total_increasing", "kWh")
    p = config_of(probe, "sensor", "power_w")
    assert (p["device_class"], p["unit_of_measurement"], p["state_class"]) == ("power", "W", "measurement")
    # per-charger availability: the panel's will and the charger's OCPP link, both needed
    assert e["availability_mode"] == "all"
    assert [a["topic"] for a in e["availability"]] == [BASE + "/status", BASE + "/charger/cp1/status"]
    assert e["device"]["via_device"] == "dynevse_ha"
    assert e["default_entity_id"] == "sensor.ha_cp1_energy_kwh"     # the panel's id first


def test_a_charge_point_says_who_it_is_and_what_it_measures(system):
    fw, probe, web_port = system

    async def session():
        ws = await websockets.connect("ws://127.0.0.1:%d/ocpp/cp1" % web_port, subprotocols=["ocpp1.6"],
                                      open_timeout=30, ping_interval=None)
        cp = ChargePoint("cp1", ws, response_timeout=30)
        task = asyncio.create_task(cp.start())
        try:
            r = await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wallbox 11",
                                                    firmware_version="4.2.1"), suppress=False)
            assert r.status == "Accepted"
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"),
                          suppress=False)
            r = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=100000,
                                                    timestamp=TS), suppress=False)
            await cp.call(meter(101500, 7200, (10.4, 10.5, 10.3)), suppress=False)
            # the device block re-announced with the charger's own words
            dev = await asyncio.to_thread(config_of, probe, "sensor", "energy_kwh",
                                          lambda p: p["device"].get("manufacturer") == "Acme",
                                          "the device block with the charger's vendor")
            assert (dev["device"]["model"], dev["device"]["sw_version"]) == ("Wallbox 11", "4.2.1")
            st = await asyncio.to_thread(charger_state, probe, lambda s: s["power_w"] == 7200,
                                         "the measured power in the charger state")
            # 101500 Wh register; the session counts from meterStart 100000 Wh
            assert st["energy_kwh"] == 101.5 and st["session_kwh"] == 1.5
            assert st["current_a"] == [10.4, 10.5, 10.3]
            assert st["connected"] is True and st["plugged"] is True
            # the charger reboots and its register starts again from 200 Wh: the total
            # goes on from 101.5 kWh (+0.2), never back to 0.2
            await cp.call(meter(200, 7100, (10.0, 10.0, 10.0)), suppress=False)
            st = await asyncio.to_thread(charger_state, probe, lambda s: s["power_w"] == 7100,
                                         "the state after the register reset")
            assert st["energy_kwh"] == 101.7, st
            probe.clear()
        finally:
            task.cancel()
            await ws.close()

    asyncio.run(session())
    # the charger dropped its link: its own entities become unavailable (its link topic
    # offline), the panel's stay available (the panel's topic is not touched)
    probe.wait_for(lambda m: m[0] == BASE + "/charger/cp1/status" and m[1] == b"offline",
                   what="the charger's link topic offline")
    st = charger_state(probe, lambda s: s["connected"] is False, "the charger state after the disconnect")
    # a measurement of a charger that is away is unknown, not 0; its total stays what
    # it counted (Home Assistant shows the entities unavailable meanwhile anyway)
    assert st["power_w"] is None and st["current_a"] == [None, None, None]
    assert st["energy_kwh"] == 101.7
    assert not probe.seen(lambda m: m[0] == BASE + "/status" and m[1] != b"online")
    # the retained panel status is still online for a newcomer
    late = Probe(probe.broker, filters=(BASE + "/status",))
    try:
        late.wait_for(lambda m: m[1] == b"online", what="the panel's retained status")
    finally:
        late.close()
    assert fw.alive()
