"""The regulator's contract with the OCPP sender, and its rules over time (both runtimes).

Each test drives Regulator.step with a fake clock and inputs as the app gives them:
``delivered_a``/``delivered_s`` (what the charger accepted, when), ``control``, late meter
values with their age since arrival. Expected values come from the comments next to them.
"""
from dynevse.core.readings import implausible
from dynevse.core.regulate import Regulator
from dynevse.core.response import CarResponse

_CFG = {"meter_max_age_s": 60, "compliance_tolerance_a": 2.0}


def _site(grid, **kw):
    s = {"phases": 3, "breaker_a": 25, "mode": "standard", "distribution": "shared", "grid_a": grid}
    for k in kw:
        s[k] = kw[k]
    return s


def _ch(cid, draw, delivered=None, at=None, **kw):
    c = {"id": cid, "status": "Charging", "draw_a": draw, "meter_age_s": 0,
         "delivered_a": delivered, "delivered_s": at, "control": "ok"}
    for k in kw:
        c[k] = kw[k]
    return c


def test_rows_carry_the_contract_and_no_send_flag():
    r = Regulator({})
    out = r.step(0, _site([5, 5, 5]), [_ch("cp1", [0, 0, 0])])
    row = out["chargers"][0]
    for k in ("id", "limit_a", "phases_in_use", "reason", "clear_and_resend", "compliance_failures",
              "paused_left_s", "allocated_a", "target_a", "available_a", "mode"):
        assert k in row, k
    assert "send" not in row
    assert not hasattr(r, "send_failed")


def test_an_idle_charger_keeps_wanting_0_a():
    # No car for 1000 s: 0 A every cycle, whatever the profile's lifetime (the sender
    # refreshes it); nothing in the regulator lets a 0 A limit lapse.
    r = Regulator({})
    for t in range(0, 1000, 5):
        ch = {"id": "cp1", "status": "Available", "delivered_a": 0.0, "delivered_s": 0.5, "control": "ok"}
        assert r.step(t, _site([5, 5, 5]), [ch])["chargers"][0]["limit_a"] == 0.0


def test_implausible_readings_are_named():
    site = _site([-1e9, 5, 5])
    assert implausible(site) == ["grid_a"]
    assert implausible(_site([float("nan"), 5, 5])) == ["grid_a"]
    assert implausible(_site([float("inf"), 5, 5])) == ["grid_a"]
    # a phase without a sensor is missing, not wrong
    assert implausible(_site([None, 5, 5])) == []
    # 25 A breaker: import to 3 x 25 = 75 A and export to 1.5 x 25 = 37.5 A are possible
    assert implausible(_site([75, -37.5, 0])) == []
    assert implausible(_site([75.1, 0, 0])) == ["grid_a"]
    assert implausible(_site([0, -37.6, 0])) == ["grid_a"]
    bat = {"max_charge_w": 5000, "max_discharge_w": 4000}
    # battery beyond 2 x its larger max power, SOC outside 0..100, solar below -200 W
    assert implausible(_site([0, 0, 0], battery=bat, battery_w=10001, battery_soc=101, solar_w=-201)) == \
        ["solar_w", "battery_w", "battery_soc"]
    assert implausible(_site([0, 0, 0], battery=bat, battery_w=-10000, battery_soc=0, solar_w=-200)) == []


def _follow(r, t0, t1, grid_for, limit=0.0, mode="standard"):
    """Steps from t0 to t1 (5 s) with a car that follows at once and a fresh meter;
    ``grid_for(draw)``: the grid per phase. Returns the last row and the limit."""
    row = None
    while t0 <= t1:
        site = _site(grid_for(limit), mode=mode)
        row = r.step(t0, site, [_ch("cp1", [limit] * 3, limit, t0 - 4.5)])["chargers"][0]
        limit = row["limit_a"]
        t0 += 5
    return row, limit


