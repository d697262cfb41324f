"""make bench: whole days of a home with lagging cars and late meters, regulated by the
core (Regulator + engine) and by an ideal controller, side by side.

The world (docs/regulation.md, "The day bench", has the figures and what they mean):

- 06:00-20:00 in 1 s steps, the control cycle every 5 s;
- PV 8.5 kW peak: clear, passing clouds (clear spells averaging 4 min, clouds of
  30-300 s at 15-40 %), or overcast (25 %);
- a household of 750 W plus 2 kW appliances on a random phase (one every 45 min on
  average, for 2-30 min);
- with or without a 10 kWh battery (5 kW each way, SOC 40 % at 06:00);
- one 3-phase car (16 A max, 25 kWh asked, 07:00-19:00), or that car and a 1-phase car
  on phase A (16 A max, 10 kWh asked, 09:00-17:00), on a 25 A site;
- cars apply a limit 5-8 s (car 1) and 7-10 s (car 2) after their charger accepts it,
  0.3-0.8 s after it was wanted, and ramp at 3 A/s;
- sensor timings: ``fresh`` (grid every second, charger meters every 10 s, no lag),
  ``meters_late`` (grid fresh, charger meter values 10 s late), ``all_late`` (grid every
  5 s and 10 s late too).

The ideal controller knows everything at once and its cars follow at once: every second
the engine allocates on the true state, each car draws its allocation (0 below 6 A).
Its solar energy is what the mode can take; Solar "takes the export whenever it reaches
the minimum".

    python tests/bench/day_bench.py [--quick] [--only TEXT] [--markdown]
"""
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "firmware"), ROOT]

from dynevse.config import check as schema  # noqa: E402
from dynevse.core.engine import allocate  # noqa: E402
from dynevse.core.regulate import Regulator  # noqa: E402
from host_tools.charger_model import CAR_MIN_A, ChargePoint, Delayed, LaggingCar, Rng  # noqa: E402
from host_tools.site_model import SiteModel  # noqa: E402

DAY_S = 14 * 3600
START_H = 6.0
CYCLE_S = 5
VOLTS = 230
BREAKER_A = 25
DAYS = ("clear", "cloudy", "overcast")
MODES = ("standard", "eco", "solar")
TIMINGS = {
    "fresh": {"grid_interval_s": 1, "grid_lag_s": 0, "meter_interval_s": 10, "meter_lag_s": 0},
    "meters_late": {"grid_interval_s": 1, "grid_lag_s": 0, "meter_interval_s": 10, "meter_lag_s": 10},
    "all_late": {"grid_interval_s": 5, "grid_lag_s": 10, "meter_interval_s": 10, "meter_lag_s": 10},
}
CARS = {
    "car1": {"id": "car1", "phases": 3, "phase_map": "ABC", "min_a": 6, "max_a": 16,
             "plug_s": 3600, "unplug_s": 13 * 3600, "need_wh": 25000, "delay_s": [5, 8]},
    "car2": {"id": "car2", "phases": 1, "phase_map": "A", "min_a": 6, "max_a": 16,
             "plug_s": 3 * 3600, "unplug_s": 11 * 3600, "need_wh": 10000, "delay_s": [7, 10]},
}
MAX_DELAY_S = 10
BATTERY = {"soc_min": 20, "soc_target": 80, "max_charge_w": 5000, "max_discharge_w": 5000}
HOUSE_BASE_W = (300, 200, 250)


def solar_profile(day, seed):
    """PV power per second of the day, W."""
    rng = Rng(seed)
    out = []
    factor = 1.0
    left = 0
    target = 1.0
    cloud = False
    for t in range(DAY_S):
        h = START_H + t / 3600
        x = (h - 6.5) / 13
        clear = 8500 * math.sin(math.pi * x) ** 1.2 if 0 < x < 1 else 0.0
        if day == "overcast":
            f = 0.25 + 0.05 * math.sin(2 * math.pi * t / 3600)
        elif day == "cloudy":
            if left <= 0:
                cloud = not cloud
                if cloud:
                    left = int(rng.uniform(30, 300))
                    target = rng.uniform(0.15, 0.4)
                else:
                    left = int(30 - 240 * math.log(1 - rng.random()))
                    target = 1.0
            left -= 1
            factor += max(-0.1, min(0.1, target - factor))     # 10 s edges
            f = factor
        else:
            f = 1.0
        out.append(clear * f)
    return out


