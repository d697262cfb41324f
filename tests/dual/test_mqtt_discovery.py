"""Discovery payloads checked against Home Assistant's MQTT discovery rules.

The rules below are written from Home Assistant's documentation (home-assistant.io:
integrations/mqtt "Discovery messages", sensor, number, select, switch, button and
their .mqtt pages, and the 2024.2 change that refuses entity_category "config" on
sensors), not from our code. Each entity's value_template is then rendered against a
real state message to prove it reads a field that exists, with a value HA accepts.

Runs under pytest and MicroPython.
"""
import json

from dynevse.core import engine
from dynevse.config import check as schema
from dynevse.config import check as C
from dynevse.mqtt import discovery as D
from dynevse.mqtt import packet as P
from dynevse.mqtt import state as S
from dynevse.mqtt.link import Link
from test_mqtt_link import FakeClient

# device classes and their units, per platform (sensor.markdown / number.markdown)
SENSOR_UNITS = {
    "current": ("A", "mA"),
    "power": ("mW", "W", "kW", "MW", "GW", "TW"),
    "battery": ("%",),
    "voltage": ("V", "mV", "µV", "kV", "MV"),
    "energy": ("J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh"),
    "power_factor": (None, "%"),
    "frequency": ("Hz", "kHz", "MHz", "GHz"),
}
NUMBER_UNITS = {
    "current": ("A", "mA"),
    "power": ("W", "kW"),
    "battery": ("%",),
    "voltage": ("V", "mV"),
}
STATE_CLASSES = ("measurement", "measurement_angle", "total", "total_increasing")
CATEGORIES = ("config", "diagnostic")
# platform: keys it must have ("All configuration variables which are required must be
# present in the payload"); the command platforms need command_topic to reach us
REQUIRED = {
    "sensor": ("state_topic",),
    "number": ("command_topic",),
    "select": ("command_topic", "options"),
    "switch": ("command_topic",),
    "button": ("command_topic",),
}
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


def check_id(s, what):
    assert s and all(ch in ID_CHARS for ch in s), "%s %r must be [a-zA-Z0-9_-]+" % (what, s)


def check_message(prefix, topic, payload):
    """One discovery message by HA's rules; returns (component, config dict)."""
    assert topic.startswith(prefix + "/") and topic.endswith("/config"), topic
    parts = topic[len(prefix) + 1:].split("/")
    # <discovery_prefix>/<component>/[<node_id>/]<object_id>/config
    assert len(parts) in (3, 4), topic
    comp = parts[0]
    assert comp in REQUIRED, "platform %r not used by us / not supported" % comp
    for i in range(1, len(parts) - 1):
        check_id(parts[i], "node/object id")
    p = json.loads(payload)
    assert isinstance(p, dict)
    for k in REQUIRED[comp]:
        assert k in p, "%s lacks required %s: %s" % (comp, k, topic)
    assert p.get("unique_id"), "device registry needs unique_id: " + topic
    dev = p["device"]
    assert dev.get("identifiers") or dev.get("connections"), topic
    for k in ("manufacturer", "model", "sw_version", "name", "configuration_url"):
        assert isinstance(dev.get(k), str) and dev[k], (topic, k)
    url = dev["configuration_url"]
    assert url.startswith("http://") or url.startswith("https://") or url.startswith("homeassistant://")
    assert not ("availability" in p and "availability_topic" in p), "must not use both"
    assert p.get("availability_topic"), topic
    for k in p:
        if k.endswith("_topic"):
            assert P.valid_topic(p[k]), (k, p[k])
    cat = p.get("entity_category")
    if cat is not None:
        assert cat in CATEGORIES, cat
        assert not (comp == "sensor" and cat == "config"), "sensors can't be config: " + topic
    dc = p.get("device_class")
    unit = p.get("unit_of_measurement")
    if comp == "sensor":
        sc = p.get("state_class")
        if sc is not None:
            assert sc in STATE_CLASSES, sc
            assert dc != "enum"
        if dc is not None:
            assert dc in SENSOR_UNITS, "sensor device_class %r" % dc
            assert unit in SENSOR_UNITS[dc], (dc, unit)
        assert "options" not in p or dc == "enum"
    elif comp == "number":
        if dc is not None:
            assert dc in NUMBER_UNITS, "number device_class %r" % dc
            assert unit in NUMBER_UNITS[dc], (dc, unit)
        assert p["min"] < p["max"], topic
        assert p["step"] >= 0.001
        assert p.get("mode", "auto") in ("auto", "box", "slider")
    elif comp == "select":
        opts = p["options"]
        assert opts and all(isinstance(o, str) and o for o in opts) and len(set(opts)) == len(opts)
    else:
        assert dc is None and unit is None, "no device_class/unit used on " + comp
    return comp, p