def test_a_bad_grid_reading_holds_every_limit_and_is_reported_once():
    r = Regulator({})
    # room 25 - 15 = 10 A: 6 A, then +10 capped at the 10 A room
    row, lim = _follow(r, 0, 15, lambda d: [15 + d] * 3)
    assert lim == 10.0
    bad = r.step(20, _site([-1e9, -1e9, -1e9]), [_ch("cp1", [10] * 3, 10, 5)])
    row = bad["chargers"][0]
    assert (row["limit_a"], row["reason"]) == (10.0, "stale_hold")
    assert "implausible_grid_a" in bad["site"]["warnings"] and bad["site"]["refused"] == ["grid_a"]
    assert bad["site"]["grid_stale"] is True
    again = r.step(25, _site([-1e9, -1e9, -1e9]), [_ch("cp1", [10] * 3, 10, 5)])
    assert "implausible_grid_a" not in again["site"]["warnings"]      # reported once
    assert again["site"]["refused"] == ["grid_a"]
    # stale_hold_s 30 s after the refusal began (20 s): the fallback, 6 A, from 50 s
    assert r.step(45, _site([-1e9] * 3), [_ch("cp1", [10] * 3, 10, 5)])["chargers"][0]["reason"] == "stale_hold"
    fb = r.step(50, _site([-1e9] * 3), [_ch("cp1", [10] * 3, 10, 5)])["chargers"][0]
    assert (fb["limit_a"], fb["reason"]) == (6.0, "stale_fallback")


def test_break_before_make_waits_for_the_decrease_to_be_seen():
    # 25 A, house 3 A per phase. cp1 (3-phase) at 16 A, its meter value late; cp2
    # (3-phase) plugs in: Shared room 22 -> 11 + 11. cp2 at its 6 A minimum would make
    # 3 + 16 + 6 = 25: fits. Its rise to 11 must wait until cp1's decrease is seen.
    r = Regulator({})
    site = _site([19, 19, 19])
    idle = {"id": "cp2", "status": "Available", "delivered_a": 0.0, "delivered_s": 0.0}
    r.step(0, site, [_ch("cp1", [16] * 3, 16, -100), idle])
    out = r.step(5, site, [_ch("cp1", [16] * 3, 16, -100), _ch("cp2", [0] * 3, 0.0, 0.0, status="SuspendedEVSE")])
    assert [c["limit_a"] for c in out["chargers"]] == [11.0, 6.0]
    # 10 s: both accepted at 5.5 s; the grid shows nothing changed yet, the meter values
    # (late) still show 16 and 0 -> cp2 may not rise
    out = r.step(10, site, [_ch("cp1", [16] * 3, 11, 5.5), _ch("cp2", [0] * 3, 6, 5.5)])
    assert [c["limit_a"] for c in out["chargers"]] == [11.0, 6.0]
    # 20 s: the grid shows 3 + 11 + 6 = 20, the meters still the old draws -> still waiting
    site = _site([20, 20, 20])
    out = r.step(20, site, [_ch("cp1", [16] * 3, 11, 5.5), _ch("cp2", [0] * 3, 6, 5.5)])
    assert [c["limit_a"] for c in out["chargers"]] == [11.0, 6.0]
    # 25 s: meter values arrive showing 11 and 6: both seen -> cp2 +5 to its 11 A share
    out = r.step(25, site, [_ch("cp1", [11] * 3, 11, 5.5), _ch("cp2", [6] * 3, 6, 5.5)])
    assert [c["limit_a"] for c in out["chargers"]] == [11.0, 11.0]


def test_a_reduction_not_yet_delivered_makes_no_room():
    # As above, but the sender has not got cp1's 11 A accepted yet: cp1 may still draw
    # 16 A for as long as that lasts, so cp2 stays at 6 (3 + 16 + 6 = 25).
    r = Regulator({})
    site = _site([19, 19, 19])
    r.step(0, site, [_ch("cp1", [16] * 3, 16, -100), _ch("cp2", [0] * 3, 0.0, -100, status="SuspendedEVSE")])
    for t in (5, 10, 15, 20, 60):
        out = r.step(t, _site([25] * 3), [_ch("cp1", [16] * 3, 16, -100), _ch("cp2", [6] * 3, 6, 1)])
        assert out["chargers"][1]["limit_a"] == 6.0, t
        assert out["chargers"][1]["reason"] == "waiting_for_room"