def household(seed):
    """Per second, the household current per phase, A: a base load plus 2 kW appliances."""
    rng = Rng(seed)
    extra = [[0.0] * DAY_S for _ in range(3)]
    t = 0
    while True:
        t += int(-2700 * math.log(1 - rng.random()))
        if t >= DAY_S:
            break
        dur = int(rng.uniform(120, 1800))
        p = int(rng.random() * 3) % 3
        for s in range(t, min(DAY_S, t + dur)):
            extra[p][s] += 2000 / VOLTS
    base = [w / VOLTS for w in HOUSE_BASE_W]
    return [[base[p] + extra[p][s] for p in range(3)] for s in range(DAY_S)]


class _Tally:
    """What a day delivered, per car and per phase."""

    def __init__(self, ids, allowance_s):
        self.ids = ids
        self.kwh = {i: 0.0 for i in ids}
        self.solar = {i: 0.0 for i in ids}
        self.grid = {i: 0.0 for i in ids}
        self.starts = {i: 0 for i in ids}
        self.changes = {i: 0 for i in ids}
        self.was = {i: 0.0 for i in ids}
        self.over_s = 0
        self.longest = 0
        self.beyond = 0
        self.run = [0, 0, 0]
        self.world_caused = [False] * 3
        self.other = [0.0] * 3
        self.last_rise = [-10 ** 9] * 3
        self.allowance = allowance_s

    def second(self, t, m, draws):
        # what the phase carries besides the cars: the house, less the sun, plus the
        # battery; a rise of it is the world's doing (an appliance, a cloud, a battery
        # that reached its reserve)
        other = [house + (m.battery_w - m.solar_w) / 3 / VOLTS for house in m.household_a]
        for p in range(3):
            if t and other[p] > self.other[p] + 0.05:
                self.last_rise[p] = t
            if m.grid_a[p] > BREAKER_A + 0.05:
                if self.run[p] == 0:
                    self.world_caused[p] = t - self.last_rise[p] <= CYCLE_S
                self.run[p] += 1
                self.over_s += 1
                # the world's overload: one cycle, the lags and a car's delay after the
                # latest rise of the world's load; the controller's own: one cycle
                if self.world_caused[p]:
                    late = t - self.last_rise[p] > CYCLE_S + self.allowance
                else:
                    late = self.run[p] > CYCLE_S
                if late:
                    self.beyond += 1
                if self.run[p] > self.longest:
                    self.longest = self.run[p]
            else:
                self.run[p] = 0
        self.other = other
        house_w = sum(m.household_a) * VOLTS
        cars_w = 0.0
        for i in range(len(self.ids)):
            cars_w += draws[i][0] * draws[i][1] * VOLTS
        from_sun = min(cars_w, max(0.0, m.solar_w - house_w))
        bat = max(0.0, -m.battery_w) - max(0.0, house_w - m.solar_w)
        from_grid = cars_w - from_sun - min(cars_w - from_sun, max(0.0, bat))
        for i in range(len(self.ids)):
            cid = self.ids[i]
            w = draws[i][0] * draws[i][1] * VOLTS
            share = w / cars_w if cars_w > 0 else 0.0
            self.kwh[cid] += w / 3.6e6
            self.solar[cid] += from_sun * share / 3.6e6
            self.grid[cid] += from_grid * share / 3.6e6
            if draws[i][0] > 0 and self.was[cid] == 0:
                self.starts[cid] += 1
            self.was[cid] = draws[i][0]


def _setup(mode, battery, car_ids):
    site = {"phases": 3, "voltage_v": VOLTS, "breaker_a": BREAKER_A, "mode": mode,
            "distribution": "shared", "battery": dict(BATTERY) if battery else None}
    chargers = []
    for cid in car_ids:
        c = CARS[cid]
        chargers.append({"id": cid, "min_a": c["min_a"], "max_a": c["max_a"], "phases": c["phases"],
                         "phase_map": c["phase_map"]})
    world = {"household_a": [0.0] * 3, "solar_w": 0.0}
    if battery:
        world.update({"battery_soc": 40.0, "battery_capacity_wh": 10000})
    return site, chargers, world


