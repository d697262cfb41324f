"""Engine vectors: one instant, open loop. Each expected value is reasoned in a comment.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py); both must give
the same answers.
"""
from dualtest import close, raises
from dynevse.core.engine import above, allocate, milli
from dynevse.config.schema import ConfigError


def site(**kw):
    s = {"phases": 3, "voltage_v": 230, "breaker_a": 25}
    s.update(kw)
    return s


def cp(cid="cp1", **kw):
    c = {"id": cid, "status": "Charging"}
    c.update(kw)
    return c


def alloc(s, chargers, state=None):
    return [c["allocated_a"] for c in allocate(s, chargers, state)["chargers"]]


def test_milli_rounds_half_up_on_both_runtimes():
    assert milli(12.3) == 12300
    assert milli(-0.0005) == 0          # -0.5 mA rounds up to 0
    assert milli(0.0015) == 2
    assert milli(-12.6) == -12600
    assert milli(True) is None and milli("5") is None and milli(None) is None
    assert milli(float("nan")) is None and milli(float("inf")) is None


def test_chargers_own_draw_is_removed_from_the_grid():
    # Grid 20 A per phase includes the car's 12 A: the house draws 8 A, room 25-8 = 17 A,
    # capped by the charger's 16 A max.
    r = alloc(site(grid_a=[20, 20, 20]), [cp(draw_a=[12, 12, 12])])
    assert r == [16.0]
    # Without the car's draw the same grid would leave 25-20 = 5 A: below the 6 A minimum.
    assert alloc(site(grid_a=[20, 20, 20]), [cp(draw_a=[0, 0, 0])]) == [0.0]


def test_grid_in_watts_per_phase():
    # 2300 W per phase at 230 V = 10 A; room 15 A.
    assert alloc(site(grid_w=[2300, 2300, 2300]), [cp()]) == [15.0]
    # Measured voltage 240 V: 2400 W = 10 A.
    assert alloc(site(grid_w=[2400, 2400, 2400], voltage=240), [cp()]) == [15.0]


def test_single_phase_site_has_one_phase():
    s = {"phases": 1, "breaker_a": 32, "grid_a": [20]}
    # room 32-20 = 12 A for a 1-phase charger
    assert alloc(s, [cp(phases=1)]) == [12.0]


def test_phase_mapping_rotates_the_load():
    # Household A 18, B 4, C 4: room 7 / 21 / 21. A 1-phase charger on L1->B gets 16 (its max);
    # on L1->A it gets 7.
    s = site(grid_a=[18, 4, 4])
    assert alloc(s, [cp(phases=1, phase_map="B")]) == [16.0]
    assert alloc(s, [cp(phases=1, phase_map="A")]) == [7.0]
    # 3-phase charger: every phase counts whatever the rotation: min room = 7.
    assert alloc(s, [cp(phase_map="BCA")]) == [7.0]


def test_car_on_fewer_phases_than_its_charger():
    # 3-phase charger, car draws 10 A on L1 only; charger rotated CAB so L1 is on C.
    # Grid: A 18, B 4, C 4+10 = 14. House: 18/4/4. Only C counts: room 21 -> max 16.
    r = allocate(site(grid_a=[18, 4, 14]), [cp(phase_map="CAB", draw_a=[10, 0, 0])])
    c = r["chargers"][0]
    assert c["phases_in_use"] == 1 and c["allocated_a"] == 16.0
    # Before the car draws, all three phases count: room min(7, 21, 21) = 7.
    assert alloc(site(grid_a=[18, 4, 4]), [cp(phase_map="CAB", draw_a=[0, 0, 0])]) == [7.0]


def test_missing_optional_data_never_raises():
    # No readings at all: static limits (25 A, house assumed 0) -> the charger max 16.
    r = allocate(site(), [cp()])
    assert r["chargers"][0]["allocated_a"] == 16.0
    assert "no_grid_data" in r["site"]["warnings"] and "no_power_data" in r["site"]["warnings"]
    # Garbage readings are unknown, not errors.
    r = allocate(site(grid_a=["x", None, True], solar_w="lots", battery_soc=None), [cp(draw_a="?")])
    assert "grid_phase_missing" not in r["site"]["warnings"]   # none known at all
    assert "no_grid_data" in r["site"]["warnings"]
    # A battery configured but no SOC: no battery rules, said so.
    r = allocate(site(mode="eco", battery={}, grid_a=[0, 0, 0]), [cp()])
    assert "battery_soc_missing" in r["site"]["warnings"]
    # One phase missing on a 3-phase site: said so; that phase is on static limits.
    r = allocate(site(grid_a=[10, None, 10]), [cp()])
    assert "grid_phase_missing" in r["site"]["warnings"] and r["chargers"][0]["allocated_a"] == 15.0


