"""Our MQTT link against a real Mosquitto, on CPython and on the MicroPython unix port.

The board is tests/mqtt/standalone.py in its own process (MicroPython runs the same
.mpy files as the ESP32, in a 128 KB heap on the 64-bit unix port; the memory test on the
32-bit board model when it is built); an independent
client (amqtt) watches the broker and plays Home Assistant, the smart meter and the
inverter.
"""
import json
import signal

import pytest

from mqtt_harness import RUNTIMES, Broker, Probe, board_setup

from host_tools.board_model import heap_port

PERIOD_MS = 500
# a 3-phase site with a battery: 6 settings, grid power and 3 grid currents, solar,
# export, surplus, net, battery SOC and power, 3 available currents, problem, status,
# the grid-sign button (docs/detection.md)
HUB_ENTITIES = 22
# a 3-phase charger: mode, 3 measured currents, power, energy, session energy, plugged,
# OCPP link, allocated/target/available current, status, regulation, min, max, priority,
# reset, the suggested phase map and its button
CHARGER_ENTITIES = 20


def configs(probe, dev, empty=False):
    """Distinct discovery topics of board ``dev`` seen with a payload (or empty)."""
    node = "/dynevse_%s/" % dev
    seen = {}
    for topic, payload, retained in probe.seen(lambda m: m[0].startswith("homeassistant/") and node in m[0]):
        seen[topic] = payload
    return sorted(t for t in seen if bool(seen[t]) != empty)


def state(probe, topic):
    msgs = probe.seen(lambda m: m[0] == topic and m[1])
    return json.loads(msgs[-1][1]) if msgs else None