def run_regulated(case, pv, house, make_regulator=Regulator, make_charger=ChargePoint):
    """One day with the regulator; returns (tally, limit changes per car)."""
    mode, battery, car_ids, timing = case["mode"], case["battery"], case["cars"], case["timing"]
    tm = TIMINGS[timing]
    site, chargers, world = _setup(mode, battery, car_ids)
    settings = schema.check_setup(site, chargers)
    model = SiteModel(world, site, [dict(c, car=None) for c in chargers])
    reg = make_regulator({})
    rcfg = reg.cfg
    rng = Rng(case.get("seed", 7))
    cps = [make_charger({"latency_s": [0.3, 0.8], "meter_interval_s": tm["meter_interval_s"],
                         "meter_lag_s": tm["meter_lag_s"]}, rcfg["profile_duration_s"],
                        rcfg["refresh_before_s"], rng, CYCLE_S) for _ in chargers]
    sensor = Delayed(tm["grid_interval_s"], tm["grid_lag_s"])
    tally = _Tally(car_ids, tm["grid_lag_s"] + MAX_DELAY_S + 1)
    last = [None] * len(chargers)
    for t in range(DAY_S):
        for i in range(len(car_ids)):
            spec = CARS[car_ids[i]]
            if t == spec["plug_s"]:
                model.cars[i] = LaggingCar({"phases": spec["phases"], "max_a": spec["max_a"],
                                            "delay_s": spec["delay_s"], "need_wh": spec["need_wh"]},
                                           spec["phases"], VOLTS, rng, t)
                cps[i].offer(t, model.cars[i])
            elif t == spec["unplug_s"]:
                model.cars[i] = None
                cps[i].applied = None
        model.household_a = house[t]
        model.solar_w = pv[t]
        model.settle()
        sensor.sample(t, model.readings({}))
        for i in range(len(cps)):
            cps[i].sample(t, model.cars[i], len(chargers[i]["phase_map"]))
        if t % CYCLE_S == 0:
            s = dict(site)
            s.update(sensor.value)
            age = sensor.age(t)
            ages = {k: age for k in sensor.value}
            chs = []
            for i in range(len(chargers)):
                c = dict(chargers[i])
                c.update(cps[i].live(t, model.cars[i], len(chargers[i]["phase_map"])))
                chs.append(c)
            out = reg.step(t, s, chs, ages, settings)
            for i in range(len(chargers)):
                row = out["chargers"][i]
                cps[i].want(row["limit_a"])
                if row["clear_and_resend"]:
                    cps[i].clear_and_resend()
                if last[i] is not None and row["limit_a"] != last[i]:
                    tally.changes[car_ids[i]] += 1
                last[i] = row["limit_a"]
        for i in range(len(cps)):
            cps[i].step(t, model.cars[i])
        draws = [(c.draw_a, c.phases) if c is not None else (0.0, 1) for c in model.cars]
        if hasattr(reg, "observe"):
            reg.observe(t, draws)
        tally.second(t, model, draws)
        model.step(1.0)
    return tally


class Prompt:
    """The floor for any controller: every cycle it sees the site as the grid meter shows
    it (as late as in the timing) and every car's draw at that same instant, exactly, and
    gives each car the engine's allocation at once. Its chargers and cars lag like the
    regulator's, so what it imports at a cloud's edge, or how long a household step keeps
    a phase over, is what the sensor and car delays cost whatever decides."""

    def __init__(self, lag_s):
        self.cfg = schema.check_regulation({})
        self.lag = lag_s
        self.hist = {}
        self.state = None

    def observe(self, t, draws):
        self.hist[t] = draws
        self.hist.pop(t - self.lag - 30, None)

    def step(self, t, site, chs, ages, settings):
        seen = int(round(t - ages.get("grid_a", 0) - self.lag))
        draws = self.hist.get(seen, self.hist.get(t - 1))
        live = []
        for i in range(len(chs)):
            c = dict(chs[i])
            n = len(c["phase_map"])
            d, ph = draws[i] if draws else (0.0, n)
            c["draw_a"] = [d] * ph + [0.0] * (n - ph)
            live.append(c)
        res = allocate(site, live, self.state, settings)
        self.state = res["state"]
        rows = []
        for i in range(len(chs)):
            a = res["chargers"][i]["allocated_a"]
            rows.append({"limit_a": a if a >= chs[i]["min_a"] else 0.0, "clear_and_resend": False})
        return {"chargers": rows}