def test_no_grid_data_modes():
    # Without power data only Standard can use static limits; Solar and Excess get 0,
    # Eco gets its minimum.
    for mode, want in (("standard", 16.0), ("eco", 6.0), ("solar", 0.0), ("excess", 0.0)):
        assert alloc(site(mode=mode), [cp()]) == [want], mode


def test_inactive_chargers_get_nothing_but_see_available():
    # Room 15 A per phase. cp1 charges (Shared), cp2 is idle: cp1 takes 15.
    # cp2's available: both would share 15 -> 7.5 each.
    r = allocate(site(grid_a=[10, 10, 10]), [cp("cp1"), cp("cp2", status="Available")])
    a, b = r["chargers"]
    assert (a["allocated_a"], a["active"]) == (15.0, True)
    assert (b["allocated_a"], b["active"], b["available_a"], b["limited_by"]) == (0.0, False, 7.5, "inactive")


def test_suspended_ev_counts_only_while_drawing():
    s = site(grid_a=[10, 10, 10])
    assert alloc(s, [cp(status="SuspendedEV", draw_a=[0, 0, 0])]) == [0.0]
    # drawing 2 A: active; the house is 10-2 = 8 A, room 17 -> 16 max
    assert alloc(site(grid_a=[10, 10, 10]), [cp(status="SuspendedEV", draw_a=[2, 2, 2])]) == [16.0]
    # an explicit flag overrides the status rule (the regulator uses it)
    assert alloc(s, [cp(status="Charging", active=False)]) == [0.0]


def test_zero_or_at_least_min():
    # Room 25-20 = 5 A < 6 A minimum -> 0.
    assert alloc(site(grid_a=[20, 20, 20]), [cp()]) == [0.0]
    # Over the breaker already (house 27 A): 0, and said so.
    r = allocate(site(grid_a=[27, 10, 10]), [cp()])
    assert r["chargers"][0]["allocated_a"] == 0.0 and "over_breaker" in r["site"]["warnings"]


def test_floor_to_tenth_amp():
    # House 10.07 A -> room 14.93 A -> floored 14.9 (not rounded to 14.9 by chance:
    # 14.99 must also give 14.9).
    assert alloc(site(grid_a=[10.07, 0, 0]), [cp()]) == [14.9]
    assert alloc(site(grid_a=[10.01, 0, 0]), [cp()]) == [14.9]


def test_breaker_margin():
    # breaker 25, margin 2 -> 23 usable; house 10 -> 13.
    assert alloc(site(grid_a=[10, 10, 10], breaker_margin_a=2), [cp()]) == [13.0]


def test_import_limit_and_buffer():
    # House 2 A per phase = 1380 W. Limit 8000 W, buffer 500 W: 8000-500-1380 = 6120 W
    # for a 3-phase car: 6120/690 = 8.869 -> 8.8 A.
    assert alloc(site(grid_a=[2, 2, 2], max_import_w=8000, power_buffer_w=500), [cp()]) == [8.8]
    # Exporting 1380 W instead: 8000-500+1380 = 8880 W -> 12.869 -> 12.8 A.
    assert alloc(site(grid_a=[-2, -2, -2], max_import_w=8000, power_buffer_w=500), [cp()]) == [12.8]


def test_solar_mode_uses_export_only():
    # Export 10 A per phase = 6900 W -> 3-phase 10 A; 1-phase 6900/230 = 30 -> max 16.
    s = site(mode="solar", grid_a=[-10, -10, -10])
    assert alloc(s, [cp()]) == [10.0]
    assert alloc(s, [cp(phases=1)]) == [16.0]
    # Export 1000 W: 1.45 A < 6 -> 0.
    assert alloc(site(mode="solar", grid_total_w=-1000), [cp()]) == [0.0]


def test_solar_reading_caps_the_surplus():
    # The grid shows 3000 W export but solar is 0: it's the battery discharging, not sun.
    s = site(mode="solar", grid_a=[-4.35, -4.35, -4.35], solar_w=0)
    assert alloc(s, [cp()]) == [0.0]


