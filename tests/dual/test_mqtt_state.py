"""State JSON out and commands in: validated through the configuration schema.

Runs under pytest and MicroPython.
"""
import json

from dualtest import raises
from dynevse.core.schema import ConfigError
from dynevse.mqtt import config as C
from dynevse.mqtt import discovery as D
from dynevse.mqtt import state as S

T = D.Topics(C.check_mqtt({}, "b1"))
IDS = ["cp1", "cp.2"]


def cmd(topic_tail, payload, retained=False, battery=True):
    return S.decode_command(T, "dynevse/b1/" + topic_tail, payload, retained, battery, IDS)


def refused(topic_tail, payload, retained=False, battery=True):
    return raises(ConfigError, cmd, topic_tail, payload, retained, battery)


def test_encode_is_sorted_compact_and_complete():
    js = S.encode({"mode": "eco", "net_w": -120, "warnings": ["a"], "junk": 1}, S.SITE_KEYS)
    d = json.loads(js)
    # every key is present (null when unknown, which HA shows as "unknown"); extras are left out
    assert sorted(d) == sorted(S.SITE_KEYS) and "junk" not in d
    assert d["mode"] == "eco" and d["net_w"] == -120 and d["soc_min"] is None
    assert " " not in js.replace("allow_grid_charging", "")
    where = [(js.index('"%s":' % k), k) for k in S.SITE_KEYS]
    where.sort()
    assert [k for _, k in where] == sorted(S.SITE_KEYS)
    # equal states give equal bytes, whatever the dict's insertion order
    a = {"status": "ok", "mode": "eco"}
    b = {"mode": "eco", "status": "ok"}
    assert S.encode(a, S.SITE_KEYS) == S.encode(b, S.SITE_KEYS)


def test_encode_bounds_text_and_lists():
    d = json.loads(S.encode({"status": "x" * 500, "warnings": ["w"] * 100}, S.SITE_KEYS))
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
    assert site["available_a"] == [10.5, 11.0, 12.0] and site["soc_target"] == 80
    assert site["warnings"] == ["battery_soc_missing", "grid_stale"]
    assert site["status"] == "battery_soc_missing, grid_stale"
    a, b = chargers
    assert (a["mode"], a["mode_active"], a["status"], a["reason"]) == ("default", "eco", "Charging", "ramping up")
    assert a["allocated_a"] == 10.5 and a["max_a"] == 16
    # a charger the engine did not report on: settings known, live values unknown
    assert (b["mode"], b["allocated_a"], b["status"]) == ("solar", None, None)
    site2, ch2 = S.snapshot({"chargers": result["chargers"], "site": {"warnings": []}},
                            dict(site_cfg, battery=None), chargers_cfg[:1])
    assert site2["status"] == "ok" and "soc_min" not in site2
    assert ch2[0]["reason"] == "capacity"      # the engine's reason when regulation gives none


def test_good_commands():
    assert cmd("site/mode/set", b"solar") == ("site", "mode", "solar")
    assert cmd("site/distribution/set", b"sequential_strict") == ("site", "distribution", "sequential_strict")
    assert cmd("site/allow_grid_charging/set", b"OFF") == ("site", "allow_grid_charging", False)
    assert cmd("site/allow_grid_charging/set", b"ON") == ("site", "allow_grid_charging", True)
    assert cmd("site/power_buffer_w/set", b"250") == ("site", "power_buffer_w", 250)
    assert cmd("site/soc_min/set", b"15.5") == ("site", "soc_min", 15.5)
    assert cmd("charger/cp1/max_a/set", b"16.0") == ("cp1", "max_a", 16)
    assert cmd("charger/cp.2/priority/set", b"3") == ("cp.2", "priority", 3)
    # "default" is how HA shows "follow the site's mode"; in the configuration it is ""
    assert cmd("charger/cp1/mode/set", b"default") == ("cp1", "mode", "")
    assert cmd("charger/cp1/mode/set", b"excess") == ("cp1", "mode", "excess")
    assert cmd("charger/cp1/reset/set", b"PRESS") == ("cp1", "reset", None)


def test_bad_commands_are_refused_with_the_field_and_the_rule():
    cases = (
        ("site/mode/set", b"turbo", "site.mode", "standard"),
        ("site/mode/set", b"default", "site.mode", "eco"),       # only chargers follow a default
        ("site/distribution/set", b"", "site.distribution", "shared"),
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


def test_not_a_command_topic():
    for tail in ("site/mode", "site/mode/set/x", "charger/cp1/set", "other/mode/set"):
        e = refused(tail, b"eco")
        assert e.field == "mqtt.command", tail