class _IdealCar:
    def __init__(self, spec):
        self.phases = spec["phases"]
        self.max_a = spec["max_a"]
        self.need_wh = spec["need_wh"]
        self.draw_a = 0.0
        self.energy_wh = 0.0
        self.finished = False

    def step(self, dt_s):
        self.energy_wh += self.draw_a * self.phases * VOLTS * dt_s / 3600
        if self.energy_wh >= self.need_wh:
            self.finished = True
            self.draw_a = 0.0


def run_ideal(case, pv, house):
    """One day with perfect, instant knowledge and cars that follow at once."""
    mode, battery, car_ids = case["mode"], case["battery"], case["cars"]
    site, chargers, world = _setup(mode, battery, car_ids)
    settings = schema.check_setup(site, chargers)
    model = SiteModel(world, site, [dict(c, car=None) for c in chargers])
    tally = _Tally(car_ids, 0)
    state = None
    for t in range(DAY_S):
        for i in range(len(car_ids)):
            spec = CARS[car_ids[i]]
            if t == spec["plug_s"]:
                model.cars[i] = _IdealCar(spec)
            elif t == spec["unplug_s"]:
                model.cars[i] = None
        model.household_a = house[t]
        model.solar_w = pv[t]
        model.settle()
        s = dict(site)
        s.update(model.readings({}))
        chs = []
        for i in range(len(chargers)):
            car = model.cars[i]
            c = dict(chargers[i])
            n = len(c["phase_map"])
            if car is None:
                c.update({"status": "Available", "draw_a": [0.0] * n})
            else:
                c.update({"status": "SuspendedEV" if car.finished else "Charging",
                          "draw_a": [car.draw_a] * car.phases + [0.0] * (n - car.phases),
                          "car_phases": car.phases})
            chs.append(c)
        res = allocate(s, chs, state, settings)
        state = res["state"]
        for i in range(len(chargers)):
            car = model.cars[i]
            if car is not None and not car.finished:
                a = min(res["chargers"][i]["allocated_a"], car.max_a)
                car.draw_a = a if a >= CAR_MIN_A else 0.0
        model.settle()
        draws = [(c.draw_a, c.phases) if c is not None else (0.0, 1) for c in model.cars]
        tally.second(t, model, draws)
        model.step(1.0)
    return tally


def cases(quick=False):
    """Every mode x day x battery x cars x sensor timing (the --quick subset: one
    representative per gate)."""
    if quick:
        return [dict(mode=m, day=d, battery=b, cars=c, timing=tm) for m, d, b, c, tm in QUICK]
    out = []
    for cars in (("car1",), ("car1", "car2")):
        for battery in (False, True):
            for mode in MODES:
                for day in DAYS:
                    for timing in TIMINGS:
                        out.append(dict(mode=mode, day=day, battery=battery, cars=cars, timing=timing))
    return out


# The pytest's subset: the two-car Standard day where current moves between cars, Solar on
# a clear and a cloudy day with the hunting-prone timing, and all-late meters.
QUICK = (
    ("standard", "clear", False, ("car1", "car2"), "meters_late"),
    ("standard", "overcast", False, ("car1", "car2"), "all_late"),
    ("solar", "clear", False, ("car1",), "meters_late"),
    ("solar", "cloudy", False, ("car1",), "meters_late"),
    ("solar", "clear", True, ("car1", "car2"), "all_late"),
)


def day_inputs(day, seed=11):
    return solar_profile(day, seed), household(seed + 1)


def measure(cs, make_regulator=Regulator, make_charger=ChargePoint, log=None):
    """Run the cases (the ideal once per mode x day x battery x cars); returns rows."""
    inputs = {}
    ideals = {}
    rows = []
    for c in cs:
        if c["day"] not in inputs:
            inputs[c["day"]] = day_inputs(c["day"])
        pv, house = inputs[c["day"]]
        key = (c["mode"], c["day"], c["battery"], c["cars"])
        if key not in ideals:
            ideals[key] = run_ideal(c, pv, house)
        t0 = time.time()
        reg = run_regulated(c, pv, house, make_regulator, make_charger)
        floor = run_regulated(c, pv, house, lambda s: Prompt(TIMINGS[c["timing"]]["grid_lag_s"]))
        rows.append((c, reg, ideals[key], floor, time.time() - t0))
        if log is not None:
            log(rows[-1])
    return rows


