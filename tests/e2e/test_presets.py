"""`make config-new` for each MQTT preset, end to end: the questions answered on a terminal,
the written file checked by `config validate`, then the firmware (MicroPython unix port)
started with it against a real broker, on which the simulator's site data is published the
way each product publishes it. The firmware's cycle line must show the values.

The payloads below are written from each product's own documentation (see
docs/home-assistant.md, Presets), not from host_tools/presets.py: a preset that reads the
wrong topic, field, unit or sign fails here. The firmwares run side by side (one broker),
so the whole test costs about one firmware start."""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "mqtt")]

from config_dialog import Dialog  # noqa: E402
from host_tools import sim  # noqa: E402
from host_tools.broker import free_port, start_broker  # noqa: E402
from host_tools.run import start_firmware  # noqa: E402
from host_tools.site_model import SiteModel  # noqa: E402
from mqtt_harness import Probe  # noqa: E402

V = 230           # the configuration's voltage_v, what the meters below measure


def site_data(phases):
    """The simulator's site at a busy moment: heat pump, dishwasher and washing machine on,
    PV at its morning yield, the battery discharging at its limit. Grid per phase in A
    (rounded to 0.1 A so both runtimes print it alike), solar W, battery SOC and W."""
    house = sim.Household(5)
    load, _ = house.load_a(6.5 * house.spacing_s)          # slot 6: the washing machine
    if phases == 1:
        load = [sum(load)]
    world = dict(sim.BATTERY_WORLD, household_a=load, solar_w=sim.SOLAR_W)
    model = SiteModel(world, dict(sim.SITE, phases=phases), [])
    grid_a = [round(a, 1) for a in model.grid_a]
    return {"grid_a": grid_a, "grid_w": [round(a * V) for a in grid_a], "solar_w": round(model.solar_w),
            "soc": round(model.soc), "battery_w": round(model.battery_w)}


# ---- how each product publishes (from its documentation) ------------------------------

def shelly(d, prefix="shellypro3em-c8f09e8a1b2c"):
    # Gen2 "generic status update": the EM component's whole status on <prefix>/status/em:0
    w, a = d["grid_w"], d["grid_a"]
    pf = 0.95           # a house's power factor: apparent power is above the active power
    st = {"id": 0, "n_current": None, "total_current": round(sum(abs(x) for x in a) / pf, 3),
          "total_act_power": sum(w), "total_aprt_power": round(sum(abs(x) for x in w) / pf, 1)}
    for p, k in enumerate("abc"):
        st.update({k + "_current": round(abs(a[p]) / pf, 3), k + "_voltage": V, k + "_act_power": w[p],
                   k + "_aprt_power": round(abs(w[p]) / pf, 1), k + "_pf": pf, k + "_freq": 50.0})
    return [(prefix + "/status/em:0", json.dumps(st))]


def tasmota(d, topic="tasmota_5A3F2C"):
    # tele/<topic>/SENSOR; the SML script's JSON prefix "SML", evcc's value names
    w = d["grid_w"]
    sml = {"Total_in": 12345.678, "Total_out": 2345.6, "Power_curr": sum(w), "Meter_Id": "0a01"}
    for p in range(3):
        sml["power_l%d" % (p + 1)] = w[p]
    return [("tele/%s/SENSOR" % topic, json.dumps({"Time": "2025-04-01T10:00:00", "SML": sml}))]


def statestream(d, base="homeassistant"):
    # <base_topic>/<domain>/<object id>/state, the state as plain text; here the solar
    # sensor is in kW and the battery sensor counts charging as negative
    out = [("%s/sensor/grid_l%d_power/state" % (base, p + 1), str(d["grid_w"][p])) for p in range(3)]
    out += [(base + "/sensor/pv_power/state", "%.3f" % (d["solar_w"] / 1000)),
            (base + "/sensor/battery_level/state", str(d["soc"])),
            (base + "/sensor/battery_power/state", str(-d["battery_w"]))]
    return out