def discovered(board):
    return board.next_cycle(lambda ev: ev["status"]["discovery"] == "done", 60, "discovery done")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_connect_discovery_retained_and_will(runtime, broker, probe, boards):
    dev = "will-" + runtime
    board = boards(runtime, board_setup(broker, dev))
    discovered(board)
    probe.wait_for(lambda m: m[0] == "dynevse/%s/status" % dev and m[1] == b"online", 30, "online")
    n = HUB_ENTITIES + 2 * CHARGER_ENTITIES
    probe.wait_for(lambda m: len(configs(probe, dev)) == n, 30, "%d discovery configs" % n)
    # a client that comes later (HA after a restart) gets it all from the broker: retained
    late = Probe(broker, ["homeassistant/+/dynevse_%s/+/config" % dev, "dynevse/%s/#" % dev])
    try:
        late.wait_for(lambda m: len(late.seen(lambda x: x[0].endswith("/config") and x[2])) == n,
                      30, "retained configs")
        late.wait_for(lambda m: m[0] == "dynevse/%s/site/state" % dev and m[2], 30, "retained state")
        assert late.seen(lambda m: m[0] == "dynevse/%s/status" % dev and m[1] == b"online" and m[2])
    finally:
        late.close()
    st = board.next_cycle()["status"]
    # discovery went out at QoS 1 and Mosquitto acknowledged every message
    assert st["inflight"] == 0 and st["resent"] == 0 and st["connects"] == 1
    assert st["discovery_sent"] == n and st["malformed"] == 0
    site = state(probe, "dynevse/%s/site/state" % dev)
    assert site["mode"] == "standard" and len(site["available_a"]) == 3
    # the board dies without a word: the broker publishes the will, retained
    board.kill(signal.SIGKILL)
    probe.wait_for(lambda m: m[0] == "dynevse/%s/status" % dev and m[1] == b"offline", 30, "last will")
    late = Probe(broker, ["dynevse/%s/status" % dev])
    try:
        late.wait_for(lambda m: m[1] == b"offline" and m[2], 30, "retained offline")
    finally:
        late.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_site_data_commands_and_bad_input(runtime, broker, probe, boards):
    dev = "cmd-" + runtime
    base = "dynevse/" + dev
    board = boards(runtime, board_setup(broker, dev))
    discovered(board)

    # site data in: a Tasmota-style meter JSON, PV in kW, an inverter that counts discharge as +
    probe.publish("meter/%s/SENSOR" % dev, json.dumps({"ENERGY": {"Current": [10, 11.5, -2]}}), qos=0)
    probe.publish("inverter/%s/pv_power" % dev, "2.5")
    probe.publish("inverter/%s/soc" % dev, "55")
    probe.publish("inverter/%s/battery_power" % dev, "1200")
    board.next_cycle(lambda ev: ev["readings"] == {"grid_a": [10, 11.5, -2], "solar_w": 2500.0,
                                                    "battery_soc": 55, "battery_w": -1200},
                     30, "site data readings")

    # commands from HA, at QoS 1 and 0
    probe.publish(base + "/site/mode/set", "eco", qos=1)
    board.wait_event(lambda ev: ev.get("ev") == "command" and ev["value"] == "eco", 30, "mode command")
    probe.wait_for(lambda m: m[0] == base + "/site/state" and json.loads(m[1])["mode"] == "eco", 30,
                   "eco confirmed in state")
    probe.publish(base + "/charger/cp1/max_a/set", "12", qos=0)
    probe.wait_for(lambda m: m[0] == base + "/charger/cp1/state" and json.loads(m[1])["max_a"] == 12,
                   30, "max_a confirmed")

    # bad commands: refused on the diagnostics topic, nothing changes
    def diag(field):
        return probe.wait_for(lambda m: m[0] == base + "/diagnostics" and json.loads(m[1])["field"] == field,
                              30, "refusal of " + field)
    probe.publish(base + "/site/mode/set", "turbo")
    assert "turbo" in json.loads(diag("site.mode")[1])["error"]
    probe.publish(base + "/charger/cp1/max_a/set", "1e9")
    diag("chargers[cp1].max_a")
    probe.publish(base + "/charger/cp1/min_a/set", "13")        # the app: min above max (12)
    assert "max_a" in json.loads(diag("chargers[0].min_a")[1])["error"]
    probe.publish(base + "/charger/ghost/max_a/set", "10")
    diag("chargers[ghost]")
    probe.publish(base + "/site/nonsense/set", b"\xff\x00")
    diag("site.nonsense")

    # garbage on input topics: counted, ignored, the last good value stays
    probe.publish("inverter/%s/pv_power" % dev, "offline")
    probe.publish("meter/%s/SENSOR" % dev, "{broken json")
    probe.publish("inverter/%s/soc" % dev, "")
    ev = board.next_cycle(lambda ev: ev["status"]["input_bad"] >= 5, 30, "bad inputs counted")
    # the meter message feeds three quantities: 1 + 3 + 1 = 5 bad readings
    assert ev["status"]["input_bad"] == 5
    assert ev["readings"]["solar_w"] == 2500 and ev["readings"]["grid_a"] == [10, 11.5, -2]

    # an oversized message (100 kB, limit 4 kB) is skipped; the link stays up
    probe.publish("inverter/%s/pv_power" % dev, b"1" * 100000)
    probe.publish("inverter/%s/pv_power" % dev, "3")
    ev = board.next_cycle(lambda ev: ev["readings"]["solar_w"] == 3000, 30, "value after the big one")
    st = ev["status"]
    assert st["oversized"] == 1 and st["connects"] == 1 and st["malformed"] == 0

    # after all that the settings are exactly the two accepted commands
    assert ev["site"]["mode"] == "eco"
    assert [(c["id"], c.get("min_a"), c.get("max_a")) for c in ev["chargers"]] == [("cp1", 6, 12), ("cp2", 6, 32)]
    assert st["commands"] == 2 and st["commands_refused"] == 5
    assert ev["max_gap_ms"] < 2 * PERIOD_MS


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_broker_killed_and_restarted(runtime, tmpdir_path, boards):
    br = Broker(tmpdir_path)
    br.start()
    dev = "restart-" + runtime
    base = "dynevse/" + dev
    p = Probe(br)
    try:
        board = boards(runtime, board_setup(br, dev, keepalive_s=5))
        discovered(board)
        n = HUB_ENTITIES + 2 * CHARGER_ENTITIES
        p.wait_for(lambda m: len(configs(p, dev)) == n, 30, "discovery before the restart")
    finally:
        p.close()

    br.kill()
    lost = board.next_cycle(lambda ev: ev["status"]["state"] != "connected", 30, "link down")
    # the broker stays away while the board keeps trying (and keeps cycling)
    down = board.next_cycle(lambda ev: ev["status"]["connect_failures"] >= 3, 30, "failed reconnects")
    br.start()
    p = Probe(br)
    try:
        up = board.next_cycle(lambda ev: ev["status"]["connects"] == 2
                              and ev["status"]["discovery"] == "done", 60, "reconnect and rediscovery")
        # no persistence: every config there now was published again after the restart
        p.wait_for(lambda m: len(configs(p, dev)) == n, 30, "discovery after the restart")
        p.wait_for(lambda m: m[0] == base + "/status" and m[1] == b"online", 30, "online again")
        p.wait_for(lambda m: m[0] == base + "/site/state", 30, "state again")
        # subscribed again: commands and site data get through
        p.publish(base + "/site/mode/set", "solar")
        board.wait_event(lambda ev: ev.get("ev") == "command" and ev["value"] == "solar", 30,
                         "command after restart")
        p.publish("inverter/%s/pv_power" % dev, "1.5")
        last = board.next_cycle(lambda ev: ev["readings"].get("solar_w") == 1500, 30, "input after restart")
    finally:
        p.close()
    assert down["n"] < up["n"] < last["n"]
    # no cycle of the control loop started more than one period late, outage included
    print("%s: longest gap between control cycles %d ms (period %d ms); link down for %d cycles"
          % (runtime, last["max_gap_ms"], PERIOD_MS, up["n"] - lost["n"]))
    assert last["max_gap_ms"] < 2 * PERIOD_MS, last["max_gap_ms"]
    assert last["status"]["links_lost"] == 1
    br.stop()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_wrong_password_is_reported_and_retried(runtime, broker, boards):
    board = boards(runtime, board_setup(broker, "pw-" + runtime, password="wrong"))
    ev = board.next_cycle(lambda ev: ev["status"]["connect_failures"] >= 3, 30, "refused logins")
    st = ev["status"]
    # Mosquitto answers a bad password on MQTT 3.1.1 with CONNACK 5 (not authorized)
    assert st["connects"] == 0 and "refused" in st["last_error"]
    assert "not authorized" in st["last_error"] or "bad user name or password" in st["last_error"]
    assert ev["max_gap_ms"] < 2 * PERIOD_MS


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_removed_charger_disappears_from_home_assistant(runtime, broker, probe, boards):
    dev = "gone-" + runtime
    setup = board_setup(broker, dev)
    first = boards(runtime, setup)
    discovered(first)
    probe.wait_for(lambda m: len(configs(probe, dev)) == HUB_ENTITIES + 2 * CHARGER_ENTITIES, 30, "first discovery")
    first.kill(signal.SIGTERM)
    # the board comes back with cp2 removed from its configuration
    setup["chargers"] = setup["chargers"][:1]
    second = boards(runtime, setup)
    ev = discovered(second)
    assert ev["status"]["entities_removed"] == CHARGER_ENTITIES
    removed = configs(probe, dev, empty=True)
    assert len(removed) == CHARGER_ENTITIES and all("/ch_cp2_" in t for t in removed), removed
    late = Probe(broker, ["homeassistant/+/dynevse_%s/+/config" % dev])
    try:
        late.wait_for(lambda m: len(late.messages) >= HUB_ENTITIES + CHARGER_ENTITIES, 30, "retained configs")
        topics = [m[0] for m in late.messages]
        assert len(topics) == HUB_ENTITIES + CHARGER_ENTITIES
        assert not [t for t in topics if "/ch_cp2_" in t]
    finally:
        late.close()


