"""One day of the day bench (tests/bench/day_bench.py) as a test: the day where current
moves between two lagging cars, the safety claim of issue 13 case 1. The full table is
`make bench` (docs/regulation.md); this keeps CI at a few seconds."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import day_bench  # noqa: E402


def test_two_lagging_cars_cloudy_standard_day_never_over_beyond_allowance():
    # Standard, passing clouds, no battery, the 3-phase car and the 1-phase car on phase
    # A, charger meter values 10 s late: the current moves between the cars at every
    # cloud and appliance step. Break before make means the regulator itself never puts a
    # phase over for longer than one cycle, and an overload the world causes (an
    # appliance switching on) ends within one cycle + the slowest car's 10 s delay:
    # 0 phase-seconds beyond that allowance (a controller that raises one car before the
    # other has come down, the bench's floor controller, has 46 on this day). No more
    # starts than the ideal controller has on the same day. Both cars get what they
    # asked: 25 kWh in 12 h plugged in and 10 kWh in 8 h need 2.1 kW and 1.25 kW on
    # average, far below what a 25 A site gives them.
    case = dict(mode="standard", day="cloudy", battery=False, cars=("car1", "car2"),
                timing="meters_late")
    pv, house = day_bench.day_inputs("cloudy")
    reg = day_bench.run_regulated(case, pv, house)
    assert reg.beyond == 0
    ideal = day_bench.run_ideal(case, pv, house)
    for cid in ("car1", "car2"):
        assert reg.starts[cid] <= ideal.starts[cid]
    assert abs(reg.kwh["car1"] - 25.0) < 0.1 and abs(reg.kwh["car2"] - 10.0) < 0.1


def test_two_solar_cars_on_one_cars_sun_do_not_import_together():
    # Solar, passing clouds, no battery, both cars, fresh readings. Whenever the sun gives
    # only one car its minimum (between 4140 W, the 3-phase car's, and 5520 W, both
    # cars'), the later car in the order must ride its grace and stop, not be held at its
    # minimum beside the first while the grid pays up to 1380 W; and a stopped car the
    # sun cannot start must not make the favourable view cut a car still rising to its
    # new limit (a car that has not yet drawn its new current looks like sun there).
    # Grid: the floor controller (every cycle the engine on the true, late state, no
    # holds) takes what the cars' and sensors' lags cost; the regulator may take at most
    # half a point more (its grace rides, earned at 1 % of the sun's energy). Solar: the
    # issue-13 gate for a cloudy day, 90 % of the ideal's solar energy.
    case = dict(mode="solar", day="cloudy", battery=False, cars=("car1", "car2"), timing="fresh")
    pv, house = day_bench.day_inputs("cloudy")
    reg = day_bench.run_regulated(case, pv, house)
    floor = day_bench.run_regulated(case, pv, house, lambda s: day_bench.Prompt(0))
    ideal = day_bench.run_ideal(case, pv, house)

    def grid_pct(t):
        return 100.0 * sum(t.grid.values()) / sum(t.kwh.values())
    assert grid_pct(reg) <= grid_pct(floor) + 0.5, (grid_pct(reg), grid_pct(floor))
    assert sum(reg.solar.values()) >= 0.90 * sum(ideal.solar.values())
    assert reg.beyond == 0
    for cid in ("car1", "car2"):
        assert reg.starts[cid] <= ideal.starts[cid]
