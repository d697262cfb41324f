"""State JSON out and commands in: validated with the configuration schema's rules.

The commands (``config.schema.commands``, derived from the field tables) are checked
against the tables themselves (kinds, ranges, units, options, and the very words of a
refusal).
Runs under pytest and MicroPython.
"""
import json

from dualtest import raises
from dynevse.config import schema
from dynevse.config import site as site_tables
from dynevse.config.schema import ConfigError
from dynevse.mqtt import commands as K
from dynevse.config import check as C
from dynevse.mqtt import state as S

BASE = C.check_mqtt({}, "b1")["base_topic"]
IDS = ["cp1", "cp.2"]


def cmd(topic_tail, payload, retained=False, battery=True):
    return K.decode_command(BASE, "dynevse/b1/" + topic_tail, payload, retained, battery, IDS)


class Refusal:
    def __init__(self, r):
        assert len(r) == 3 and r[0] is None, "expected a refusal, got %r" % (r,)
        self.field = r[1]
        self.message = r[2]


def refused(topic_tail, payload, retained=False, battery=True):
    return Refusal(cmd(topic_tail, payload, retained, battery))


def keys(table):
    return table.split()[::3]


def test_state_json_is_sorted_compact_and_complete():
    for table in (S.SITE, S.CHARGER):
        assert keys(table) == sorted(keys(table)) and len(table.split()) % 3 == 0
    js, chargers = S.snapshot({"site": {"net_w": -120, "warnings": ["a"]}}, {"mode": "eco", "junk": 1},
                              [{"id": "cp1", "junk": 2}])
    for text, table in ((js, S.SITE), (chargers[0][1], S.CHARGER)):
        d = json.loads(text)
        # every key is present (null when unknown, which HA shows as "unknown"); extras are left out
        assert sorted(d) == keys(table) and "junk" not in d
        assert " " not in text.replace("Charging", "")
        where = [(text.index('"%s":' % k), k) for k in keys(table)]
        where.sort()
        assert [k for _, k in where] == keys(table)
    d = json.loads(js)
    assert d["mode"] == "eco" and d["net_w"] == -120 and d["soc_min"] is None and d["warnings"] == ["a"]
    assert chargers[0][0] == "cp1"
    # equal states give equal bytes, whatever the dicts' insertion order
    a = S.snapshot({"site": {"net_w": 1, "export_w": 2}}, {"mode": "eco", "distribution": "shared"},
                   [{"id": "cp1", "min_a": 6, "max_a": 16}])
    b = S.snapshot({"site": {"export_w": 2, "net_w": 1}}, {"distribution": "shared", "mode": "eco"},
                   [{"max_a": 16, "id": "cp1", "min_a": 6}])
    assert a == b


def test_state_bounds_text_and_lists():
    js, chargers = S.snapshot({}, {}, [], {"site": {"status": "x" * 500, "warnings": ["w"] * 100}})
    d = json.loads(js)
    assert len(d["status"]) == 100 and len(d["warnings"]) == 16


def test_snapshot_merges_result_settings_and_regulation():
    result = {
        "chargers": [{"id": "cp1", "allocated_a": 10.5, "target_a": 12.0, "available_a": 10.5,
                      "mode": "eco", "active": True, "phases_in_use": 3, "limited_by": "capacity"}],
        "site": {"headroom_a": [10.5, 11.0, 12.0], "net_w": 3000, "surplus_w": 0, "solar_w": 0,
                 "export_w": 0, "warnings": ["battery_soc_missing"]},
    }
    site_cfg = {"mode": "eco", "distribution": "shared", "allow_grid_charging": True,
                "power_buffer_w": 100, "battery": {"soc_min": 20, "soc_target": 80}}
    chargers_cfg = [{"id": "cp1", "min_a": 6, "max_a": 16, "priority": 1, "mode": ""},
                    {"id": "cp2", "min_a": 6, "max_a": 16, "priority": 2, "mode": "solar"}]
    live = {"site": {"warnings": ["grid_stale"]},
            "chargers": {"cp1": {"status": "Charging", "reason": "ramping up"}}}
    site, chargers = S.snapshot(result, site_cfg, chargers_cfg, live)
    site = json.loads(site)
    assert site["available_a"] == [10.5, 11.0, 12.0] and site["soc_target"] == 80
    assert site["warnings"] == ["battery_soc_missing", "grid_stale"]
    # the status in words (core.status), the warnings' own words kept beside it
    assert site["status"] == "Home battery SOC is missing; grid data is stale."
    assert site["problem"] is True
    assert [cid for cid, c in chargers] == ["cp1", "cp2"]
    a, b = [json.loads(c) for cid, c in chargers]
    assert (a["mode"], a["mode_active"], a["status"], a["reason"]) == ("default", "eco", "Charging", "ramping up")
    assert a["allocated_a"] == 10.5 and a["max_a"] == 16
    # a charger the engine did not report on: settings known, live values unknown
    assert (b["mode"], b["allocated_a"], b["status"]) == ("solar", None, None)
    site2, ch2 = S.snapshot({"chargers": result["chargers"], "site": {"warnings": []}},
                            dict(site_cfg, battery=None), chargers_cfg[:1])
    site2 = json.loads(site2)
    assert site2["status"] == "OK" and site2["soc_min"] is None and site2["soc_target"] is None
    assert site2["problem"] is False and site2["grid_a"] == [None, None, None]
    # an off-grid site is how it is, not a problem
    site3, _ = S.snapshot({"site": {"warnings": ["off_grid"]}}, site_cfg, [])
    assert json.loads(site3)["problem"] is False
    assert json.loads(ch2[0][1])["reason"] == "capacity"      # the engine's reason when regulation gives none