# The port the memory figures are measured on: the board model (32-bit, the board's
# figures) when built, as in CI; else the 64-bit PyPI port, with its own budgets.
MEM_MICROPYTHON, MEM_BITS = heap_port()
# The heap the board process gets: the MQTT package and this harness, no allocation
# engine. On 32-bit 80 KB ran out 1 run in 5 (2026-12-04, after issue 13 and 14's merge)
# in the harness's own 1.2 KB report line, which a fragmented heap could not place;
# 96 KB leaves it room. 128 KB on 64-bit (116 KB is too little there).
MEM_HEAP = {32: "96K", 64: "128K"}
KB = 1024
# Each a little above what was measured (2026-12-04, after the merges of issues 13 and
# 14): 32-bit code 16.2 KB, running 4.6 KB, peak 21.2-22.3 KB (2026-12-03: 15.7, 4.4,
# 19.3-19.6 KB); 64-bit 20.8 KB, 7.3 KB, 25.7-28.8 KB (2026-12-03; 47.6 KB and 18.8 KB
# before the diet, with validation and discovery resident). Issue 17 (measured values,
# energy, the sentences of core.status, per-charger link topics, 15 more entities), merged
# 2026-12-04: 32-bit code 24.6 KB, running 5.1 KB, peak 26.0-26.4 KB; 64-bit 32.6 KB,
# 8.1 KB, 37.4 KB. A diet is open (docs/decisions.md, "Home Assistant energy").
MEM_BUDGET = {
    32: {"code": 26 * KB, "running": 6 * KB, "peak": 28.5 * KB},
    64: {"code": 34.5 * KB, "running": 9 * KB, "peak": 42 * KB},
}
RESIDENT = ["dynevse.mqtt.client", "dynevse.mqtt.inputs", "dynevse.mqtt.link", "dynevse.mqtt.packet",
            "dynevse.mqtt.state"]


