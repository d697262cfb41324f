"""Timeline runner: the regulator in a closed loop, with events and whole-run assertions.

Same on CPython and the MicroPython unix port. Every cycle: apply the events due, let
the site settle, build what the controller sees (readings with their ages, each
charger's status, metered draw — possibly late — and offered current), step the
regulator with the fake clock, give each car its command, advance time.

Usage under MicroPython: ``micropython tests/timeline_runner.py IN.json OUT.json``.
See tests/timelines/README.md for the format.
"""
import sys

from dynevse.core.regulate import Regulator
from host_tools.site_model import Car, SiteModel
from scenario_runner import run_file

DEFAULT_CYCLE_S = 5.0


def _copy(d):
    out = {}
    for k in d:
        out[k] = d[k]
    return out


class _Timeline:
    def __init__(self, tl):
        self.tl = tl
        self.site = _copy(tl["site"])
        self.chargers = tl["chargers"]
        self.ids = [c["id"] for c in self.chargers]
        self.cfgs = []
        for c in self.chargers:
            cfg = {}
            for k in c:
                if k != "car":
                    cfg[k] = c[k]
            self.cfgs.append(cfg)
        self.model = SiteModel(tl.get("world", {}), self.site, self.chargers)
        self.sensors = _copy(tl.get("sensors", {}))
        self.reg = Regulator(tl.get("regulation"))
        self.dt = tl.get("cycle_s", DEFAULT_CYCLE_S)
        self.lag = tl.get("world", {}).get("meter_lag_cycles", 0)
        self.draw_hist = []          # per cycle: charger draws as they were
        self.frozen = None           # (time, readings) while the grid sensor is stopped
        self.frozen_keys = {}        # reading name -> (time, value) while that sensor is stopped
        self.finished = [False] * len(self.chargers)
        self.ignores = [bool((c.get("car") or {}).get("ignores_limit")) for c in self.chargers]
        self.events = sorted(tl.get("events", []), key=lambda e: e["at_s"])
        self.next_event = 0

    def apply(self, ev):
        m = self.model
        if "household_a" in ev:
            m.household_a = list(ev["household_a"])
        if "solar_w" in ev:
            m.solar_w = ev["solar_w"]
        if "battery_soc" in ev:
            m.soc = ev["battery_soc"]
        if "meter_lag_cycles" in ev:
            self.lag = ev["meter_lag_cycles"]
        if "site" in ev:
            for k in ev["site"]:
                self.site[k] = ev["site"][k]
        if ev.get("grid_sensor") == "stop":
            self.frozen = (ev["at_s"], m.readings(self.sensors))
        elif ev.get("grid_sensor") == "resume":
            self.frozen = None
        if "freeze" in ev:
            now = m.readings(self.sensors)
            for k in ev["freeze"]:
                if k in now:
                    self.frozen_keys[k] = (ev["at_s"], now[k])
        for k in ev.get("unfreeze", ()):
            self.frozen_keys.pop(k, None)
        if "car" in ev:
            i = self.ids.index(ev["car"])
            if ev.get("unplug"):
                m.cars[i] = None
                self.finished[i] = False
            if "plug" in ev:
                m.cars[i] = Car(ev["plug"], len(m.maps[i]))
                self.finished[i] = False
            if ev.get("finish"):
                self.finished[i] = True
                m.cars[i].max_a = 0.0
        if "charger" in ev:
            i = self.ids.index(ev["charger"])
            for k in ev.get("settings", {}):
                self.cfgs[i][k] = ev["settings"][k]
        m.settle()

    def readings(self, now):
        r = self.model.readings(self.sensors)
        ages = {}
        if self.frozen is not None:
            t0, old = self.frozen
            for k in ("grid_a", "grid_w", "grid_total_w"):
                if k in old:
                    r[k] = old[k]
                    ages[k] = now - t0
        for k in self.frozen_keys:
            t0, v = self.frozen_keys[k]
            r[k] = v
            ages[k] = now - t0
        return r, ages

    def live(self):
        m = self.model
        draws = m.car_draws()
        self.draw_hist.append(draws)
        k = len(self.draw_hist) - 1 - self.lag
        shown = self.draw_hist[k if k >= 0 else 0]
        out = []
        for i in range(len(m.cars)):
            car = m.cars[i]
            if car is None:
                out.append({"status": "Available", "draw_a": [0.0] * len(m.maps[i])})
                continue
            if self.finished[i]:
                status = "SuspendedEV"
            else:
                status = "Charging" if car.draw_a > 0 else "SuspendedEVSE"
            offered = car.limit_a if car.limit_a is not None else 0.0
            if self.ignores[i]:
                offered = car.max_a
            out.append({"status": status, "draw_a": list(shown[i]), "offered_a": offered,
                        "meter_age_s": self.lag * self.dt})
        return out

    def run(self):
        tl = self.tl
        duration = tl["duration_s"]
        m = self.model
        rows = []
        t = 0.0
        breaker = self.site.get("breaker_a", 25)
        while t <= duration + 1e-9:
            while self.next_event < len(self.events) and self.events[self.next_event]["at_s"] <= t + 1e-9:
                self.apply(self.events[self.next_event])
                self.next_event += 1
            readings, ages = self.readings(t)
            site = _copy(self.site)
            for k in readings:
                site[k] = readings[k]
            live = self.live()
            chs = []
            for i in range(len(self.cfgs)):
                c = _copy(self.cfgs[i])
                for k in live[i]:
                    c[k] = live[i][k]
                chs.append(c)
            out = self.reg.step(t, site, chs, ages)
            limits = [c["limit_a"] for c in out["chargers"]]
            over = 0.0
            for g in m.grid_a:
                if g - breaker > over:
                    over = g - breaker
            rows.append({
                "t": t,
                "limit": limits,
                "reason": [c["reason"] for c in out["chargers"]],
                "send": [c["send"] for c in out["chargers"]],
                "draw": [(car.draw_a if car is not None else 0.0) for car in m.cars],
                "over_a": over,
                "resend": [c["clear_and_resend"] for c in out["chargers"]],
            })
            for i in range(len(m.cars)):
                car = m.cars[i]
                if car is not None:
                    car.limit_a = limits[i] if not self.ignores[i] else car.max_a
            m.step(self.dt)
            t += self.dt
        return rows