def test_good_commands():
    assert cmd("site/mode/set", b"solar") == ("site", "mode", "solar")
    assert cmd("site/distribution/set", b"sequential_strict") == ("site", "distribution", "sequential_strict")
    assert cmd("site/allow_grid_charging/set", b"OFF") == ("site", "allow_grid_charging", False)
    assert cmd("site/allow_grid_charging/set", b"ON") == ("site", "allow_grid_charging", True)
    assert cmd("site/power_buffer_w/set", b"250") == ("site", "power_buffer_w", 250)
    assert cmd("site/soc_min/set", b"15") == ("site", "soc_min", 15)
    assert cmd("charger/cp1/max_a/set", b"16.0") == ("cp1", "max_a", 16)
    # the step of a current is 0.1 A (the limits go out in tenths of an amp)
    assert cmd("charger/cp1/max_a/set", b"10.5") == ("cp1", "max_a", 10.5)
    assert cmd("charger/cp1/min_a/set", b"6.1") == ("cp1", "min_a", 6.1)
    # the words of a select, as Home Assistant sends them, and the values themselves
    assert cmd("site/distribution/set", "Sequential \u2013 optimized".encode()) == \
        ("site", "distribution", "sequential_optimized")
    assert cmd("site/mode/set", b"Eco") == ("site", "mode", "eco")
    assert cmd("charger/cp1/mode/set", b"Same as the site") == ("cp1", "mode", "")
    assert cmd("charger/cp.2/priority/set", b"3") == ("cp.2", "priority", 3)
    # "default" is how HA shows "follow the site's mode"; in the configuration it is ""
    assert cmd("charger/cp1/mode/set", b"default") == ("cp1", "mode", "")
    assert cmd("charger/cp1/mode/set", b"excess") == ("cp1", "mode", "excess")
    assert cmd("charger/cp1/reset/set", b"PRESS") == ("cp1", "reset", None)


def test_bad_commands_are_refused_with_the_field_and_the_rule():
    cases = (
        ("site/mode/set", b"turbo", "site.mode", "'Standard', 'Eco', 'Solar', 'Excess', got 'turbo'"),
        ("site/mode/set", b"default", "site.mode", "Eco"),       # only chargers follow a default
        ("site/mode/set", b"Same as the site", "site.mode", "Eco"),
        ("site/mode/set", b"ECO", "site.mode", "Eco"),           # the words as they are written
        ("site/distribution/set", b"", "site.distribution", "Shared"),
        ("site/distribution/set", b"Sequential - optimized", "site.distribution", "\u2013 optimized"),
        ("charger/cp1/max_a/set", b"10.55", "chargers[cp1].max_a", "steps of 0.1 A, got 10.55"),
        ("site/power_buffer_w/set", b"100.5", "site.power_buffer_w", "steps of 1 W"),
        ("site/soc_min/set", b"15.5", "site.battery.soc_min", "steps of 1 %"),
        ("site/allow_grid_charging/set", b"yes", "site.allow_grid_charging", "ON or OFF"),
        ("site/power_buffer_w/set", b"-1", "site.power_buffer_w", "from 0 to 100000 W"),
        ("site/soc_target/set", b"101", "site.battery.soc_target", "from 0 to 100 %"),
        ("site/soc_min/set", b"nan", "site.battery.soc_min", "number"),
        ("charger/cp1/max_a/set", b"abc", "chargers[cp1].max_a", "number"),
        ("charger/cp1/max_a/set", b"100", "chargers[cp1].max_a", "from 1 to 80 A"),
        ("charger/cp1/priority/set", b"1.5", "chargers[cp1].priority", "whole number"),
        ("charger/cp1/min_a/set", b"\xff\xfe", "chargers[cp1].min_a", "text"),
        ("charger/cp1/min_a/set", b"1" * 100, "chargers[cp1].min_a", "at most"),
        ("charger/cp1/reset/set", b"now", "chargers[cp1].reset", "PRESS"),
        ("charger/cp1/allocated_a/set", b"10", "chargers[cp1].allocated_a", "max_a"),   # read-only
        ("charger/nope/max_a/set", b"10", "chargers[nope]", "no charger"),
        ("site/breaker_a/set", b"63", "site.breaker_a", "mode"),   # not settable over MQTT
    )
    for tail, payload, field, words in cases:
        e = refused(tail, payload)
        assert e.field == field, (tail, e.field, str(e))
        assert words in e.message, (tail, e.message)