def test_a_car_response_is_learnt_and_forgotten():
    c = CarResponse(30)
    # settled at 16 A, then 10 A accepted at t=100; meter values arrive every 10 s
    c.update(90, {"delivered_a": 16, "delivered_s": 50, "draw_a": [16, 16, 16], "meter_age_s": 0}, _CFG, None)
    assert not c.in_transition() and c.bounds() == (16000, 16000)
    c.update(100, {"delivered_a": 10, "delivered_s": 100, "draw_a": [16, 16, 16], "meter_age_s": 0}, _CFG, None)
    # the car may draw 10..16 A now, and is committed to 16 until the decrease is seen
    assert c.in_transition() and c.bounds() == (10000, 16000) and c.committed(16000) == 16000
    c.update(110, {"delivered_a": 10, "delivered_s": 100, "draw_a": [16, 16, 16], "meter_age_s": 0}, _CFG, None)
    assert c.in_transition()
    # the first meter value showing 10 A arrives 20 s after the delivery: learnt from the
    # 30 s default: 30 - (30 - 20) / 4 = 27.5 s
    c.update(120, {"delivered_a": 10, "delivered_s": 100, "draw_a": [10, 10, 10], "meter_age_s": 0}, _CFG, None)
    assert not c.in_transition() and c.bounds() == (10000, 10000) and c.committed(16000) == 10000
    assert abs(c.response_s - 27.5) < 1e-6
    # a slower answer (40 s) raises it at once
    c.update(200, {"delivered_a": 16, "delivered_s": 200, "draw_a": [10, 10, 10], "meter_age_s": 0}, _CFG, None)
    c.update(240, {"delivered_a": 16, "delivered_s": 200, "draw_a": [16, 16, 16], "meter_age_s": 0}, _CFG, None)
    assert abs(c.response_s - 40) < 1e-6
    c.forget()
    assert c.response_s == 30 and c.deliv is None and c.phases is None


def test_a_late_reading_after_a_decrease_makes_the_response_longer():
    c = CarResponse(10)
    c.update(0, {"delivered_a": 16, "delivered_s": -60, "draw_a": [16], "meter_age_s": 0}, _CFG, None)
    c.update(5, {"delivered_a": 6, "delivered_s": 5, "draw_a": [16], "meter_age_s": 0}, _CFG, None)
    # at 5 + 10 x 5/4 = 17.5 s the reading should show it; at 20 s it still shows 16 A
    # (within its old limit): slower, not disobedient -> response (20 - 5) x 4/5 + 1 = 13 s
    c.update(20, {"delivered_a": 6, "delivered_s": 5, "draw_a": [16], "meter_age_s": 0}, _CFG, None)
    assert c.in_transition() and abs(c.response_s - 13) < 1e-6
    # bounded: never beyond 60 s, whatever it sees
    for t in range(30, 400, 10):
        c.update(t, {"delivered_a": 6, "delivered_s": 5, "draw_a": [16], "meter_age_s": 0}, _CFG, None)
    assert c.response_s <= 60 and not c.in_transition()
    # once believed, 16 A against 6 A in force is a compliance strike
    assert c.strike({"compliance_tolerance_a": 2.0}, None)


def test_a_refusing_charger_is_a_fixed_load():
    # 32 A breaker, house 5 A. cp2 rejected every profile and draws 16 A: the others
    # share 32 - 5 - 16 = 11 A; its row says uncontrolled.
    r = Regulator({})
    site = _site([26, 26, 26], breaker_a=32)     # 5 + 16 (cp2) + 5 (cp1 at 5? no: 0) ...
    site["grid_a"] = [21, 21, 21]                # 5 house + 16 cp2, cp1 not yet drawing
    ref = _ch("cp2", [16, 16, 16], None, None, control="refused")
    out = r.step(0, site, [_ch("cp1", [0, 0, 0], 0.0, -10, status="SuspendedEVSE"), ref])
    assert out["chargers"][1]["reason"] == "uncontrolled" and out["chargers"][1]["limit_a"] == 0.0
    assert out["chargers"][0]["allocated_a"] == 11.0
    # without meter values it counts at its max (16 A) on top of what the grid shows
    ref = {"id": "cp2", "status": "Charging", "control": "refused"}
    out = r.step(5, site, [_ch("cp1", [0, 0, 0], 6, 0.5, status="SuspendedEVSE"), ref])
    assert out["chargers"][0]["allocated_a"] == 0.0      # 32 - 21 - 16 = -5: nothing left


