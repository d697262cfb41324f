"""Regulator rows in words (both runtimes)."""
from dynevse.core import status


def test_status_texts():
    assert status.text({"reason": "paused", "limit_a": 0.0, "paused_left_s": 42}) == \
        "paused for lack of power, 42 s left"
    assert status.text({"reason": "ok", "limit_a": 10.0}) == "charging at 10.0 A"
    assert status.text({"reason": "over_limit_cut", "limit_a": 6.0}) == "cut to 6.0 A: a phase was over its limit"
    assert status.text({"reason": "inactive", "limit_a": 0.0}) == "no car charging"


def test_paused_rows_say_how_long():
    from dynevse.core.regulate import Regulator
    r = Regulator({"pause_s": 100, "grace_s": 0})
    site = {"phases": 3, "breaker_a": 25, "mode": "solar", "grid_a": [-10, -10, -10]}
    ch = [{"id": "cp1", "status": "Charging", "draw_a": [0, 0, 0]}]
    # sun: 6900 W export -> 10 A; the car starts
    assert r.step(0, site, ch)["chargers"][0]["limit_a"] > 0
    site["grid_a"] = [0, 0, 0]                 # no export: Solar stops (no grace), pause 100 s
    row = r.step(5, site, ch)["chargers"][0]
    assert (row["reason"], row["limit_a"], row["paused_left_s"]) == ("paused", 0.0, 100)
    row = r.step(35, site, ch)["chargers"][0]
    assert (row["reason"], row["paused_left_s"]) == ("paused", 70)
