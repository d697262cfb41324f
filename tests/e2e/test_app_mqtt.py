"""The whole firmware under the MicroPython unix port with a real broker: commands from
Home Assistant change and persist the configuration, bad ones are refused on the
diagnostics topic, site data reaches the control loop. The simulator (tests/sim) covers
the OCPP side with real charge points."""
import json
import os
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "mqtt")]

from host_tools.broker import free_port, start_broker  # noqa: E402
from host_tools.run import start_firmware  # noqa: E402
from mqtt_harness import Probe  # noqa: E402

BASE = "dynevse/e2e"


@pytest.fixture(scope="module")
def system():
    broker = start_broker()
    config = {
        "device": {"id": "e2e"},
        "web": {"port": free_port()},
        "control": {"cycle_s": 1, "grid_source": "mqtt"},
        "site": {"phases": 3, "breaker_a": 25, "mode": "standard"},
        "chargers": [{"id": "cp1"}],
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "state_period_s": 1,
                 "inputs": {"grid_l1": {"topic": "meter/l1"}, "grid_l2": {"topic": "meter/l2"},
                            "grid_l3": {"topic": "meter/l3"}}},
    }
    fw = start_firmware(config)
    probe = Probe(broker)
    yield fw, probe
    probe.close()
    fw.stop()
    broker.stop()


def saved(fw):
    with open(os.path.join(fw.state_dir, "config.json")) as f:
        return json.load(f)


def wait_line(fw, text, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if any(text in l for l in list(fw.lines)):
            return
        time.sleep(0.1)
    raise AssertionError("no %r in the firmware's output:\n%s" % (text, "\n".join(list(fw.lines)[-20:])))


def test_online_and_state(system):
    fw, probe = system
    probe.wait_for(lambda m: m[0] == BASE + "/status" and m[1] == b"online", what="online")
    _, payload, _ = probe.wait_for(lambda m: m[0] == BASE + "/site/state", what="site state")
    assert json.loads(payload)["mode"] == "standard"


def test_site_data_reaches_the_control_loop(system):
    fw, probe = system
    for phase, amps in (("l1", 7.5), ("l2", 3), ("l3", 4.4)):
        probe.publish("meter/" + phase, str(amps), qos=0)
    wait_line(fw, "grid 7.5/3.0/4.4 A")


def test_command_changes_persists_and_confirms(system):
    fw, probe = system
    probe.publish(BASE + "/site/mode/set", "eco")
    probe.wait_for(lambda m: m[0] == BASE + "/site/state" and json.loads(m[1]).get("mode") == "eco",
                   what="the new mode in the site state")
    assert saved(fw)["site"]["mode"] == "eco"
    probe.publish(BASE + "/charger/cp1/max_a/set", "10")
    probe.wait_for(lambda m: m[0] == BASE + "/charger/cp1/state" and json.loads(m[1]).get("max_a") == 10,
                   what="the new max in the charger state")
    assert saved(fw)["chargers"][0]["max_a"] == 10


def test_bad_commands_are_refused_and_change_nothing(system):
    fw, probe = system
    before = saved(fw)
    probe.publish(BASE + "/site/mode/set", "turbo")
    _, payload, _ = probe.wait_for(lambda m: m[0] == BASE + "/diagnostics" and b"turbo" in m[1],
                                   what="a refusal of the unknown mode")
    # min above max (10 A from the previous test): refused by the app, naming the field
    probe.publish(BASE + "/charger/cp1/min_a/set", "12")
    _, payload, _ = probe.wait_for(lambda m: m[0] == BASE + "/diagnostics" and b"min_a" in m[1],
                                   what="a refusal of min above max")
    assert "max_a" in json.loads(payload)["error"]
    assert saved(fw) == before
    assert fw.alive()