def test_grace_rides_only_on_its_budget():
    # Solar, one 3-phase car, house 2 A/phase (1380 W). Sun 8000 W: 9.5 A (6555 W).
    # grace_import_pct 1: ~95 s at 6555 W earn 1 % x 623 kJ = 6.2 kJ. A deep cloud
    # (solar 0, import = house 1380 + car) spends 6555 x 5 s = 32.8 kJ in its first cycle:
    # the ride may start (budget > 0) but ends the next cycle -> stop, pause.
    r = Regulator({})
    sun = {"phases": 3, "breaker_a": 25, "mode": "solar", "solar_w": 8000}
    t = 0
    draw = 0.0
    deliv = None
    while t <= 100:
        g = 2 + draw - 8000 / 690
        sun["grid_a"] = [g, g, g]
        row = r.step(t, sun, [_ch("cp1", [draw] * 3, deliv, t - 5 if deliv else None)])["chargers"][0]
        deliv = draw = row["limit_a"]
        t += 5
    assert draw == 9.5
    dark = {"phases": 3, "breaker_a": 25, "mode": "solar", "solar_w": 0, "grid_a": [2 + 9.5] * 3}
    row = r.step(105, dark, [_ch("cp1", [9.5] * 3, 9.5, 10)])["chargers"][0]
    assert (row["reason"], row["limit_a"]) == ("grace", 6.0)
    dark["grid_a"] = [8, 8, 8]
    row = r.step(110, dark, [_ch("cp1", [6] * 3, 6, 105.5)])["chargers"][0]
    assert (row["reason"], row["limit_a"]) == ("paused", 0.0)


def test_compliance_is_judged_against_what_was_accepted():
    # The charger still has 16 A in force (the 10 A not accepted yet): its car at 16 A
    # follows its limit, no strike, however long the sender takes.
    r = Regulator({"compliance_cycles": 2})
    site = _site([21, 21, 21])
    for t in range(0, 60, 5):
        row = r.step(t, site, [_ch("cp1", [16] * 3, 16, -100), _ch("cp2", [0] * 3, 0, -100, status="SuspendedEVSE")])
        assert not row["chargers"][0]["clear_and_resend"]
    # a car at 16 A against an accepted 6 A, for compliance_cycles 2: cleared and sent
    # again, counted, and from then on a fixed load ("uncontrolled")
    r = Regulator({"compliance_cycles": 2})
    seen = []
    for t in range(0, 30, 5):
        row = r.step(t, _site([21, 21, 21]), [_ch("cp1", [16] * 3, 6, -100)])["chargers"][0]
        seen.append((row["clear_and_resend"], row["reason"]))
    assert seen[1] == (True, "ok") and seen[2][1] == "uncontrolled"
    assert row["compliance_failures"] == 3


def test_a_rise_seen_on_the_car_meter_waits_for_a_grid_reading_after_it():
    # 25 A, no margin, house 3 A per phase; one 3-phase charger (max 32 A) settled at
    # 10 A: the grid shows 13. 16 A is accepted at 100 s. At 110 s the car's meter value
    # (just arrived) shows 16 A, but the grid reading arrived a second earlier and still
    # shows 13 A: taken together the house would look like 13 - 16 = -3 A and the room
    # like 25 + 3 = 28 A, 6 A more than there is (25 - 3 = 22). The rise waits for a grid
    # reading that arrived after that meter value; that one shows 19 A: room 22 A, and
    # the limit never goes above 22.
    r = Regulator({})
    cp = lambda t, draw, d, at: _ch("cp1", [draw] * 3, d, at, max_a=32)  # noqa: E731
    r.step(90, _site([13] * 3), [cp(90, 10, 10, 0)])
    r.step(100, _site([13] * 3), [cp(100, 10, 16, 100)])
    out = r.step(110, _site([13] * 3), [cp(110, 16, 16, 100)], {"grid_a": 1.0})
    assert out["chargers"][0]["limit_a"] <= 16.0, out["chargers"][0]
    for t in (111, 121, 131):
        out = r.step(t, _site([3 + out["chargers"][0]["limit_a"]] * 3), [cp(t, out["chargers"][0]["limit_a"], out["chargers"][0]["limit_a"], t - 1)], {"grid_a": 0.0})
        assert out["chargers"][0]["limit_a"] <= 22.0, (t, out["chargers"][0])
    assert out["chargers"][0]["limit_a"] == 22.0
