"""MQTT settings: defaults in one table, and every bad value refused with its field path.

Runs under pytest and MicroPython.
"""
from dualtest import raises
from dynevse.config.schema import ConfigError
from dynevse.config import check as C


def err(data, device_id="board1"):
    return raises(ConfigError, C.check_mqtt, data, device_id)


def test_defaults_and_derived_names():
    c = C.check_mqtt({}, "board1")
    # MQTT off until a host is set; the standard port; HA's default discovery prefix
    assert c["host"] == "" and c["port"] == 1883 and c["discovery_prefix"] == "homeassistant"
    assert c["client_id"] == "dynevse-board1" and c["base_topic"] == "dynevse/board1"
    assert c["keepalive_s"] == 60 and c["discovery"] is True and c["inputs"] == {}
    assert C.check_mqtt(None, "b")["base_topic"] == "dynevse/b"


def test_every_field_has_a_default_in_the_table():
    from dynevse.config import fields, schema
    d = schema.defaults(fields.MQTT_FIELDS)
    for f in fields.MQTT_FIELDS:
        assert len(f) == 6
        assert f[0] in d, f


def test_given_values_are_kept():
    c = C.check_mqtt({"host": "broker.lan", "port": 8883, "username": "u", "password": "p",
                      "base_topic": "home/panel", "client_id": "me"}, "b")
    assert (c["host"], c["port"], c["username"], c["password"]) == ("broker.lan", 8883, "u", "p")
    assert c["base_topic"] == "home/panel" and c["client_id"] == "me"


def test_bad_values_name_the_field():
    cases = (
        ({"port": 0}, "mqtt.port"),
        ({"port": 70000}, "mqtt.port"),
        ({"port": "1883"}, "mqtt.port"),          # text is not a number
        ({"port": True}, "mqtt.port"),            # nor is a bool
        ({"keepalive_s": 1}, "mqtt.keepalive_s"),  # too short to tell a dead broker
        ({"host": "bad host"}, "mqtt.host"),
        ({"base_topic": "dynevse/#"}, "mqtt.base_topic"),
        ({"base_topic": "a//b"}, "mqtt.base_topic"),
        ({"base_topic": "x" * 129}, "mqtt.base_topic"),
        ({"discovery_prefix": ""}, "mqtt.discovery_prefix"),
        ({"discovery_prefix": "home+assistant"}, "mqtt.discovery_prefix"),
        ({"max_packet": 100}, "mqtt.max_packet"),
        ({"password": "p"}, "mqtt.password"),     # MQTT 3.1.1 sends a password only with a user
        ({"backoff_min_s": 10, "backoff_max_s": 5}, "mqtt.backoff_min_s"),
        ({"hots": "x"}, "mqtt.hots"),             # a typo is an unknown setting
    )
    for data, field in cases:
        e = err(data)
        assert e.field == field, (data, e.field, str(e))


def test_bad_device_id():
    e = err({}, "board 1")
    assert e.field == "device.id"


def test_input_defaults():
    c = C.check_mqtt({"inputs": {"grid_l1": {"topic": "m/a"}, "solar": {"topic": "pv/p"},
                                 "battery_soc": {"topic": "bat/soc"}}}, "b")
    i = c["inputs"]
    # the first unit of each quantity is its default: A for grid phases, W for power, % for SOC
    assert i["grid_l1"] == {"topic": "m/a", "field": "", "unit": "A", "invert": False}
    assert i["solar"]["unit"] == "W" and i["battery_soc"]["unit"] == "%"


def test_bad_inputs():
    cases = (
        ({"grid_l4": {"topic": "x"}}, "mqtt.inputs.grid_l4"),
        ({"solar": {"topic": "x", "unit": "A"}}, "mqtt.inputs.solar.unit"),     # solar is power only
        ({"battery_soc": {"topic": "x", "unit": "W"}}, "mqtt.inputs.battery_soc.unit"),
        ({"solar": {"field": "a"}}, "mqtt.inputs.solar.topic"),
        ({"solar": {"topic": ""}}, "mqtt.inputs.solar.topic"),
        ({"solar": {"topic": "pv/+"}}, "mqtt.inputs.solar.topic"),            # one exact topic
        ({"solar": {"topic": "pv", "field": "a..b"}}, "mqtt.inputs.solar.field"),
        ({"solar": {"topic": "pv", "field": ".".join(["a"] * 9)}}, "mqtt.inputs.solar.field"),
        ({"solar": {"topic": "pv", "invert": "yes"}}, "mqtt.inputs.solar.invert"),
        ({"solar": {"topic": "pv", "scale": 2}}, "mqtt.inputs.solar.scale"),
        ({"solar": "pv"}, "mqtt.inputs.solar"),
    )
    for inputs, field in cases:
        e = err({"inputs": inputs})
        assert e.field == field, (inputs, e.field, str(e))
    e = err({"inputs": ["solar"]})
    assert e.field == "mqtt.inputs"


def test_quantities_feed_the_engine_names():
    # the engine's site readings: grid_a/grid_w per phase, grid_total_w, solar_w,
    # battery_soc, battery_w, voltage
    names = {}
    for name, units, reading, phase in C.quantities():
        names[name] = (reading, phase)
    assert names["grid_l3"] == ("grid", 2) and names["solar"] == ("solar_w", -1)
    assert names["battery_power"] == ("battery_w", -1) and names["grid_total"] == ("grid_total_w", -1)
    # the inverter's AC output, total and per phase (issue 14: the inverter model, off-grid)
    assert names["inverter"] == ("inverter_w", -1) and names["inverter_l2"] == ("inverter_phase_w", 1)
    assert sorted(names) == sorted(["grid_l1", "grid_l2", "grid_l3", "grid_total", "solar",
                                    "battery_soc", "battery_power", "voltage",
                                    "inverter", "inverter_l1", "inverter_l2", "inverter_l3"])