def render(template, value_json):
    """Render the three template forms we use; anything else is refused."""
    t = template.strip()
    assert t.startswith("{{") and t.endswith("}}"), template
    e = t[2:-2].strip()
    if e.startswith("'ON' if value_json.") and e.endswith(" else 'OFF'"):
        key = e[len("'ON' if value_json."):-len(" else 'OFF'")]
        assert key in value_json, key
        return "ON" if value_json[key] else "OFF"
    assert e.startswith("value_json."), template
    e = e[len("value_json."):]
    if e.endswith("]"):
        key, idx = e[:-1].split("[")
        v = value_json[key][int(idx)]
    else:
        assert e in value_json, "state has no %r" % e
        v = value_json[e]
    return "None" if v is None else str(v)   # how Jinja prints a Python value


def is_number_text(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


SITE = {"phases": 3, "breaker_a": 25, "mode": "eco", "battery": {"soc_min": 20, "soc_target": 80},
        "grid_a": [8, 9, 10], "battery_soc": 55, "battery_w": 300, "solar_w": 2500}
CHARGERS = [{"id": "cp1", "min_a": 6, "max_a": 16, "status": "Charging", "draw_a": [6, 6, 6]},
            {"id": "garage.2", "min_a": 6, "max_a": 32, "status": "Available", "mode": "solar"}]


def announce(phases=3, battery=True, chargers=None):
    """Every discovery message of a board, plus its state messages by topic."""
    cfg = C.check_mqtt({"host": "broker"}, "board-7")
    t = D.Topics(cfg)
    hub = {"name": "Panel", "url": "http://192.0.2.10/"}
    chs = chargers if chargers is not None else [{"id": "cp1", "name": "Drive"}, {"id": "garage.2"}]
    msgs = []
    for row in D.entities(D.HUB, phases, battery):
        msgs.append(D.config_message(t, hub, row))
    for ch in chs:
        for row in D.entities(D.CHARGER):
            msgs.append(D.config_message(t, hub, row, ch))
    site = dict(SITE)
    site["phases"] = phases
    site["grid_a"] = SITE["grid_a"][:phases]
    if not battery:
        site["battery"] = None
    live = [dict(c) for c in CHARGERS]
    for c in live:
        c["phases"] = 1 if phases == 1 else 3
    result = engine.allocate(site, live)
    site_cfg, chargers_cfg, _ = schema.check_setup(site, live)
    s, cs = S.snapshot(result, site_cfg, chargers_cfg,
                       {"chargers": {"cp1": {"status": "Charging"}, "garage.2": {"status": "Available"}}})
    states = {site_state(t): json.loads(s)}
    for cid, c in cs:
        states[charger_state(t, cid)] = json.loads(c)
    return t, msgs, states


def site_state(t):
    return t.base + "/site/state"


def charger_state(t, cid):
    return t.base + "/charger/" + cid + "/state"


def test_every_message_follows_the_rules():
    t, msgs, states = announce()
    uids = []
    devices = {}
    for topic, payload in msgs:
        comp, p = check_message("homeassistant", topic, payload)
        uids.append(p["unique_id"])
        for ident in p["device"]["identifiers"]:
            devices[ident] = p["device"]
    assert len(set(uids)) == len(uids), "unique ids must be unique"
    # one hub device and one per charger, the chargers reached via the hub
    assert len(devices) == 3
    hub_ids = [i for i in devices if "via_device" not in devices[i]]
    assert len(hub_ids) == 1
    for i in devices:
        if i not in hub_ids:
            assert devices[i]["via_device"] == hub_ids[0]


def test_entities_of_design_section_9_are_there():
    t, msgs, states = announce()
    found = []
    for topic, payload in msgs:
        p = json.loads(payload)
        found.append((topic.split("/")[1], p["name"], p["state_topic"] if "state_topic" in p else None))
    names = [(c, n) for c, n, s in found]
    hub = [(c, n) for c, n, s in found if s == site_state(t)]
    for want in (("select", "Charging mode"), ("select", "Distribution mode"),
                 ("number", "Home battery SOC min"), ("number", "Home battery SOC target"),
                 ("number", "Power buffer"), ("switch", "Allow grid charging"),
                 ("sensor", "Available current L1"), ("sensor", "Available current L3")):
        assert want in hub, want
    for want in (("sensor", "Target current"), ("sensor", "Allocated current"), ("sensor", "Status"),
                 ("number", "Min current"), ("number", "Max current"), ("number", "Priority"),
                 ("button", "Reset charging profile")):
        assert names.count(want) >= 2, want     # one per charger
    # with a button per charger, the two chargers give 2 buttons
    assert len([1 for c, n, s in found if c == "button"]) == 2


def test_templates_read_real_state():
    t, msgs, states = announce()
    for topic, payload in msgs:
        p = json.loads(payload)
        comp = topic.split("/")[1]
        if comp == "button":
            assert p["payload_press"] == "PRESS"
            continue
        assert p["state_topic"] in states, p["state_topic"]
        v = render(p["value_template"], states[p["state_topic"]])
        if comp == "sensor" and (p.get("state_class") or p.get("unit_of_measurement")):
            # a measurement sensor must get a number (or None -> HA's payload_reset: unknown)
            assert is_number_text(v) or v == "None", (topic, v)
        elif comp == "select":
            assert v in p["options"], (topic, v)
        elif comp == "number":
            assert is_number_text(v) and p["min"] <= float(v) <= p["max"], (topic, v)
        elif comp == "switch":
            assert v in (p["payload_on"], p["payload_off"])
    # the charger in solar mode shows "solar"; the other follows the site ("default")
    assert states[charger_state(t, "garage.2")]["mode"] == "solar"
    assert states[charger_state(t, "cp1")]["mode"] == "default"
    assert states[charger_state(t, "cp1")]["mode_active"] == "eco"


def test_command_topics_are_covered_by_our_subscriptions():
    t, msgs, states = announce()
    # what the link really subscribes to, at QoS 1
    fc = FakeClient()
    Link(C.check_mqtt({"host": "broker"}, "board-7"), "board-7", client=fc)
    filters = [f for f, qos in fc.subs if qos == 1]
    assert len(filters) == 2
    n = 0
    for topic, payload in msgs:
        p = json.loads(payload)
        if "command_topic" in p:
            n += 1
            assert any(P.matches(f, p["command_topic"]) for f in filters), p["command_topic"]
            assert S.parse_command(t.base, p["command_topic"]) is not None
    # hub: mode, distribution, switch, buffer, 2 SOC numbers; per charger: mode, 3 numbers, button
    assert n == 6 + 2 * 5


def test_numbers_use_the_schema_ranges():
    t, msgs, states = announce()
    want = {"Max current": (1, 80), "Min current": (0, 80), "Priority": (1, 10),
            "Home battery SOC min": (0, 100), "Power buffer": (0, 100000)}
    seen = 0
    for topic, payload in msgs:
        p = json.loads(payload)
        if p["name"] in want:
            assert (p["min"], p["max"]) == want[p["name"]], p["name"]
            seen += 1
    assert seen == 2 + 2 + 2 + 1 + 1


def test_site_without_battery_or_phases():
    t, msgs, states = announce(phases=1, battery=False, chargers=[])
    names = [json.loads(p)["name"] for topic, p in msgs]
    assert "Home battery SOC min" not in names and "Available current L2" not in names
    assert "Available current L1" in names and "Charging mode" in names
    for topic, payload in msgs:
        check_message("homeassistant", topic, payload)


def test_safe_ids_stay_distinct():
    # '.' is allowed in charger ids but not in discovery object ids
    a = D.safe_id("cp.1")
    b = D.safe_id("cp_1")
    assert a != b and b == "cp_1"
    check_id(a, "object id")
    t = D.Topics(C.check_mqtt({}, "b.1"))
    check_id(t.node, "node id")


def test_config_topics_parse_back():
    t = D.Topics(C.check_mqtt({"discovery_prefix": "ha/disc"}, "b1"))
    topic = t.config("number", t.object_id("cp1", "max_a"))
    assert topic == "ha/disc/number/dynevse_b1/ch_cp1_max_a/config"
    assert t.parse_config(topic) == ("number", "ch_cp1_max_a")
    assert t.parse_config("ha/disc/number/other_node/ch_cp1_max_a/config") is None
    assert P.matches(t.sweep_filter(), topic)
    assert D.is_expected(t, 3, True, ["cp1"], "number", "ch_cp1_max_a")
    assert not D.is_expected(t, 3, True, ["cp2"], "number", "ch_cp1_max_a")
    assert not D.is_expected(t, 3, False, [], "number", "hub_soc_min")
    assert D.is_expected(t, 3, True, [], "number", "hub_soc_min")


def test_payloads_fit_the_default_packet_size():
    t, msgs, states = announce()
    limit = C.check_mqtt({}, "b")["max_packet"]
    for topic, payload in msgs:
        # as sent: retained at QoS 1, so with a packet id
        assert len(P.publish_head(topic, len(payload), 1, True, False, 1)) + len(payload) < limit, topic
