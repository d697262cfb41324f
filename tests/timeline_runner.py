"""Timeline runner: the regulator in a closed loop, with events and whole-run assertions.

Same on CPython and the MicroPython unix port. The world moves in steps of one second
(host_tools.site_model for the site, host_tools.charger_model for each charger, its
sender and its car); every ``cycle_s`` the controller reads what it would see (readings
with their ages, each charger's status, late meter values, the limit the charger
accepted and when), steps the regulator with the world's clock and hands each row to its
charger's sender, as the app does.

Usage under MicroPython: ``micropython tests/timeline_runner.py IN.json OUT.json``.
See tests/timelines/README.md for the format.
"""
import sys

from dynevse.core.regulate import Regulator
from host_tools.charger_model import ChargePoint, LaggingCar, Rng, Delayed
from host_tools.site_model import SiteModel
from scenario_runner import run_file

DEFAULT_CYCLE_S = 5.0
STEP_S = 1.0
_GRID = ("grid_a", "grid_w", "grid_total_w")


def _copy(d):
    out = {}
    for k in d:
        out[k] = d[k]
    return out


def _number(x):
    """YAML/JSON can't carry NaN portably: "nan", "inf", "-inf" stand for them."""
    return float(x) if isinstance(x, str) else x


class _Timeline:
    def __init__(self, tl):
        self.tl = tl
        self.site = _copy(tl["site"])
        world = tl.get("world", {})
        self.dt = tl.get("cycle_s", DEFAULT_CYCLE_S)
        self.chargers = tl["chargers"]
        self.ids = [c["id"] for c in self.chargers]
        self.cfgs = []
        for c in self.chargers:
            cfg = {}
            for k in c:
                if k not in ("car", "charger"):
                    cfg[k] = c[k]
            self.cfgs.append(cfg)
        self.reg = Regulator(tl.get("regulation"))
        rcfg = self.reg.cfg
        self.model = SiteModel(world, self.site, [{"phase_map": c.get("phase_map"), "phases": c.get("phases", 3),
                                                   "car": None} for c in self.chargers])
        self.rng = Rng(tl.get("seed", 1))
        lag = world.get("meter_lag_cycles")
        meter = {"meter_lag_s": world.get("meter_lag_s", lag * self.dt if lag else 0.0),
                 "meter_interval_s": world.get("meter_interval_s", self.dt)}
        self.cps = []
        for c in self.chargers:
            spec = _copy(meter)
            for k in c.get("charger") or {}:
                spec[k] = c["charger"][k]
            if (c.get("car") or {}).get("ignores_limit"):
                spec["ignores_limit"] = True
                spec.setdefault("rating_a", c["car"].get("max_a", 32.0))
            self.cps.append(ChargePoint(spec, rcfg["profile_duration_s"], rcfg["refresh_before_s"],
                                        self.rng, self.dt))
        for i in range(len(self.chargers)):
            if self.chargers[i].get("car") is not None:
                self.plug(i, self.chargers[i]["car"], 0.0)
        self.sensor = Delayed(world.get("grid_interval_s", STEP_S), world.get("grid_lag_s", 0.0))
        self.sensors = _copy(tl.get("sensors", {}))
        self.frozen = None           # (time, readings) while the grid sensor is stopped
        self.frozen_keys = {}        # reading name -> (time, value) while that sensor is stopped
        self.override = None         # a grid reading forced by an event (a broken meter)
        self.events = sorted(tl.get("events", []), key=lambda e: e["at_s"])
        self.next_event = 0

    def plug(self, i, spec, now):
        car = LaggingCar(spec, len(self.model.maps[i]), self.model.volts, self.rng, now)
        self.model.cars[i] = car
        self.cps[i].offer(now, car)

    def apply(self, ev, now):
        m = self.model
        if "household_a" in ev:
            m.household_a = list(ev["household_a"])
        if "solar_w" in ev:
            m.solar_w = ev["solar_w"]
        if "battery_soc" in ev:
            m.soc = ev["battery_soc"]
        if "meter_lag_cycles" in ev:
            for cp in self.cps:
                cp.meter.lag = ev["meter_lag_cycles"] * self.dt
        if "site" in ev:
            for k in ev["site"]:
                self.site[k] = ev["site"][k]
        if "grid_reading" in ev:
            g = ev["grid_reading"]
            self.override = None if g is None else [_number(x) for x in g]
        if ev.get("grid_sensor") == "stop":
            self.frozen = (now, self.seen_readings())
        elif ev.get("grid_sensor") == "resume":
            self.frozen = None
        if "freeze" in ev:
            cur = self.seen_readings()
            for k in ev["freeze"]:
                if k in cur:
                    self.frozen_keys[k] = (now, cur[k])
        for k in ev.get("unfreeze", ()):
            self.frozen_keys.pop(k, None)
        if "car" in ev:
            i = self.ids.index(ev["car"])
            if ev.get("unplug"):
                m.cars[i] = None
                self.cps[i].applied = None
            if "plug" in ev:
                self.plug(i, ev["plug"], now)
            if ev.get("finish"):
                m.cars[i].finished = True
        if "charger" in ev:
            i = self.ids.index(ev["charger"])
            for k in ev.get("settings", {}):
                self.cfgs[i][k] = ev["settings"][k]
        m.settle()

    def seen_readings(self):
        return self.sensor.value if self.sensor.value is not None else self.model.readings(self.sensors)

    def readings(self, now):
        r = _copy(self.seen_readings())
        age = self.sensor.age(now) or 0.0
        ages = {}
        for k in r:
            ages[k] = age
        if self.frozen is not None:
            t0, old = self.frozen
            for k in _GRID:
                if k in old:
                    r[k] = old[k]
                    ages[k] = now - t0
        for k in self.frozen_keys:
            t0, v = self.frozen_keys[k]
            r[k] = v
            ages[k] = now - t0
        if self.override is not None:
            r["grid_a"] = list(self.override)
            ages["grid_a"] = 0.0
        return r, ages

    def cycle(self, t):
        m = self.model
        readings, ages = self.readings(t)
        site = _copy(self.site)
        for k in readings:
            site[k] = readings[k]
        chs = []
        for i in range(len(self.cfgs)):
            c = _copy(self.cfgs[i])
            live = self.cps[i].live(t, m.cars[i], len(m.maps[i]))
            for k in live:
                c[k] = live[k]
            chs.append(c)
        out = self.reg.step(t, site, chs, ages)
        for i in range(len(out["chargers"])):
            row = out["chargers"][i]
            self.cps[i].want(row["limit_a"])
            if row["clear_and_resend"]:
                self.cps[i].clear_and_resend()
        return out

    def run(self):
        duration = self.tl["duration_s"]
        m = self.model
        breaker = self.site.get("breaker_a", 25)
        rows = []
        seconds = []
        t = 0.0
        next_cycle = 0.0
        while t <= duration + 1e-9:
            while self.next_event < len(self.events) and self.events[self.next_event]["at_s"] <= t + 1e-9:
                self.apply(self.events[self.next_event], t)
                self.next_event += 1
            self.sensor.sample(t, m.readings(self.sensors))
            for i in range(len(self.cps)):
                self.cps[i].sample(t, m.cars[i], len(m.maps[i]))
            if t >= next_cycle - 1e-9:
                out = self.cycle(t)
                rows.append({
                    "t": t,
                    "limit": [c["limit_a"] for c in out["chargers"]],
                    "reason": [c["reason"] for c in out["chargers"]],
                    "resend": [c["clear_and_resend"] for c in out["chargers"]],
                })
                next_cycle += self.dt
            for i in range(len(self.cps)):
                self.cps[i].step(t, m.cars[i])
            over = 0.0
            for g in m.grid_a:
                if g - breaker > over:
                    over = g - breaker
            seconds.append(self.second(t, over))
            m.step(STEP_S)
            t += STEP_S
        return rows, seconds

    def second(self, t, over):
        """This second's physics, for the whole-run assertions."""
        m = self.model
        house_w = 0.0
        for x in m.household_a:
            house_w += x * m.volts
        cars_w = 0.0
        draws = []
        for car in m.cars:
            d = car.draw_a if car is not None else 0.0
            draws.append(d)
            if car is not None:
                cars_w += d * car.phases * m.volts
        from_sun = min(cars_w, max(0.0, m.solar_w - house_w))
        bat = max(0.0, -m.battery_w) - max(0.0, house_w - m.solar_w)
        from_bat = min(cars_w - from_sun, max(0.0, bat))
        return {"t": t, "over_a": over, "draw": draws, "cars_w": cars_w,
                "grid_w": cars_w - from_sun - from_bat}


