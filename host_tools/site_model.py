"""Physics of a simulated site: household, PV, home battery, grid, and cars that follow
their limits.

Runs on CPython and on the MicroPython unix port (the scenario runner uses it on both),
so it sticks to what both have. Units: A per phase, W for totals, seconds.

grid per phase = household + cars' draw - what the inverter puts on the phase   (A, + import)

The battery is a self-consumption battery: it charges from the surplus up to its max
charge power until full, and covers a deficit up to its max discharge power while its
SOC is above its reserve. A symmetric inverter (the default) spreads solar and battery
evenly over the site's phases; an asymmetric one puts its power where the load is, up to
its max per phase. Off-grid there is no grid: the inverter supplies every load, PV is
curtailed when nothing can take it, and a load the battery can't cover is counted as
``unsupplied_w`` (a blackout in reality).
"""

CAR_MIN_A = 6.0   # IEC 61851: a car can't charge below 6 A, it pauses


def _follow_load(supply, load, max_phase):
    """An asymmetric inverter's output per phase: each phase's load first (up to the max
    per phase, shared in proportion when the supply is short), the rest evenly."""
    n = len(load)
    first = [min(x, max_phase) if max_phase else x for x in load]
    need = sum(first)
    if supply <= need:
        if need <= 0:
            return [supply / n] * n
        return [x * supply / need for x in first]
    out = list(first)
    rest = supply - need
    live = list(range(n))
    while rest > 1e-6 and live:
        share = rest / len(live)
        nxt = []
        for p in live:
            give = share if not max_phase else min(share, max_phase - out[p])
            out[p] += give
            rest -= give
            if not max_phase or out[p] < max_phase - 1e-6:
                nxt.append(p)
        live = nxt
    return out


class Car:
    """A car plugged into a charger: draws on its first ``phases`` charger phases."""

    def __init__(self, spec, charger_phases):
        spec = spec or {}
        self.phases = min(spec.get("phases", charger_phases), charger_phases)
        self.max_a = spec.get("max_a", 32.0)
        self.ramp_a_s = spec.get("ramp_a_s", 3.0)
        self.draw_a = spec.get("draw_a", 0.0)
        self.limit_a = None   # no limit received yet: the charger's own default applies
        self.default_a = spec.get("default_a", 0.0)

    def step(self, dt_s):
        limit = self.default_a if self.limit_a is None else self.limit_a
        want = min(limit, self.max_a)
        if want < CAR_MIN_A:
            want = 0.0
        if want <= self.draw_a:
            self.draw_a = want          # cars drop quickly
        else:
            self.draw_a = min(want, self.draw_a + self.ramp_a_s * dt_s)