def _window(rows, a):
    lo = a.get("from_s", a.get("after_s", -1e18))
    hi = a.get("to_s", a.get("by_s", 1e18))
    return [r for r in rows if lo - 1e-9 <= r["t"] <= hi + 1e-9]


def check(tl, rows, ids):
    """Evaluate the assertions; returns a list of failure texts."""
    fails = []
    dt = tl.get("cycle_s", DEFAULT_CYCLE_S)
    for a in tl.get("asserts", []):
        i = ids.index(a["charger"]) if "charger" in a else None
        win = _window(rows, a)
        if "max_overload_s" in a:
            run = worst = 0.0
            for r in rows:
                run = run + dt if r["over_a"] > 0.05 else 0.0
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
                fails.append("%s: command varied %.1f..%.1f A between %s and %s s (max span %s A)"
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
        if "max_sends" in a:
            n = sum(1 for r in win if r["send"][i])
            if n > a["max_sends"]:
                fails.append("%s: %d profiles sent between %s and %s s (max %s)" % (a["charger"], n, a.get("from_s"), a.get("to_s"), a["max_sends"]))
        if "min_sends" in a:
            n = sum(1 for r in win if r["send"][i])
            if n < a["min_sends"]:
                fails.append("%s: %d profiles sent between %s and %s s (min %s)" % (a["charger"], n, a.get("from_s"), a.get("to_s"), a["min_sends"]))
        if "resends" in a:
            n = sum(1 for r in win if r["resend"][i])
            if n != a["resends"]:
                fails.append("%s: %d clear-and-resend, expected %d" % (a["charger"], n, a["resends"]))
    return fails


def run_timeline(tl):
    t = _Timeline(tl)
    rows = t.run()
    fails = check(tl, rows, t.ids)
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