def test_battery_commands_need_a_battery():
    e = refused("site/soc_min/set", b"20", battery=False)
    assert e.field == "site.soc_min" and "soc_min" not in e.message.split("one of")[1]


def test_retained_commands_are_refused():
    # a retained command would be applied again after every reconnect, undoing later changes
    e = refused("site/mode/set", b"eco", retained=True)
    assert e.field == "site.mode" and "retain" in e.message


def schema_field(for_site, key):
    """(path, field row) of a setting in the configuration schema."""
    tables = (("site.", site_tables.SITE_FIELDS), ("site.battery.", site_tables.BATTERY_FIELDS)) \
        if for_site else (("", site_tables.CHARGER_FIELDS),)
    for prefix, fields in tables:
        for f in fields:
            if f[0] == key:
                return prefix + key, f
    raise AssertionError("%s is not in the schema" % key)


def test_command_table_is_the_schemas():
    seen = []
    for site in (True, False):
        for r in K.commands(site):
            where, key, comp = r[:3]
            seen.append((site, key))
            if comp == "button":
                # not a setting: resets the charger's charging profile, applies what the
                # detection found (a charger's phase map, the site's grid-input sign)
                assert (key, site) in (("reset", False), ("apply_phase_map", False), ("invert_grid", True))
                assert len(r) == 3
                continue
            path, f = schema_field(site, key)
            assert (where == "b") == path.startswith("site.battery."), (key, where)
            if comp == "number":
                kind = schema.NUM if r[3] == "n" else schema.INT
                assert (kind, int(r[4]), int(r[5]), r[6]) == (f[1], f[3], f[4], f[5]), (key, f)
                # the step: a whole number's 1; amps in tenths (the profiles' resolution),
                # watts and percent whole
                assert r[7] == ("1" if kind == schema.INT else {"A": "0.1", "W": "1", "%": "1"}[f[5]]), key
            elif comp == "select":
                # the field's own values, in its order (the words are derived: choice_words)
                assert r[3].split(",") == list(f[1]), (key, f)
            else:
                assert comp == "switch" and f[1] == schema.BOOL, key
    # site: 4 settings, the grid-sign button, 2 battery settings; charger: 4 and 2 buttons
    assert len(seen) == 13
    # battery settings only with a battery
    assert [r[1] for r in K.commands(True, False)] == ["mode", "distribution", "allow_grid_charging",
                                                         "power_buffer_w", "invert_grid"]


def test_choice_words():
    # derived from the value: capitalised, "_" as a dash; "" (a charger follows the site)
    assert [site_tables.choice_words(v) for v in site_tables.DISTRIBUTIONS] == \
        ["Shared", "Priority", "Sequential \u2013 optimized", "Sequential \u2013 strict"]
    assert site_tables.choice_words("") == "Same as the site"
    words = [site_tables.choice_words(v) for v in ("",) + site_tables.MODES + site_tables.DISTRIBUTIONS]
    assert len(set(words)) == len(words)


def test_number_commands_judge_like_the_schema():
    # every number setting, with values inside, at and beyond its range, fractions and junk:
    # accepted as the schema accepts them, refused with the schema's words; and a value off
    # the entity's step (1.5 W, 79.95 A) is refused naming the step
    values = ("0", "1", "-1", "1.5", "6", "10", "16.0", "79.9", "79.95", "80", "81", "100", "100000",
              "100001", "1e9", "-0", "abc", "nan", "inf", "", "0x10", " 12 ")
    for site in (True, False):
        for r in K.commands(site):
            if r[2] != "number":
                continue
            key = r[1]
            path, f = schema_field(site, key)
            tail = ("site/%s/set" if site else "charger/cp1/%s/set") % key
            for text in values:
                got = cmd(tail, text.encode())
                try:
                    v = float(text)
                except ValueError:
                    v = text.strip()
                if schema.is_number(v) and v == int(v):
                    v = int(v)
                try:
                    want = schema.check_value(path, v, f[1], f[3], f[4], f[5])
                except ConfigError as e:
                    if not site:
                        path2 = "chargers[cp1].%s" % key
                        e = ConfigError(path2, e.message)
                    r2 = Refusal(got)
                    assert (r2.field, r2.message) == (e.field, e.message), (key, text, got, str(e))
                    continue
                tenths = r[7] == "0.1"
                x = want * (10 if tenths else 1)
                if abs(x - int(x + 0.5)) > 1e-6:
                    # inside the range, off the step: "1.5" W, "79.95" A
                    r2 = Refusal(got)
                    assert r2.field == (path if site else "chargers[cp1].%s" % key), (key, text)
                    assert r2.message == "must be in steps of %s%s, got %r" % (
                        r[7], " " + r[6] if r[6] else "", want), (key, text, r2.message)
                    continue
                assert got == ("site" if site else "cp1", key, want), (key, text, got, want)
                assert type(got[2]) is type(want), (key, text)


def test_not_a_command_topic():
    for tail in ("site/mode", "site/mode/set/x", "charger/cp1/set", "other/mode/set"):
        e = refused(tail, b"eco")
        assert e.field == "mqtt.command", tail
