"""Discovery payloads checked against Home Assistant's MQTT discovery rules.

The rules below are written from Home Assistant's documentation (home-assistant.io:
integrations/mqtt "Discovery messages", sensor, binary_sensor, number, select, switch,
button and their .mqtt pages: the device classes and their units, state classes,
``availability`` (a list of topics, "must not be used together with availability_topic")
and ``availability_mode`` (all, any, latest), the device's ``via_device`` and
``configuration_url``; the 2024.2 change that refuses entity_category "config" on
sensors; HA 2025.10's ``default_entity_id``, "<domain>.<object id>", validated as an
entity id, which replaces ``object_id`` (both are sent: HA before 2025.10 reads only
``object_id``, later ones take ``default_entity_id`` and no longer warn, per the MQTT
maintainer in Koenkk/zigbee2mqtt#28560); and the sensor developer docs on state classes:
energy is a total (total_increasing: a decrease is read as a meter reset), power and
current are measurements, and one sensor per kind of data should feed the statistics),
not from our code. Each entity's value_template is then rendered against a real state
message to prove it reads a field that exists, with a value HA accepts.

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
# state classes a device class may have: an energy sensor is a total, never a measurement
SENSOR_STATE_CLASSES = {
    "energy": (None, "total", "total_increasing"),
    "current": (None, "measurement"),
    "power": (None, "measurement"),
    "battery": (None, "measurement"),
}
# binary_sensor.markdown: the device classes (on means ...)
BINARY_CLASSES = ("battery", "battery_charging", "connectivity", "plug", "power", "problem", "running",
                  "safety", "update")
NUMBER_UNITS = {
    "current": ("A", "mA"),
    "power": ("W", "kW"),
    "battery": ("%",),
    "voltage": ("V", "mV"),
}
STATE_CLASSES = ("measurement", "measurement_angle", "total", "total_increasing")
CATEGORIES = ("config", "diagnostic")
AVAILABILITY_MODES = ("all", "any", "latest")
# platform: keys it must have ("All configuration variables which are required must be
# present in the payload"); the command platforms need command_topic to reach us
REQUIRED = {
    "sensor": ("state_topic",),
    "binary_sensor": ("state_topic",),
    "number": ("command_topic",),
    "select": ("command_topic", "options"),
    "switch": ("command_topic",),
    "button": ("command_topic",),
}
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
ENTITY_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def check_id(s, what):
    assert s and all(ch in ID_CHARS for ch in s), "%s %r must be [a-zA-Z0-9_-]+" % (what, s)


def check_entity_id(s):
    """HA's valid_entity_id: <domain>.<object id>, each lower case letters, digits and
    underscores, no leading, trailing or double underscore."""
    assert s.count(".") == 1, s
    for part in s.split("."):
        assert part and all(ch in ENTITY_ID_CHARS for ch in part), s
        assert part[0] != "_" and part[-1] != "_" and "__" not in part, s


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
    assert isinstance(dev.get("name"), str) and dev["name"], topic
    for k in ("manufacturer", "model", "sw_version", "configuration_url"):
        # optional: left out while unknown, never empty
        assert k not in dev or isinstance(dev[k], str) and dev[k], (topic, k)
    url = dev.get("configuration_url")
    if url is not None:
        assert url.startswith("http://") or url.startswith("https://") or url.startswith("homeassistant://")
    assert not ("availability" in p and "availability_topic" in p), "must not use both"
    if "availability" in p:
        av = p["availability"]
        assert isinstance(av, list) and av and all(isinstance(a, dict) and P.valid_topic(a["topic"]) for a in av)
        assert p.get("availability_mode", "latest") in AVAILABILITY_MODES
    else:
        assert p.get("availability_topic"), topic
    # the entity id HA should give it: object_id (HA < 2025.10) and default_entity_id
    check_entity_id(p["default_entity_id"])
    assert p["default_entity_id"] == comp + "." + p["object_id"], p["default_entity_id"]
    for k in p:
        if k.endswith("_topic"):
            assert P.valid_topic(p[k]), (k, p[k])
    cat = p.get("entity_category")
    if cat is not None:
        assert cat in CATEGORIES, cat
        assert not (comp in ("sensor", "binary_sensor") and cat == "config"), "sensors can't be config: " + topic
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
            assert sc in SENSOR_STATE_CLASSES[dc], (topic, dc, sc)
        assert "options" not in p or dc == "enum"
    elif comp == "binary_sensor":
        assert dc is None or dc in BINARY_CLASSES, dc
        assert unit is None and "state_class" not in p
        assert p.get("payload_on", "ON") != p.get("payload_off", "OFF")
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
    """Render the template forms we use (as Jinja would); anything else is refused."""
    t = template.strip()
    assert t.startswith("{{") and t.endswith("}}"), template
    e = t[2:-2].strip()
    if e.startswith("'ON' if value_json.") and e.endswith(" else 'OFF'"):
        key = e[len("'ON' if value_json."):-len(" else 'OFF'")]
        assert key in value_json, key
        return "ON" if value_json[key] else "OFF"
    if e.startswith("'None' if value_json."):
        # 'None' if value_json.K is none else 'ON' if value_json.K else 'OFF'
        key = e[len("'None' if value_json."):].split(" ")[0]
        assert e == "'None' if value_json.%s is none else 'ON' if value_json.%s else 'OFF'" % (key, key), e
        assert key in value_json, key
        v = value_json[key]
        return "None" if v is None else "ON" if v else "OFF"
    if e.startswith("{'warnings': value_json.warnings} | tojson"):
        return json.dumps({"warnings": value_json["warnings"]})
    if e.startswith("{'"):
        # {'value':'Words',...}[value_json.K]: a dict literal of plain strings, indexed
        table, _, rest = e[1:].partition("}[value_json.")
        assert rest.endswith("]"), e
        key = rest[:-1]
        words = {}
        for item in table.split(","):
            k, v = item.split(":")
            assert k[0] == k[-1] == "'" and v[0] == v[-1] == "'" and "'" not in k[1:-1] + v[1:-1], item
            words[k[1:-1]] = v[1:-1]
        assert value_json[key] in words, "%r has no words for %r" % (table, value_json[key])
        return words[value_json[key]]
    assert e.startswith("value_json."), template
    e = e[len("value_json."):]
    if e.endswith("]"):
        key, idx = e[:-1].split("[")
        assert isinstance(value_json[key], list), "%s must always be a list" % key
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
# what cp1 reported: BootNotification and meter values
CP1 = {"id": "cp1", "name": "Drive", "vendor": "ACME", "model": "Wallbox 11", "firmware": "4.2.1",
       "phases": 3}
LIVE = {"cp1": {"status": "Charging", "connected": True, "plugged": True, "current_a": [6.1, 6.0, None],
                "power_w": 4140, "energy_kwh": 1234.5, "session_kwh": 2.25, "regulation": "Charging at 6.0 A"},
        "garage.2": {"status": "Available", "connected": True, "plugged": False, "current_a": [None, None, None],
                     "power_w": None, "energy_kwh": None, "session_kwh": None, "regulation": "No car charging"}}


def announce(phases=3, battery=True, chargers=None, device="board-7"):
    """Every discovery message of a board, plus its state messages by topic."""
    cfg = C.check_mqtt({"host": "broker"}, device)
    t = D.Topics(cfg)
    hub = {"name": "Panel", "url": "http://192.0.2.10/"}
    chs = chargers if chargers is not None else [CP1, {"id": "garage.2", "phases": 1}]
    msgs = []
    for row in D.entities(D.HUB, phases, battery):
        msgs.append(D.config_message(t, hub, row))
    for ch in chs:
        for row in D.entities(D.CHARGER, ch.get("phases", 3)):
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
    values = S.site_values(site, {}, site_cfg, 15, 60)
    s, cs = S.snapshot(result, site_cfg, chargers_cfg,
                       {"site": values, "chargers": {k: dict(LIVE[k]) for k in LIVE}})
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
        # every device links to the board's own page
        assert devices[i]["configuration_url"] == "http://192.0.2.10/"


def messages_of(msgs, cid=None):
    """(component, payload dict) of the hub's messages, or of charger ``cid``'s."""
    out = []
    for topic, payload in msgs:
        p = json.loads(payload)
        st = p.get("state_topic") or p.get("command_topic")
        if (cid is None) == ("/site/" in st) and (cid is None or "/charger/%s/" % cid in st):
            out.append((topic.split("/")[1], p))
    return out


def test_entities_of_design_section_9_and_issue_17_are_there():
    t, msgs, states = announce()
    hub = [(c, p["name"]) for c, p in messages_of(msgs)]
    for want in (("select", "Charging mode"), ("select", "Distribution mode"),
                 ("number", "Home battery SOC min"), ("number", "Home battery SOC target"),
                 ("number", "Power buffer"), ("switch", "Allow grid charging"),
                 ("sensor", "Available current L1"), ("sensor", "Available current L3"),
                 # issue 17: the site as the controller sees it
                 ("sensor", "Grid power"), ("sensor", "Grid current L1"), ("sensor", "Grid current L3"),
                 ("sensor", "Solar power"), ("sensor", "Export"), ("sensor", "Solar surplus"),
                 ("sensor", "Home battery SOC"), ("sensor", "Home battery power"),
                 ("binary_sensor", "Problem")):
        assert want in hub, want
    for cid in ("cp1", "garage.2"):
        names = [(c, p["name"]) for c, p in messages_of(msgs, cid)]
        for want in (("sensor", "Target current"), ("sensor", "Allocated current"), ("sensor", "Status"),
                     ("number", "Min current"), ("number", "Max current"), ("number", "Priority"),
                     ("button", "Reset charging profile"),
                     ("sensor", "Current L1"), ("sensor", "Power"), ("sensor", "Energy"),
                     ("sensor", "Session energy"), ("binary_sensor", "Car plugged in"),
                     ("binary_sensor", "OCPP link")):
            assert want in names, (cid, want)
    # per phase where metered: the 3-phase cp1 has L1..L3, the 1-phase garage.2 only L1
    assert [p["name"] for c, p in messages_of(msgs, "cp1") if p["name"].startswith("Current L")] == \
        ["Current L1", "Current L2", "Current L3"]
    assert [p["name"] for c, p in messages_of(msgs, "garage.2") if p["name"].startswith("Current L")] == \
        ["Current L1"]


def test_energy_and_power_sensors_are_what_the_energy_dashboard_takes():
    t, msgs, states = announce()
    by_name = {}
    for c, p in messages_of(msgs, "cp1"):
        by_name[p["name"]] = (c, p)
    c, p = by_name["Energy"]
    assert c == "sensor"
    assert (p["device_class"], p["state_class"], p["unit_of_measurement"]) == ("energy", "total_increasing", "kWh")
    c, p = by_name["Power"]
    assert (p["device_class"], p["state_class"], p["unit_of_measurement"]) == ("power", "measurement", "W")
    c, p = by_name["Current L2"]
    assert (p["device_class"], p["state_class"], p["unit_of_measurement"]) == ("current", "measurement", "A")
    # the session's energy is energy too, but not for statistics: one sensor per kind of data
    c, p = by_name["Session energy"]
    assert (p["device_class"], p["unit_of_measurement"]) == ("energy", "kWh") and "state_class" not in p
    assert by_name["Car plugged in"][1]["device_class"] == "plug"
    assert by_name["OCPP link"][1]["device_class"] == "connectivity"
    hub = {}
    for c, p in messages_of(msgs):
        hub[p["name"]] = p
    assert (hub["Home battery SOC"]["device_class"], hub["Home battery SOC"]["unit_of_measurement"]) == ("battery", "%")
    for n in ("Grid power", "Solar power", "Export", "Home battery power"):
        assert (hub[n]["device_class"], hub[n]["unit_of_measurement"], hub[n]["state_class"]) == \
            ("power", "W", "measurement"), n
    assert hub["Problem"]["device_class"] == "problem"
    # the warnings as the Problem sensor's attributes, read from the site state
    assert hub["Problem"]["json_attributes_topic"] == site_state(t)
    attrs = json.loads(render(hub["Problem"]["json_attributes_template"], states[site_state(t)]))
    assert attrs == {"warnings": states[site_state(t)]["warnings"]}


def test_charger_devices_say_who_they_are():
    t, msgs, states = announce()
    dev = messages_of(msgs, "cp1")[0][1]["device"]
    # what its BootNotification said, not the panel's identity
    assert (dev["manufacturer"], dev["model"], dev["sw_version"], dev["name"]) == ("ACME", "Wallbox 11", "4.2.1", "Drive")
    # garage.2 has not told yet: left out (HA keeps what it was told before), never the panel's
    dev = messages_of(msgs, "garage.2")[0][1]["device"]
    assert "manufacturer" not in dev and "model" not in dev and "sw_version" not in dev
    hub = messages_of(msgs)[0][1]["device"]
    assert hub["manufacturer"] == "Dynamic OCPP EVSE" and "via_device" not in hub


def test_charger_entities_need_the_panel_and_the_chargers_link():
    t, msgs, states = announce()
    panel = t.base + "/status"
    for c, p in messages_of(msgs):
        assert p["availability_topic"] == panel, p["name"]
    for cid in ("cp1", "garage.2"):
        for c, p in messages_of(msgs, cid):
            if c in ("select", "number") or p["name"] in ("OCPP link", "Suggested phase map",
                                                           "Apply suggested phase map"):
                # the board's own settings for it, and the link itself: the panel alone;
                # so is what the board learnt of its phases, and applying that (a setting)
                assert p["availability_topic"] == panel and "availability" not in p, (cid, p["name"])
            else:
                assert [a["topic"] for a in p["availability"]] == [panel, t.base + "/charger/%s/status" % cid]
                assert p["availability_mode"] == "all", (cid, p["name"])


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
        elif comp in ("switch", "binary_sensor"):
            assert v in (p["payload_on"], p["payload_off"]) or comp == "binary_sensor" and v == "None"
    # the charger in solar mode shows "solar"; the other follows the site ("default")
    assert states[charger_state(t, "garage.2")]["mode"] == "solar"
    assert states[charger_state(t, "cp1")]["mode"] == "default"
    assert states[charger_state(t, "cp1")]["mode_active"] == "eco"
    shown = {}
    for c, p in messages_of(msgs, "cp1"):
        shown[p["name"]] = render(p["value_template"], states[p["state_topic"]]) if "value_template" in p else None
    # what cp1 reported, as HA shows it; the phase it does not meter is unknown, not 0
    assert (shown["Current L1"], shown["Current L3"], shown["Power"], shown["Energy"]) == ("6.1", "None", "4140", "1234.5")
    assert (shown["Car plugged in"], shown["OCPP link"], shown["Charging mode"]) == ("ON", "ON", "Same as the site")
    assert shown["Regulation"] == "Charging at 6.0 A"
    # no step has shown another phase map: null, which Home Assistant shows as unknown
    assert shown["Suggested phase map"] == "None" and shown["Apply suggested phase map"] is None
    hub = {}
    for c, p in messages_of(msgs):
        if c != "button":
            hub[p["name"]] = render(p["value_template"], states[p["state_topic"]])
    # SITE: 8/9/10 A at 230 V; SOC 55 %; the engine's warnings (none here)
    assert (hub["Grid current L2"], hub["Grid power"], hub["Home battery SOC"]) == ("9.0", "6210", "55")
    assert hub["Charging mode"] == "Eco" and hub["Problem"] == "OFF" and hub["Status"] == "OK"


def test_select_options_are_words_from_the_tables():
    t, msgs, states = announce()
    opts = {}
    for c, p in messages_of(msgs):
        if c == "select":
            opts[p["name"]] = p["options"]
    # the configuration's values, each in words a person reads (config.site.choice_words)
    assert opts["Distribution mode"] == ["Shared", "Priority", "Sequential \u2013 optimized", "Sequential \u2013 strict"]
    assert opts["Charging mode"] == ["Standard", "Eco", "Solar", "Excess"]
    ch = [p["options"] for c, p in messages_of(msgs, "cp1") if c == "select"][0]
    assert ch == ["Same as the site", "Standard", "Eco", "Solar", "Excess"]


def test_entity_ids_carry_the_panels_id():
    # two panels, each with a charger "cp1": their entity ids must not collide
    a = [json.loads(p)["default_entity_id"] for t, p in announce(chargers=[{"id": "cp1"}], device="garage")[1]]
    b = [json.loads(p)["default_entity_id"] for t, p in announce(chargers=[{"id": "cp1"}], device="House-2")[1]]
    assert not set(a) & set(b)
    assert "sensor.garage_cp1_energy_kwh" in a and "sensor.house_2_cp1_energy_kwh" in b
    assert "select.house_2_mode" in b
    assert D.slug("--A..b__") == "a_b" and D.slug("garage.2") == "garage_2"


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
        for a in p.get("availability") or ():
            # a charger's link topic is never taken for a command
            assert S.parse_command(t.base, a["topic"]) is None
    # hub: mode, distribution, switch, buffer, 2 SOC numbers, the grid-sign button; per
    # charger: mode, 3 numbers, the reset and apply-phase-map buttons
    assert n == 7 + 2 * 6


def test_numbers_use_the_schema_ranges_and_the_boards_steps():
    t, msgs, states = announce()
    # ranges: the schema's; steps: what a command may carry (0.1 A: limits go out in
    # tenths of an amp; whole W, %, priorities)
    want = {"Max current": (1, 80, 0.1), "Min current": (0, 80, 0.1), "Priority": (1, 10, 1),
            "Home battery SOC min": (0, 100, 1), "Power buffer": (0, 100000, 1)}
    seen = 0
    for topic, payload in msgs:
        p = json.loads(payload)
        if p["name"] in want:
            assert (p["min"], p["max"], p["step"]) == want[p["name"]], p["name"]
            seen += 1
    assert seen == 2 + 2 + 2 + 1 + 1


def test_site_without_battery_or_phases():
    t, msgs, states = announce(phases=1, battery=False, chargers=[])
    names = [json.loads(p)["name"] for topic, p in msgs]
    for gone in ("Home battery SOC min", "Available current L2", "Grid current L2", "Home battery SOC",
                 "Home battery power"):
        assert gone not in names, gone
    assert "Available current L1" in names and "Charging mode" in names and "Grid current L1" in names
    for topic, payload in msgs:
        check_message("homeassistant", topic, payload)
        p = json.loads(payload)
        if "value_template" in p:
            render(p["value_template"], states[p["state_topic"]])


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
    cp1 = ["cp1", None, None, None, None, 3]
    assert D.is_expected(t, 3, True, cp1, "number", "ch_cp1_max_a")
    assert not D.is_expected(t, 3, True, ["cp2", None, None, None, None, 3], "number", "ch_cp1_max_a")
    assert not D.is_expected(t, 3, False, [], "number", "hub_soc_min")
    assert D.is_expected(t, 3, True, [], "number", "hub_soc_min")
    # a charger now wired on one phase: its L2, L3 currents are leftovers
    assert D.is_expected(t, 3, True, cp1, "sensor", "ch_cp1_current_a_l3")
    assert not D.is_expected(t, 3, True, cp1[:5] + [1], "sensor", "ch_cp1_current_a_l3")


def test_payloads_fit_the_default_packet_size():
    t, msgs, states = announce()
    limit = C.check_mqtt({}, "b")["max_packet"]
    for topic, payload in msgs:
        # as sent: retained at QoS 1, so with a packet id
        assert len(P.publish_head(topic, len(payload), 1, True, False, 1)) + len(payload) < limit, topic