def _window(rows, a):
    lo = a.get("from_s", a.get("after_s", -1e18))
    hi = a.get("to_s", a.get("by_s", 1e18))
    return [r for r in rows if lo - 1e-9 <= r["t"] <= hi + 1e-9]


_KNOWN = ("charger", "at_s", "from_s", "to_s", "after_s", "by_s", "tolerance", "max_overload_s",
          "stops", "restart_gap_min_s", "steady_span_max_a", "limit_a", "limit_min_a", "limit_max_a",
          "reach_a", "reason", "never_reason", "max_changes", "min_changes", "resends", "draw_max_a",
          "lapses", "max_grid_share_pct")


def check(tl, rows, seconds, ids, cps):
    """Evaluate the assertions; returns a list of failure texts."""
    fails = []
    for a in tl.get("asserts", []):
        for k in a:
            if k not in _KNOWN:
                fails.append("unknown assertion %r" % k)     # never pass by being ignored
        i = ids.index(a["charger"]) if "charger" in a else None
        win = _window(rows, a)
        if "max_overload_s" in a:
            run = worst = 0.0
            for s in seconds:
                run = run + STEP_S if s["over_a"] > 0.05 else 0.0
                worst = max(worst, run)
            if worst > a["max_overload_s"] + 1e-9:
                fails.append("a phase stayed over the breaker for %.0f s (max %s s)" % (worst, a["max_overload_s"]))
        if "stops" in a:
            n = sum(1 for k in range(1, len(win)) if win[k - 1]["limit"][i] > 0 and win[k]["limit"][i] == 0)
            if n != a["stops"]:
                fails.append("%s: %d stops, expected %d" % (a["charger"], n, a["stops"]))
        if "restart_gap_min_s" in a:
            stop_t = None
            for k in range(1, len(rows)):
                if rows[k - 1]["limit"][i] > 0 and rows[k]["limit"][i] == 0:
                    stop_t = rows[k]["t"]
                if stop_t is not None and rows[k - 1]["limit"][i] == 0 and rows[k]["limit"][i] > 0:
                    gap = rows[k]["t"] - stop_t
                    if gap < a["restart_gap_min_s"] - 1e-9:
                        fails.append("%s: restarted %.0f s after a stop (min %s s)" % (a["charger"], gap, a["restart_gap_min_s"]))
                    stop_t = None
        if "steady_span_max_a" in a:
            vals = [r["limit"][i] for r in win]
            if not vals or max(vals) - min(vals) > a["steady_span_max_a"] + 1e-6:
                fails.append("%s: limit varied %.1f..%.1f A between %s and %s s (max span %s A)"
                             % (a["charger"], min(vals or [0]), max(vals or [0]), a.get("from_s"), a.get("to_s"), a["steady_span_max_a"]))
        if "limit_a" in a or "limit_min_a" in a or "limit_max_a" in a:
            rs = [r for r in rows if abs(r["t"] - a["at_s"]) < 1e-6] if "at_s" in a else win
            if not rs:
                fails.append("no cycle at the asserted time %s" % a.get("at_s"))
            for r in rs:
                v = r["limit"][i]
                if "limit_a" in a and abs(v - a["limit_a"]) > a.get("tolerance", 0.1) + 1e-6:
                    fails.append("%s: limit %.1f A at %.0f s, expected %s A" % (a["charger"], v, r["t"], a["limit_a"]))
                    break
                if "limit_min_a" in a and v < a["limit_min_a"] - 1e-6:
                    fails.append("%s: limit %.1f A at %.0f s, expected at least %s A" % (a["charger"], v, r["t"], a["limit_min_a"]))
                    break
                if "limit_max_a" in a and v > a["limit_max_a"] + 1e-6:
                    fails.append("%s: limit %.1f A at %.0f s, expected at most %s A" % (a["charger"], v, r["t"], a["limit_max_a"]))
                    break
        if "reach_a" in a:
            hit = [r["t"] for r in win if r["limit"][i] >= a["reach_a"] - 1e-6]
            if not hit:
                fails.append("%s: never reached %s A between %s and %s s" % (a["charger"], a["reach_a"], a.get("after_s"), a.get("by_s")))
        if "reason" in a:
            rs = [r for r in rows if abs(r["t"] - a["at_s"]) < 1e-6] if "at_s" in a else win
            hit = [r["t"] for r in rs if r["reason"][i] == a["reason"]]
            if not hit:
                fails.append("%s: reason %r never seen between %s and %s s" % (a["charger"], a["reason"], a.get("after_s", a.get("from_s")), a.get("by_s", a.get("to_s"))))
        if "never_reason" in a:
            hit = [r["t"] for r in win if r["reason"][i] == a["never_reason"]]
            if hit:
                fails.append("%s: reason %r at %.0f s" % (a["charger"], a["never_reason"], hit[0]))
        if "max_changes" in a or "min_changes" in a:
            n = sum(1 for k in range(1, len(win)) if abs(win[k]["limit"][i] - win[k - 1]["limit"][i]) > 1e-6)
            if n > a.get("max_changes", n):
                fails.append("%s: %d limit changes between %s and %s s (max %s)" % (a["charger"], n, a.get("from_s"), a.get("to_s"), a["max_changes"]))
            if n < a.get("min_changes", n):
                fails.append("%s: %d limit changes between %s and %s s (min %s)" % (a["charger"], n, a.get("from_s"), a.get("to_s"), a["min_changes"]))
        if "resends" in a:
            n = sum(1 for r in win if r["resend"][i])
            if n != a["resends"]:
                fails.append("%s: %d clear-and-resend, expected %d" % (a["charger"], n, a["resends"]))
        if "draw_max_a" in a:
            worst = max([s["draw"][i] for s in _window(seconds, a)] or [0.0])
            if worst > a["draw_max_a"] + 1e-6:
                fails.append("%s: the car drew %.1f A between %s and %s s (max %s A)" % (a["charger"], worst, a.get("from_s"), a.get("to_s"), a["draw_max_a"]))
        if "lapses" in a:
            if cps[i].lapses != a["lapses"]:
                fails.append("%s: its profile lapsed %d times, expected %d" % (a["charger"], cps[i].lapses, a["lapses"]))
        if "max_grid_share_pct" in a:
            secs = _window(seconds, a)
            cars = sum(s["cars_w"] for s in secs)
            grid = sum(s["grid_w"] for s in secs)
            pct = 100.0 * grid / cars if cars > 0 else 0.0
            if pct > a["max_grid_share_pct"] + 1e-6:
                fails.append("the cars took %.1f %% of their energy from the grid (max %s %%)" % (pct, a["max_grid_share_pct"]))
    return fails


def run_timeline(tl):
    t = _Timeline(tl)
    rows, seconds = t.run()
    fails = check(tl, rows, seconds, t.ids, t.cps)
    if len(fails) > 5:
        fails = fails[:5] + ["... %d more" % (len(fails) - 5)]
    return {"name": tl["name"], "passed": not fails, "failures": fails,
            "final": rows[-1]["limit"] if rows else [],
            "history": [r["limit"] for r in rows]}


def run_all(timelines):
    return [run_timeline(tl) for tl in timelines]


def main(argv):
    run_file(argv, run_timeline)


if __name__ == "__main__":
    main(sys.argv)