def test_eco_floor_and_surplus():
    s = site(mode="eco", grid_a=[-1, -1, -1])        # 690 W export -> 1 A, floor 6
    assert alloc(s, [cp()]) == [6.0]
    s = site(mode="eco", grid_a=[-9, -9, -9])        # 6210 W -> 9 A
    assert alloc(s, [cp()]) == [9.0]
    # grid charging off: no floor
    s = site(mode="eco", allow_grid_charging=False, grid_a=[-1, -1, -1])
    assert alloc(s, [cp()]) == [0.0]


def test_hysteresis_memory():
    # At/above threshold counts as above; once above it stays above until below T - h.
    assert above(False, 80, 80, 3) is True
    assert above(False, 79.9, 80, 3) is False
    assert above(True, 77, 80, 3) is True
    assert above(True, 76.9, 80, 3) is False


def test_soc_state_is_carried_between_calls():
    # No discharge (max 0) so that at target Solar has the surplus alone.
    bat = {"soc_min": 20, "soc_target": 80, "soc_hysteresis": 3, "max_charge_w": 5000, "max_discharge_w": 0}
    # Solar with battery, 6900 W surplus going into the battery (battery_w 6900, grid 0).
    s = site(mode="solar", battery=bat, grid_a=[0, 0, 0], battery_w=6900, battery_soc=79)
    r = allocate(s, [cp()])
    assert r["chargers"][0]["allocated_a"] == 0.0 and r["state"]["above_target"] is False
    s["battery_soc"] = 80                 # reaches target: surplus 6900 W -> 10 A
    r = allocate(s, [cp()], r["state"])
    assert r["chargers"][0]["allocated_a"] == 10.0
    s["battery_soc"] = 78                 # back under 80 but not under 77: still above
    r = allocate(s, [cp()], r["state"])
    assert r["chargers"][0]["allocated_a"] == 10.0
    s["battery_soc"] = 76.5               # under 77: below again
    r = allocate(s, [cp()], r["state"])
    assert r["chargers"][0]["allocated_a"] == 0.0
    # Without memory, 78 counts as below.
    s["battery_soc"] = 78
    assert alloc(s, [cp()]) == [0.0]


def test_mode_override_and_urgency():
    # Site Solar, cp2 overridden to Standard with priority 9 still goes first (urgency).
    # Room 15 A per phase (house 10), no export: the Solar charger cp1 gets 0; cp2 15.
    s = site(mode="solar", distribution="priority", grid_a=[10, 10, 10])
    r = allocate(s, [cp("cp1", priority=1), cp("cp2", priority=9, mode="standard")])
    a, b = r["chargers"]
    assert (a["mode"], a["allocated_a"], a["limited_by"]) == ("solar", 0.0, "mode")
    assert (b["mode"], b["allocated_a"]) == ("standard", 15.0)


def test_target_is_what_the_mode_allows_alone():
    # Two Standard chargers share 15 A room: 7.5 each; alone each could take 15.
    r = allocate(site(grid_a=[10, 10, 10]), [cp("a"), cp("b")])
    assert [c["target_a"] for c in r["chargers"]] == [15.0, 15.0]
    assert [c["allocated_a"] for c in r["chargers"]] == [7.5, 7.5]


def test_bad_configuration_raises_config_error():
    e = raises(ConfigError, allocate, site(), [cp(min_a=-1)])
    assert e.field == "chargers[0].min_a"
    e = raises(ConfigError, allocate, site(mode="nope"), [cp()])
    assert e.field == "site.mode"


def test_results_are_plain_data():
    r = allocate(site(grid_a=[1, 2, 3]), [cp()])
    assert sorted(r) == ["chargers", "site", "state"]
    assert close(r["site"]["net_a"][2], 3.0)
    assert r["site"]["headroom_a"] == [24.0, 23.0, 22.0]


def test_prevalidated_settings_give_the_same_answer():
    # The board validates once and passes the result every cycle.
    from dynevse.config import check as schema
    s = site(grid_a=[10, 12, 9], mode="eco", distribution="priority")
    chs = [cp("a", priority=2), cp("b", max_a=10)]
    settings = schema.check_setup(s, chs)
    assert allocate(s, chs, None, settings) == allocate(s, chs)
    # the settings passed in are not changed by a cycle
    assert "_mode" not in settings[1][0] and "draw_a" not in settings[1][0]


BAT = {"soc_min": 20, "soc_target": 80, "soc_hysteresis": 3, "max_charge_w": 5000, "max_discharge_w": 5000}