class SiteModel:
    """The physical site. ``world`` describes reality, ``site`` are the controller's
    settings (phases, voltage, battery limits), ``chargers`` the chargers' settings."""

    def __init__(self, world, site, chargers):
        self.n = site.get("phases", 3)
        self.volts = world.get("voltage_v", site.get("voltage_v", 230))
        self.household_a = list(world.get("household_a", [0.0] * self.n))
        if len(self.household_a) != self.n:
            raise ValueError("household_a needs one value per site phase (%d)" % self.n)
        self.solar_w = world.get("solar_w", 0.0)     # what the PV could produce
        bat = site.get("battery")
        self.has_battery = bat is not None and "battery_soc" in world
        self.soc = world.get("battery_soc")
        self.series = True
        if self.has_battery:
            self.max_charge_w = world.get("battery_max_charge_w", bat.get("max_charge_w", 5000))
            self.max_discharge_w = world.get("battery_max_discharge_w", bat.get("max_discharge_w", 5000))
            self.reserve_soc = world.get("battery_reserve_soc", bat.get("soc_min", 20))
            self.capacity_wh = world.get("battery_capacity_wh", 0)
            self.series = world.get("battery_coupling", bat.get("coupling", "series")) == "series"
        self.off_grid = world.get("off_grid", site.get("off_grid", False))
        self.symmetric = world.get("inverter_output", site.get("inverter_output", "symmetric")) == "symmetric"
        self.inv_max_w = world.get("inverter_max_w", site.get("inverter_max_w", 0))
        self.inv_max_phase_w = world.get("inverter_max_phase_w", site.get("inverter_max_phase_w", 0))
        self.battery_w = 0.0
        self.solar_out_w = 0.0        # what the PV produces (less off-grid when curtailed)
        self.supply_w = [0.0] * self.n    # what the inverter(s) put on each phase
        self.unsupplied_w = 0.0
        self.cars = []
        self.maps = []
        for c in chargers:
            pm = c.get("phase_map") or "ABC"[:c.get("phases", 3)]
            self.maps.append(pm)
            self.cars.append(Car(c["car"], len(pm)) if c.get("car") is not None else None)
        self.grid_a = [0.0] * self.n
        self.settle()

    def car_draws(self):
        """Per charger: the current on each of its phases L1..Ln."""
        out = []
        for i in range(len(self.cars)):
            car = self.cars[i]
            n = len(self.maps[i])
            d = [0.0] * n
            if car is not None:
                for k in range(car.phases):
                    d[k] = car.draw_a
            out.append(d)
        return out

    def ev_phase_a(self):
        ev = [0.0] * self.n
        draws = self.car_draws()
        for i in range(len(draws)):
            for k in range(len(draws[i])):
                ev["ABC".index(self.maps[i][k])] += draws[i][k]
        return ev

    def settle(self):
        """Recompute the battery's response and the grid for the present loads."""
        ev = self.ev_phase_a()
        load = [(self.household_a[p] + ev[p]) * self.volts for p in range(self.n)]
        total = sum(load)
        solar = self.solar_w
        b = 0.0
        self.unsupplied_w = 0.0
        if self.has_battery:
            dis = self.max_discharge_w
            if self.series and self.inv_max_w:
                dis = min(dis, max(0.0, self.inv_max_w - solar))   # it shares the inverter with the PV
            balance = solar - total
            if balance > 0 and self.soc < 100:
                b = min(balance, self.max_charge_w)
            elif balance < 0 and self.soc > self.reserve_soc:
                b = -min(-balance, dis)
        if self.off_grid:
            if solar - total > b:
                solar = total + b            # nothing takes the rest: the PV is curtailed
            elif solar - total < b:
                self.unsupplied_w = b - (solar - total)
        self.battery_w = b
        self.solar_out_w = solar
        supply = solar - b
        if self.off_grid:
            self.supply_w = list(load)
        elif self.symmetric:
            self.supply_w = [supply / self.n] * self.n
        else:
            self.supply_w = _follow_load(supply, load, self.inv_max_phase_w)
        self.grid_a = [(load[p] - self.supply_w[p]) / self.volts for p in range(self.n)]

    def inverter_overload_w(self):
        """How far the inverter's output is above its max, total or on its worst phase (W)."""
        over = 0.0
        if self.inv_max_w:
            over = max(over, sum(self.supply_w) - self.inv_max_w)
        if self.inv_max_phase_w:
            for x in self.supply_w:
                over = max(over, x - self.inv_max_phase_w)
        return over

    def step(self, dt_s):
        """Advance time: cars move toward their limits, the battery's SOC moves."""
        for car in self.cars:
            if car is not None:
                car.step(dt_s)
        if self.has_battery and self.capacity_wh:
            self.soc += self.battery_w * dt_s / 3600.0 / self.capacity_wh * 100.0
            self.soc = min(100.0, max(0.0, self.soc))
        self.settle()

    def set_limits(self, limits_a):
        for i in range(len(self.cars)):
            if self.cars[i] is not None:
                self.cars[i].limit_a = limits_a[i]

    def readings(self, sensors):
        """The site readings the controller gets, as the engine names them.

        ``sensors``: grid = per_phase_a | per_phase_w | total_w | none (always none
        off-grid); solar, battery_power, inverter (its AC output), inverter_phases (the
        same per phase), voltage: booleans.
        """
        r = {}
        grid = "none" if self.off_grid else sensors.get("grid", "per_phase_a")
        if grid == "per_phase_a":
            r["grid_a"] = list(self.grid_a)
        elif grid == "per_phase_w":
            r["grid_w"] = [g * self.volts for g in self.grid_a]
        elif grid == "total_w":
            r["grid_total_w"] = sum(self.grid_a) * self.volts
        if sensors.get("solar", True):
            r["solar_w"] = self.solar_out_w
        if self.has_battery:
            r["battery_soc"] = self.soc
            if sensors.get("battery_power", True):
                r["battery_w"] = self.battery_w
        # the inverter's AC output: with a series battery everything, else the PV alone
        pv_only = self.has_battery and not self.series
        if sensors.get("inverter", False):
            r["inverter_w"] = self.solar_out_w if pv_only else sum(self.supply_w)
        if sensors.get("inverter_phases", False):
            r["inverter_phase_w"] = [self.solar_out_w / self.n] * self.n if pv_only else list(self.supply_w)
        if sensors.get("voltage", False):
            r["voltage"] = self.volts
        return r

    def charger_live(self):
        """Each charger's OCPP view: status and metered draw per phase."""
        out = []
        draws = self.car_draws()
        for i in range(len(self.cars)):
            car = self.cars[i]
            if car is None:
                out.append({"status": "Available", "draw_a": draws[i]})
            else:
                status = "Charging" if car.draw_a > 0 else "SuspendedEVSE"
                out.append({"status": status, "draw_a": draws[i]})
        return out