def solar_assistant(d):
    # one plain number per topic; a single-phase inverter's grid power is the site's
    return [("solar_assistant/inverter_1/grid_power/state", str(d["grid_w"][0])),
            ("solar_assistant/inverter_1/pv_power/state", str(d["solar_w"])),
            ("solar_assistant/total/battery_state_of_charge/state", str(d["soc"])),
            ("solar_assistant/total/battery_power/state", str(d["battery_w"]))]


def victron(d, portal="c0619ab1e2f3"):
    # dbus-flashmq: N/<portal id>/<service>/<instance>/<D-Bus path>, payload {"value": x}
    def n(path, v):
        return ("N/%s/system/0/%s" % (portal, path), json.dumps({"value": v}))
    return [n("Ac/Grid/L%d/Power" % (p + 1), d["grid_w"][p]) for p in range(3)] + [
        n("Dc/Pv/Power", d["solar_w"]), n("Dc/Battery/Soc", d["soc"]), n("Dc/Battery/Power", d["battery_w"])]


def meter_and_opendtu(d):
    # a home-made meter publishing amps as JSON; OpenDTU's total AC power of all inverters
    a = d["grid_a"]
    return [("home/meter", json.dumps({"l1": a[0], "l2": a[1], "l3": a[2]})), ("solar/ac/power", str(d["solar_w"]))]


# ---- the questions, as a person answers them -------------------------------------------

def start_steps(name, phases, broker_port):
    return [("Board name", name), ("PSRAM", ""), ("Wi-Fi network", ""), ("Phases", str(phases)),
            ("Phase voltage", ""), ("Main breaker", "25"), ("Amps to keep free", ""), ("grid current", "2"),
            ("MQTT broker", "127.0.0.1"), ("MQTT port", str(broker_port)), ("MQTT user name", "")]


def end_steps(phases):
    steps = [("Charging mode", ""), ("Charger ids", "cp1"), ("cp1: the most", "")]
    return steps + [("cp1: phases", "")] if phases == 3 else steps      # 1-phase site: a 1-phase charger

CASES = {
    "shelly": (3, shelly, [("Grid data", "shelly_pro_3em"), ("topic prefix", "shellypro3em-c8f09e8a1b2c"),
                           ("Solar production", "none"), ("Home battery", "none")], ("W", False, False)),
    "tasmota": (3, tasmota, [("Grid data", "tasmota_sml"), ("Tasmota's topic", "tasmota_5A3F2C"),
                             ("meter's name", ""), ("L1, L2 and L3", ""),
                             ("Solar production", "none"), ("Home battery", "none")], ("W", False, False)),
    "statestream": (3, statestream, [
        ("Grid data", "ha_statestream"), ("base_topic", ""),
        ("grid L1", "sensor.grid_l1_power"), ("Its unit", ""), ("negative while", ""),
        ("grid L2", "sensor.grid_l2_power"), ("Its unit", ""), ("negative while", ""),
        ("grid L3", "sensor.grid_l3_power"), ("Its unit", ""), ("negative while", ""),
        ("Solar production", ""), ("solar production", "sensor.pv_power"), ("Its unit", "kW"),
        ("Home battery", "ha_statestream"), ("state of charge", "sensor.battery_level"),
        ("battery power", "sensor.battery_power"), ("Its unit", ""), ("negative while", "yes")],
        ("W", True, True)),
    "solar_assistant": (1, solar_assistant, [
        ("Grid data", "solar_assistant"), ("inverter topic level", ""), ("grid power negative while", ""),
        ("Solar production", ""), ("Home battery", ""), ("battery power negative while", "")], ("W", True, True)),
    "victron": (3, victron, [("Grid data", "victron"), ("portal id", "c0619ab1e2f3"),
                             ("Solar production", ""), ("Home battery", "")], ("W", True, True)),
    "custom_opendtu": (3, meter_and_opendtu, [
        ("Grid data", "custom"),
        ("grid_l1: topic", "home/meter"), ("grid_l1: JSON field", "l1"), ("grid_l1: unit", "A"), ("grid_l1: flip", ""),
        ("grid_l2: topic", "home/meter"), ("grid_l2: JSON field", "l2"), ("grid_l2: unit", "A"), ("grid_l2: flip", ""),
        ("grid_l3: topic", "home/meter"), ("grid_l3: JSON field", "l3"), ("grid_l3: unit", "A"), ("grid_l3: flip", ""),
        ("Solar production", "opendtu"), ("base topic", ""), ("Home battery", "none")], ("A", True, False)),
}


