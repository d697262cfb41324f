"""Configuration validation: nonsense is refused with an error naming the field and range.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
from dualtest import raises
from dynevse.config import check as schema
from dynevse.config.schema import ConfigError


def site(**kw):
    s = {"phases": 3, "breaker_a": 25}
    s.update(kw)
    return s


def charger(**kw):
    c = {"id": "cp1"}
    c.update(kw)
    return c


def check(site_cfg, chargers):
    return schema.check_setup(site_cfg, chargers, strict=True)


def err(site_cfg, chargers):
    return raises(ConfigError, check, site_cfg, chargers)


def test_defaults_fill_in():
    s, cs, gs = check(site(), [charger()])
    assert s["voltage_v"] == 230 and s["mode"] == "standard" and s["distribution"] == "shared"
    assert s["battery"] is None and gs == []
    c = cs[0]
    # charger defaults: 6-16 A, three phases wired L1->A, L2->B, L3->C, priority 1
    assert (c["min_a"], c["max_a"], c["phases"], c["phase_map"], c["priority"]) == (6, 16, 3, "ABC", 1)


def test_negative_current_names_field_and_range():
    e = err(site(), [charger(min_a=-5)])
    assert e.field == "chargers[0].min_a"
    assert "from 0 to 80 A" in str(e) and "-5" in str(e)


def test_min_above_max():
    e = err(site(), [charger(min_a=20, max_a=16)])
    assert e.field == "chargers[0].min_a" and "max_a (16 A)" in str(e)


def test_unknown_mode():
    e = err(site(mode="turbo"), [charger()])
    assert e.field == "site.mode"
    for m in ("standard", "eco", "solar", "excess"):
        assert m in str(e)
    e = err(site(), [charger(mode="fast")])
    assert e.field == "chargers[0].mode"


def test_unknown_distribution():
    e = err(site(distribution="random"), [charger()])
    assert e.field == "site.distribution" and "sequential_strict" in str(e)


def test_phase_map_must_be_a_permutation():
    for bad in ("AAB", "ABD", "AB", "ABCA", 123):
        e = err(site(), [charger(phase_map=bad)])
        assert e.field == "chargers[0].phase_map", bad
    # every permutation is fine, lower case too
    for good in ("ABC", "ACB", "BAC", "BCA", "CAB", "cba"):
        cs = check(site(), [charger(phase_map=good)])[1]
        assert cs[0]["phase_map"] == good.upper()
    # a single-phase charger names one phase
    assert check(site(), [charger(phases=1, phase_map="C")])[1][0]["phase_map"] == "C"
    e = err(site(), [charger(phases=1, phase_map="AB")])
    assert e.field == "chargers[0].phase_map"


def test_three_phase_charger_on_single_phase_site():
    e = err(site(phases=1), [charger(phases=3)])
    assert e.field == "chargers[0].phases"
    e = err(site(phases=1), [charger(phases=1, phase_map="B")])
    assert e.field == "chargers[0].phase_map"


def test_breaker_smaller_than_charger_min():
    e = err(site(breaker_a=10), [charger(min_a=12, max_a=16)])
    assert e.field == "chargers[0].min_a" and "10" in str(e)
    # the margin counts: 16 A breaker - 4 A margin leaves 12 A, below a 13 A minimum
    e = err(site(breaker_a=16, breaker_margin_a=4), [charger(min_a=13)])
    assert e.field == "chargers[0].min_a"


def test_bool_is_not_a_number_and_number_is_not_a_bool():
    e = err(site(breaker_a=True), [charger()])
    assert e.field == "site.breaker_a"
    e = err(site(allow_grid_charging=1), [charger()])
    assert e.field == "site.allow_grid_charging"


def test_nan_and_infinity_refused():
    e = err(site(voltage_v=float("nan")), [charger()])
    assert e.field == "site.voltage_v"
    e = err(site(), [charger(max_a=float("inf"))])
    assert e.field == "chargers[0].max_a"


def test_phases_other_than_one_or_three():
    e = err(site(phases=2), [charger()])
    assert e.field == "site.phases"


def test_battery_thresholds():
    e = err(site(battery={"soc_min": 90, "soc_target": 80}), [charger()])
    assert e.field == "site.battery.soc_min"
    e = err(site(battery={"soc_target": 120}), [charger()])
    assert e.field == "site.battery.soc_target" and "0 to 100 %" in str(e)
    s = check(site(battery={}), [charger()])[0]
    assert s["battery"]["soc_min"] == 20 and s["battery"]["soc_target"] == 80


def test_duplicate_and_bad_ids():
    e = err(site(), [charger(), charger()])
    assert e.field == "chargers[1].id"
    e = err(site(), [charger(id="has space")])
    assert e.field == "chargers[0].id"
    e = err(site(), [{"min_a": 6}])
    assert e.field == "chargers[0].id" and "required" in str(e)


def test_groups():
    s = site(groups=[{"id": "garage", "limit_a": 20, "chargers": ["cp1", "nope"]}])
    e = err(s, [charger()])
    assert e.field == "site.groups[0].chargers" and "nope" in str(e)
    s = site(groups=[{"id": "garage", "limit_a": 5, "chargers": ["cp1"]}])
    e = err(s, [charger()])
    assert e.field == "site.groups[0].limit_a"
    s = site(groups=[{"id": "garage", "chargers": ["cp1"]}])
    e = err(s, [charger()])
    assert e.field == "site.groups[0].limit_a" and "required" in str(e)


def test_unknown_key_is_a_typo_in_strict_mode():
    e = err(site(breaker=25), [charger()])
    assert e.field == "site.breaker"
    e = err(site(), [charger(maxa=10)])
    assert e.field == "chargers[0].maxa"
    # without strict, runtime readings may travel in the same dicts
    schema.check_setup(site(grid_a=[1, 2, 3]), [charger(status="Charging")])


def test_not_a_mapping():
    e = err("site", [charger()])
    assert e.field == "site"
    e = err(site(), "cp1")
    assert e.field == "chargers"