def test_memory_footprint_on_micropython(broker, probe, boards):
    """What the MQTT package costs on the MicroPython unix port, measured with
    gc.mem_alloc() after collect, through discovery of 32 entities, commands, site data
    and an oversized message, without the allocation engine, in HEAP (the board model) or
    128 KB (the 64-bit port, whose pointers and object headers are twice the ESP32's). The
    board boots like the app: validation dropped, a listening web-server socket, the heap
    taken between cycles.

    - code: the resident modules (link, state, client, inputs, packet) imported from .mpy
    - running: the link, its connection, tasks, buffers and state, and what the modules
      loaded now and then (discovery, connect, counters) leave behind (interned names)
    - peak: the highest cycle sample while discovery and its modules are loaded
    """
    dev = "mem"
    setup = board_setup(broker, dev)
    setup["engine"] = False
    board = boards("micropython", setup, heap=MEM_HEAP[MEM_BITS], micropython=MEM_MICROPYTHON)
    peak = 0
    mark = 0
    while True:
        ev = board.wait_event(lambda e: e.get("ev") == "cycle", 60, "a cycle during discovery", mark)
        mark = board.events.index(ev) + 1
        peak = max(peak, ev["heap"] - ev["heap_steps"]["app"])
        if ev["status"]["discovery"] == "done":
            break
    probe.publish("meter/%s/SENSOR" % dev, json.dumps({"ENERGY": {"Current": [1, 2, 3]}}))
    probe.publish("dynevse/%s/site/mode/set" % dev, "eco")
    probe.publish("dynevse/%s/site/mode/set" % dev, "turbo")
    probe.publish("inverter/%s/pv_power" % dev, b"9" * 50000)
    probe.publish("inverter/%s/pv_power" % dev, "1")
    ev = board.next_cycle(lambda ev: ev["readings"].get("solar_w") == 1000 and ev["status"]["commands"] == 1
                          and ev["status"]["commands_refused"] == 1, 30, "traffic handled")
    ev = board.next_cycle()     # the status page's numbers were read once at least: counted too
    h = ev["heap_steps"]
    code = h["mqtt_code"] - h["before_mqtt"]
    running = ev["heap"] - h["app"]
    print("MQTT on the %d-bit port: code %d bytes, objects while running %d bytes, peak in discovery %d bytes"
          % (MEM_BITS, code, running, peak))
    # validation, discovery and the occasional code are not kept: only the resident modules
    assert ev["modules"] == RESIDENT, ev["modules"]
    # the bounds catch a regression, not noise; the peak is sampled once a cycle
    budget = MEM_BUDGET[MEM_BITS]
    assert code < budget["code"], code
    assert running < budget["running"], running
    assert peak < budget["peak"], peak