def write_config(tmp_path, name, broker_port):
    phases, _publish, steps, _expect = CASES[name]
    out = str(tmp_path / (name + ".json"))
    # a 1 s control cycle, so the test need not wait 5 s for the next line
    d = Dialog("--ask", "--out", out, "--set", "control.cycle_s=1")
    d.answer(start_steps("p-" + name.replace("_", "-"), phases, broker_port) + steps + end_steps(phases))
    assert d.wait() == 0, d.out
    r = subprocess.run([sys.executable, "-m", "host_tools", "config", "validate", out], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and ": ok (1 charger(s)" in r.stdout, r.stdout + r.stderr
    with open(out) as f:
        return json.load(f)


def expected_line(name, d):
    """What the cycle line must show: the grid per phase as published (in the preset's
    unit), and solar and battery where the preset reads them (in W, + charging)."""
    phases, _publish, _steps, (unit, solar, battery) = CASES[name]
    if unit == "A":
        text = "grid " + "/".join("%.1f" % a for a in d["grid_a"]) + " A"
    else:
        text = "grid " + "/".join("%d" % w for w in d["grid_w"]) + " W"
    if solar:
        text += " | solar %d W" % d["solar_w"]
    if battery:
        text += " | battery %d %% %+d W" % (d["soc"], d["battery_w"])
    return text + " | cp1 "


def test_each_preset_gives_the_firmware_its_site_data(tmp_path):
    t0 = time.monotonic()
    broker = start_broker("mosquitto")
    firmwares = {}
    probe = None
    try:
        configs = {name: write_config(tmp_path, name, broker.port) for name in CASES}
        t_questions = time.monotonic() - t0
        for i, (name, cfg) in enumerate(configs.items()):
            firmwares[name] = start_firmware(cfg, rebuild=i == 0, listen=("127.0.0.1", free_port()))
        probe = Probe(broker, filters=("dynevse/+/status",))
        data = {1: site_data(1), 3: site_data(3)}
        # a busy moment has a battery discharging and a grid importing on every phase: the
        # signs and units are then all visible in the numbers
        assert data[3]["battery_w"] < 0 and min(data[3]["grid_w"]) > 0
        want = {name: expected_line(name, data[CASES[name][0]]) for name in CASES}
        left = set(CASES)
        end = time.monotonic() + 90
        while left and time.monotonic() < end:
            for name in CASES:        # the meters publish every second, as real ones do
                for topic, payload in CASES[name][1](data[CASES[name][0]]):
                    probe.publish(topic, payload, qos=0)
            time.sleep(1)
            for name in list(left):
                if any(want[name] in line for line in list(firmwares[name].lines)):
                    left.discard(name)
                assert firmwares[name].alive(), "\n".join(firmwares[name].lines)
        why = {n: (want[n], [l for l in firmwares[n].lines if " cycle " in l][-2:]) for n in left}
        assert not left, why
        print("presets: %d configurations asked in %.1f s, all firmwares showed their data after %.1f s"
              % (len(CASES), t_questions, time.monotonic() - t0))
    finally:
        if probe is not None:
            probe.close()
        for fw in firmwares.values():
            fw.stop()
        broker.stop()
