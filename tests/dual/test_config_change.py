"""Changing the configuration (``config.change``): a copy checked whole, stored, returned;
on any error nothing is stored and the running configuration is untouched.

Runs under pytest and on the MicroPython unix port, on a real directory (the unix HAL).
"""
import json

from dualtest import fresh_board, raises
from dynevse.config.change import change, path_of
from dynevse.config.check import check
from dynevse.config.schema import ConfigError

RAW = {
    "site": {"phases": 3, "breaker_a": 16, "battery": {"soc_min": 20, "soc_target": 80},
             "groups": [{"id": "garage", "limit_a": 10, "chargers": ["cp1", "cp2"]}]},
    "chargers": [{"id": "cp1"}, {"id": "cp2"}, {"id": "cp3", "min_a": 8}],
}


def board():
    return fresh_board("change", RAW)


def test_a_change_is_checked_stored_and_returned():
    b = board()
    cfg = check(json.loads(b.read_text(b.config_path)))
    before = json.dumps(cfg)
    new = change(b, cfg, [("site.mode", "eco"), ("chargers[2].max_a", 12)])
    assert new["site"]["mode"] == "eco" and new["chargers"][2]["max_a"] == 12
    assert json.dumps(cfg) == before             # the running configuration is not touched
    stored = json.loads(b.read_text(b.config_path))
    # config.json keeps what the user wrote, with the two values set (no defaults added)
    assert stored["site"]["mode"] == "eco" and stored["chargers"][2] == {"id": "cp3", "min_a": 8, "max_a": 12}
    assert "regulation" not in stored
    # the previous file is kept as .bak; no temporary file is left
    assert json.loads(b.read_text(b.config_path + ".bak")) == RAW
    assert b.read_text(b.config_path + ".tmp") is None


def test_every_rule_between_fields_refuses_and_stores_nothing():
    b = board()
    cfg = check(RAW)
    text = b.read_text(b.config_path)
    cases = (
        # cp1 is in the 10 A group: a 12 A minimum could never be given there
        ([("chargers[0].min_a", 12)], "site.groups[0].limit_a"),
        # min above max, max below min (cp3: min 8)
        ([("chargers[2].min_a", 17)], "chargers[2].min_a"),
        ([("chargers[2].max_a", 7)], "chargers[2].min_a"),
        # above what the breaker allows (16 A)
        ([("chargers[2].max_a", 20), ("chargers[2].min_a", 17)], "chargers[2].min_a"),
        # the battery's minimum above its target
        ([("site.battery.soc_min", 90)], "site.battery.soc_min"),
        ([("site.battery.soc_target", 10)], "site.battery.soc_min"),
        # cp3 at min 6 takes the 6 A fallback too: 3 x 6 = 18 A on a 16 A breaker
        ([("chargers[2].min_a", 6)], "regulation.fallback_a"),
        # a margin that leaves nothing, a value out of its range, no such setting
        ([("site.breaker_margin_a", 16)], "site.breaker_margin_a"),
        ([("site.power_buffer_w", -1)], "site.power_buffer_w"),
        ([("site.nonsense", 1)], "site.nonsense"),
    )
    for changes, field in cases:
        e = raises(ConfigError, change, b, cfg, changes)
        assert e.field == field, (changes, str(e))
        assert b.read_text(b.config_path) == text, changes
        assert b.read_text(b.config_path + ".bak") is None


def test_paths_of_commands():
    cfg = check(RAW)
    assert path_of(cfg, "site", "mode") == "site.mode"
    assert path_of(cfg, "site", "soc_min") == "site.battery.soc_min"
    assert path_of(cfg, "cp3", "max_a") == "chargers[2].max_a"
    e = raises(ConfigError, path_of, cfg, "cp9", "max_a")
    assert e.field == "chargers[cp9]"


def test_a_path_one_past_the_end_of_a_list_adds_an_entry():
    # how the setup wizard adds a charger: RAW has three, so chargers[3] is the fourth
    b = board()
    # (a bigger breaker with it: the fallback 6 A x 4 chargers = 24 A must fit, 16 A would not)
    new = change(b, None, [("site.breaker_a", 32), ("chargers[3].id", "cp4"), ("chargers[3].max_a", 10)])
    assert [c["id"] for c in new["chargers"]] == ["cp1", "cp2", "cp3", "cp4"]
    assert new["chargers"][3]["max_a"] == 10
    # an index further out is no entry: refused, nothing stored
    stored = b.read_text(b.config_path)
    e = raises(ConfigError, change, b, None, [("chargers[9].id", "cp10")])
    assert e.field == "chargers[9]"
    assert b.read_text(b.config_path) == stored


def test_the_battery_can_be_removed_and_site_data_inputs_set_and_dropped():
    # what the setup wizard sends: "no battery", and one MQTT input per quantity
    b = board()
    new = change(b, None, [("site.battery", False), ("mqtt.inputs.solar.topic", "inverter/pv"),
                           ("mqtt.inputs.solar.unit", "kW")])
    assert new["site"]["battery"] is None
    assert new["mqtt"]["inputs"]["solar"]["topic"] == "inverter/pv" and new["mqtt"]["inputs"]["solar"]["unit"] == "kW"
    new = change(b, None, [("mqtt.inputs.solar", None)])       # an empty topic on the form
    assert new["mqtt"]["inputs"] == {}
    stored = b.read_text(b.config_path)
    # the whole check names the field, nothing is stored: a wildcard, a unit the
    # quantity has not (a state of charge is in %), a battery switched on by a flag
    for changes, field in (([("mqtt.inputs.grid_l1.topic", "meter/#")], "mqtt.inputs.grid_l1.topic"),
                           ([("mqtt.inputs.battery_soc.topic", "bat"), ("mqtt.inputs.battery_soc.unit", "W")],
                            "mqtt.inputs.battery_soc.unit"),
                           ([("site.battery", True)], "site.battery")):
        e = raises(ConfigError, change, b, None, changes)
        assert e.field == field, (e.field, e.message)
        assert b.read_text(b.config_path) == stored