def _fmt_row(c, reg, ideal, floor):
    ids = c["cars"]
    sol = sum(reg.solar.values())
    isol = sum(ideal.solar.values())
    kwh = sum(reg.kwh.values())
    pct = 100.0 * sol / isol if isol > 0.05 else float("nan")
    grid_pct = 100.0 * sum(reg.grid.values()) / kwh if kwh > 0 else 0.0
    per = lambda d: "/".join(str(d[i]) for i in ids)          # noqa: E731
    per_f = lambda d: "/".join("%.1f" % d[i] for i in ids)    # noqa: E731
    asked = "/".join("%.0f" % (CARS[i]["need_wh"] / 1000) for i in ids)
    fl = "%.1f" % (100.0 * sum(floor.grid.values()) / sum(floor.kwh.values())) if sum(floor.kwh.values()) else "-"
    return [c["mode"], c["day"], "yes" if c["battery"] else "no", "+".join(ids), c["timing"],
            "%.1f" % sol, "%.1f" % isol, "-" if pct != pct else "%.0f" % pct,
            "%.2f" % sum(reg.grid.values()), "%.1f" % grid_pct, fl, per(reg.starts), per(ideal.starts),
            str(reg.over_s), str(reg.longest), str(reg.beyond), str(floor.beyond), per_f(reg.kwh), asked,
            per(reg.changes)]


HEADER = ["mode", "day", "battery", "cars", "timing", "solar kWh", "ideal solar kWh", "solar % of ideal",
          "grid kWh", "grid %", "floor grid %", "starts", "ideal starts", "over s", "longest s", "beyond s", "floor beyond s",
          "delivered kWh", "asked kWh", "limit changes"]


def gates(c, reg, ideal):
    """The issue's Done-when figures for one row; a list of what is missed."""
    miss = []
    if reg.beyond:
        miss.append("%d phase-seconds over the breaker beyond the allowance" % reg.beyond)
    if c["mode"] == "solar":
        isol = sum(ideal.solar.values())
        sol = sum(reg.solar.values())
        need = {"clear": 95.0, "cloudy": 90.0}.get(c["day"])
        if need is not None and isol > 0.05 and 100.0 * sol / isol < need:
            miss.append("solar %.1f %% of the ideal (gate %s %%)" % (100.0 * sol / isol, need))
        kwh = sum(reg.kwh.values())
        if kwh > 0 and 100.0 * sum(reg.grid.values()) / kwh > 5.0:
            miss.append("grid %.1f %% of the cars' energy (gate 5 %%)" % (100.0 * sum(reg.grid.values()) / kwh))
    for cid in c["cars"]:
        if reg.starts[cid] > ideal.starts[cid]:
            miss.append("%s: %d starts, the ideal %d" % (cid, reg.starts[cid], ideal.starts[cid]))
        if c["day"] == "clear" and reg.changes[cid] > 100:
            miss.append("%s: %d limit changes on a clear day (gate 100)" % (cid, reg.changes[cid]))
    return miss


def main(argv):
    quick = "--quick" in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    cs = cases(quick)
    if only:
        cs = [c for c in cs if only in " ".join(str(v) for v in c.values())]
    t0 = time.time()
    print(" | ".join(HEADER))

    def log(r):
        c, reg, ideal, floor, secs = r
        print(" | ".join(_fmt_row(c, reg, ideal, floor)) + "   (%.1f s)" % secs)
        sys.stdout.flush()

    rows = measure(cs, log=log)
    missed = 0
    for c, reg, ideal, _f, _s in rows:
        for m in gates(c, reg, ideal):
            missed += 1
            print("GATE %s %s %s %s %s: %s" % (c["mode"], c["day"], "battery" if c["battery"] else "-",
                                                "+".join(c["cars"]), c["timing"], m))
    print("%d days in %.0f s; %d gate figures missed" % (len(rows), time.time() - t0, missed))
    if "--markdown" in argv:
        print()
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for c, reg, ideal, floor, _s in rows:
            print("| " + " | ".join(_fmt_row(c, reg, ideal, floor)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