def test_import_limit_same_answer_idle_or_charging():
    # Issue 14 point 3: max_import 3450 W, house 2 A per phase (1380 W), no sun, car min 8 A.
    # Idle: the battery covers the house, the grid shows 0. Charging at 8 A (5520 W): the battery
    # gives its 5000 W, the grid shows 1380 + 5520 - 5000 = 1900 W = 2.754 A per phase.
    idle = dict(grid_a=[0, 0, 0], battery_w=-1380)
    running = dict(grid_a=[1900 / 690] * 3, battery_w=-5000)
    for mode, soc, want in (("standard", 50, 10.2), ("eco", 85, 8.0), ("standard", 15, 0.0)):
        # Standard above min / Eco at target count the discharge: room 3450 - 1380 + 5000 = 7070 W
        # -> 10.2 A (Eco: its floor 8 A, its pool 3620 W is below that). Standard below min: the
        # battery is no source, room 3450 W < 5520 W -> 0 A, even while it feeds the running car.
        got = []
        for live, draw in ((idle, [0, 0, 0]), (running, [8, 8, 8])):
            s = site(max_import_w=3450, mode=mode, battery=BAT, battery_soc=soc, **live)
            got.append(alloc(s, [cp(min_a=8, draw_a=draw)])[0])
        assert got == [want, want], (mode, soc, got)


def test_off_grid_says_so_and_uses_the_inverter_limits():
    # No grid readings: no "no_grid_data", but "off_grid". Inverter 3680 W per phase (16 A), its
    # output per phase 1380/460/460 W: room 10/14/14 A; sources: SOC 60, no sun, battery covering
    # the house (b = -2300): discharge room 5000 - 2300 = 2700 W -> 3.9 A < 6 -> 0 A.
    s = site(off_grid=True, inverter_max_phase_w=3680, battery=BAT, battery_soc=60, battery_w=-2300,
             inverter_phase_w=[1380, 460, 460])
    r = allocate(s, [cp()])
    w = r["site"]["warnings"]
    assert "off_grid" in w and "no_grid_data" not in w and r["site"]["off_grid"] is True
    assert r["site"]["headroom_a"] == [10.0, 14.0, 14.0] and r["chargers"][0]["allocated_a"] == 0.0
    # With 8000 W of discharge: 5700 W -> 8.2 A, under phase A's 10 A.
    b8 = dict(BAT, max_discharge_w=8000)
    assert alloc(dict(s, battery=b8), [cp()]) == [8.2]
    # No inverter reading at all: the load is unknown, said so; a grid reading is ignored.
    r = allocate(site(off_grid=True, grid_a=[30, 30, 30], battery=b8, battery_soc=60, battery_w=0), [cp()])
    assert "no_load_data" in r["site"]["warnings"] and r["site"]["headroom_a"] == [25.0, 25.0, 25.0]


def test_solar_from_the_inverter_output():
    # Series (hybrid): solar = inverter output + battery charging: 1000 + 3000 = 4000 W.
    # Parallel (AC-coupled): the PV inverter's output is the solar: 1000 W.
    for coupling, want in (("series", 4000), ("parallel", 1000)):
        s = site(battery=dict(BAT, coupling=coupling), battery_soc=50, battery_w=3000,
                 inverter_w=1000, grid_a=[0, 0, 0])
        assert allocate(s, [cp()])["site"]["solar_w"] == want, coupling


def test_asymmetric_inverter_needs_its_phase_output_for_the_phase_limit():
    # Per-phase meter, asymmetric inverter with a 4000 W max per phase, export 2640 W per phase,
    # a 1-phase Solar car on A. With its output per phase (3100 W each): A has 4000 - 3100 + 2640 =
    # 3540 W -> 15.3 A. Without it only the total (7920 W) is known: 16 A max.
    s = site(mode="solar", meter_netting="per_phase", inverter_output="asymmetric",
             inverter_max_phase_w=4000, grid_a=[-2640 / 230] * 3)
    assert alloc(dict(s, inverter_phase_w=[3100] * 3), [cp(phases=1, phase_map="A")]) == [15.3]
    assert alloc(s, [cp(phases=1, phase_map="A")]) == [16.0]


def test_inverter_settings_checked_together():
    e = raises(ConfigError, allocate, site(inverter_max_w=5000, inverter_max_phase_w=6000), [cp()])
    assert e.field == "site.inverter_max_phase_w"
    e = raises(ConfigError, allocate, site(off_grid=True, max_import_w=3000), [cp()])
    assert e.field == "site.max_import_w"
    e = raises(ConfigError, allocate, site(meter_netting="phase"), [cp()])
    assert e.field == "site.meter_netting"
