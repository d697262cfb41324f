"""What the site can give the cars at one instant: DESIGN.md section 4 steps 2-3 and
section 5, as docs/modes.md explains them.

``Site`` turns the readings into integers with the chargers' own draw removed (on an
off-grid site: the house's load on the inverter); ``battery_state`` applies the battery's
thresholds; ``Sources`` works out each charging mode's power pool and the room under the
import limit. Currents are in mA, power in W, all integers, so both runtimes agree.
"""
from dynevse.compat import is_number

MODES = ("standard", "eco", "solar", "excess")


def milli(x):
    """A reading in units to an int in thousandths, rounded; None if not a number."""
    if not is_number(x):
        return None
    v = x * 1000
    i = int(v)
    # round half up, done on ints so both runtimes agree
    if v - i >= 0.5:
        i += 1
    elif i - v > 0.5:
        i -= 1
    return i


def whole(x):
    """A reading rounded to a whole number; None if not a number."""
    m = milli(x)
    return None if m is None else (m + 500) // 1000


def item(seq, i):
    if isinstance(seq, (list, tuple)) and i < len(seq):
        return seq[i]
    return None


def above(prev, soc, threshold, hysteresis):
    """Threshold memory: at or above ``threshold`` counts as above; once above, it counts
    as below only when soc drops under threshold - hysteresis."""
    if prev:
        return soc >= threshold - hysteresis
    return soc >= threshold


def _pos(x):
    return x if x > 0 else 0


class Site:
    """The site's readings turned into integers, with the chargers' own draw removed.

    ``net[p]`` (mA, None: unknown) is what phase p carries without the cars: the grid
    current minus the cars' on a grid site, the house's load on the inverter off-grid;
    ``limit[p]`` (mA) what phase p may carry. ``net_w`` is the power balance without the
    cars (W, + import; off-grid there is no grid: minus the cars' draw). ``solar_w`` is
    the PV production (read, or derived from the inverter's output), ``inverter_w`` and
    ``inverter_phase_w`` the inverter's AC output, ``load_room_w`` what an off-grid
    inverter can still supply in total.
    """

    def __init__(self, site, cfg, chargers, bat_w):
        n = cfg["phases"]
        v_cfg = whole(cfg["voltage_v"])
        meas = site.get("voltage")
        volts = []
        for p in range(n):
            v = whole(meas if is_number(meas) else item(meas, p))
            volts.append(v if v is not None and 50 <= v <= 500 else v_cfg)
        self.volts = volts
        self.off_grid = off = cfg["off_grid"]
        self.ev = [0] * n
        self.draws = []
        for c in chargers:
            d = []
            for i in range(len(c["phase_map"])):
                x = milli(item(c.get("draw_a"), i))
                d.append(x if x is not None and x > 0 else 0)
                self.ev["ABC".index(c["phase_map"][i])] += d[i]
            self.draws.append(d)
        ev_w = 0
        for p in range(n):
            ev_w += self.ev[p] * volts[p]
        ev_w //= 1000
        ph = [whole(item(site.get("inverter_phase_w"), p)) for p in range(n)]
        self.inverter_phase_w = None if None in ph else ph
        inv = whole(site.get("inverter_w"))
        if inv is None and self.inverter_phase_w is not None:
            inv = sum(ph)
        self.inverter_w = inv
        bat = cfg["battery"]
        series = bat is not None and bat["coupling"] == "series"
        solar = whole(site.get("solar_w"))
        if solar is None and inv is not None:
            # series: the battery's power goes through the inverter; parallel: it has its own
            solar = inv if not series else (None if bat_w is None else inv + bat_w)
        self.solar_w = solar
        self.series = series
        limit = milli(cfg["breaker_a"] - cfg["breaker_margin_a"])
        self.limit = [limit] * n
        self.load_room_w = None
        if off:
            self._off_grid(site, cfg, ev_w, bat_w, series)
            return
        grid = []
        for p in range(n):
            g = milli(item(site.get("grid_a"), p))
            if g is None:
                w = milli(item(site.get("grid_w"), p))     # mW
                if w is not None:
                    g = w // volts[p]
            grid.append(g)
        self.net = [None if grid[p] is None else grid[p] - self.ev[p] for p in range(n)]
        net_w = None
        if n and None not in grid:
            net_w = 0
            for p in range(n):
                net_w += self.net[p] * volts[p]
            net_w //= 1000
        else:
            total = whole(site.get("grid_total_w"))
            if total is not None:
                net_w = total - ev_w
        self.net_w = net_w
        self.phases_known = n - grid.count(None)
        self._fixed(site)

    def _fixed(self, site):
        # loads the regulator counts besides the net: its uncontrolled chargers, whose draw
        # came in as draw_a and was taken out with the other cars' (an unknown phase stays
        # unknown: never headroom)
        fixed_w = 0
        for p in range(len(self.volts)):
            f = milli(item(site.get("fixed_a"), p))
            if f is not None and f > 0:
                if self.net[p] is not None:
                    self.net[p] += f
                fixed_w += f * self.volts[p]
        if self.net_w is not None:
            self.net_w += fixed_w // 1000

    def _off_grid(self, site, cfg, ev_w, bat_w, series):
        # No grid: the balance without the cars is minus their draw (solar = house + battery
        # + cars). The phases carry the house's load on the inverter.
        n = len(self.volts)
        volts = self.volts
        self.net_w = -ev_w
        load = self.inverter_w          # series or no battery: the inverter supplies everything
        if load is not None and cfg["battery"] is not None and not series:
            load = None if bat_w is None else load - bat_w
        if load is None and self.solar_w is not None and (bat_w is not None or cfg["battery"] is None):
            load = self.solar_w - (bat_w or 0)
        house = None if load is None else load - ev_w
        per = self.inverter_phase_w if (series or cfg["battery"] is None) else None
        net = []
        for p in range(n):
            if per is not None:
                net.append(per[p] * 1000 // volts[p] - self.ev[p])
            else:
                # one phase's share unknown: it may carry the whole house (1 phase: exact)
                net.append(None if house is None else house * 1000 // volts[p])
        self.net = net
        self.phases_known = n - net.count(None)
        self._fixed(site)
        mp = whole(cfg["inverter_max_phase_w"])
        if mp > 0:
            for p in range(n):
                m = mp * 1000 // volts[p]
                if m < self.limit[p]:
                    self.limit[p] = m
        mt = whole(cfg["inverter_max_w"])
        if mt > 0:
            self.load_room_w = mt - (house or 0)


def battery_state(site, bat, state, warnings):
    """The battery's part: (its rules apply, power W or None, threshold state)."""
    if bat is None:
        return False, None, {}
    soc = site.get("battery_soc")
    bat_w = whole(site.get("battery_w"))
    prev = state if isinstance(state, dict) else {}
    if bat_w is None:
        warnings.append("battery_power_missing")
    if not is_number(soc):
        warnings.append("battery_soc_missing")
        return False, bat_w, prev
    h = bat["soc_hysteresis"]
    st = {
        "above_min": above(prev.get("above_min"), soc, bat["soc_min"], h),
        "above_target": above(prev.get("above_target"), soc, bat["soc_target"], h),
        "full": above(prev.get("full"), soc, 100, h),
    }
    return True, bat_w, st


def _share(seen, net, b, solar, room, dis):
    """(surplus, export, discharge room) of a site or of one phase's share of it, in W."""
    if seen:
        # The surplus is solar minus house; without the cars the battery would take up to
        # ``room`` of it and the rest would be exported. This holds even while the battery
        # discharges into a car.
        surplus = _pos(b - net)
        export = _pos(surplus - room)
    else:
        # No battery: what goes out is the surplus. A battery we can't see: claim only
        # what is measured going out.
        surplus = export = _pos(-net)
    if solar is not None:
        if surplus > solar:
            surplus = solar
        if export > solar:
            export = solar
    return surplus, export, _pos(dis - _pos(net - b))


def _mode_pools(rules, st, grid_ok, off_grid, surplus, export, discharge, thr):
    """Each mode's pool (W, None: no pool), in MODES order."""
    if rules:
        at = st["above_target"]
        return [None if grid_ok else surplus + discharge,
                surplus + discharge if at else export,
                surplus + discharge if at else 0,
                (surplus if at else export) - thr]
    return [None if grid_ok or off_grid else export, export, export, export - thr]


class Sources:
    """Each mode's power pool and the room under the import limit; docs/modes.md.

    ``pools[mode]`` is ``(total W or None, [W per site phase] or None, floor)``: the
    pool over all phases (consumed at the car's power), the pool of each phase (the
    meter bills per phase; it limits every car when ``every_car``, else only the cars on
    fewer phases than the site), and whether the mode's minimum may come from the grid
    anyway (Eco). ``import_w`` is the room under the import limit for a car whose mode doesn't
    count the battery (None: no limit), ``import_battery_w`` the room for one whose mode
    does (None: the same), ``counts_battery[mode]`` which modes do.
    """

    def __init__(self, cfg, s, rules, bat_w, st, warnings):
        bat = cfg["battery"]
        off = s.off_grid
        grid_ok = cfg["allow_grid_charging"] and not off
        self.import_w = self.import_battery_w = None
        self.every_car = cfg["inverter_output"] == "asymmetric"
        self.counts_battery = {}
        self.surplus = self.export = None
        net = s.net_w
        if cfg["max_import_w"] > 0 and not off:
            self.import_w = whole(cfg["max_import_w"]) - whole(cfg["power_buffer_w"]) - (net or 0)
        if net is None:
            warnings.append("no_power_data")
            eco_floor = grid_ok and not (rules and not st["above_min"])
            self.pools = {"standard": (None if grid_ok else 0, None, False), "eco": (0, None, eco_floor),
                          "solar": (0, None, False), "excess": (0, None, False)}
            return
        n = len(s.volts)
        thr = whole(cfg["excess_threshold_w"])
        seen = bat is not None and bat_w is not None
        b = bat_w if bat_w is not None else 0
        solar = s.solar_w
        room = 0
        dis_max = 0
        if bat is not None:
            room = 0 if rules and st["full"] else whole(bat["max_charge_w"])
            dis_max = whole(bat["max_discharge_w"])
            inv_max = whole(cfg["inverter_max_w"])
            if s.series and inv_max > 0:
                # the battery's power goes through the inverter: it can't give more than
                # the inverter has left beside the sun
                left = _pos(inv_max - (solar or 0))
                if left < dis_max:
                    dis_max = left
        dis = dis_max if rules and seen and st["above_min"] else 0
        surplus, export, discharge = _share(seen, net, b, solar, room, dis)
        self.surplus, self.export = surplus, export
        totals = _mode_pools(rules, st, grid_ok, off, surplus, export, discharge, thr)
        phases = None
        if not off and n > 1 and cfg["meter_netting"] == "per_phase" and None not in s.net:
            phases = self._per_phase(cfg, s, rules, st, grid_ok, seen, b, room, thr)
        self.pools = {}
        for i in range(4):
            per = None if phases is None or totals[i] is None else phases[i]
            self.pools[MODES[i]] = (totals[i], per, grid_ok if i == 1 else False)
        if self.import_w is not None and rules and seen:
            self._import(cfg, net, b, room, dis_max, st)

    def _per_phase(self, cfg, s, rules, st, grid_ok, seen, b, room, thr):
        """Pools per phase, in MODES order, for a meter that bills each phase."""
        n = len(s.volts)
        net_w = [s.net[p] * s.volts[p] // 1000 for p in range(n)]
        if cfg["inverter_output"] == "symmetric":
            # The inverter puts the same power on every phase and the battery follows the
            # sum: a car on fewer phases than the site only has its phases' share of the
            # export the battery leaves (what it takes from the battery comes back on every
            # phase, two thirds of it imported on its own). A car on every phase draws in
            # step with the inverter: the totals are its limit.
            solar = None if s.solar_w is None else s.solar_w // n
            out = [[], [], [], []]
            for p in range(n):
                ep = _share(seen, net_w[p], b // n, solar, room // n, 0)[1]
                pools = _mode_pools(rules, st, grid_ok, False, ep, ep, 0, thr // n)
                for i in range(4):
                    out[i].append(pools[i])
            return out
        # Asymmetric: the inverter puts its power where the load is, up to its max per
        # phase (known only from its per-phase output); the total pools still apply.
        mp = whole(cfg["inverter_max_phase_w"])
        if mp <= 0 or s.inverter_phase_w is None:
            return None
        caps = []
        for p in range(n):
            # its max less the house's load on the phase (net + what it gives it now)
            caps.append(mp - s.inverter_phase_w[p] - net_w[p])
        return [caps] * 4

    def _import(self, cfg, net, b, room, dis_max, st):
        # What the house imports without the cars, the battery as it would be without them:
        # charging with up to b_nocar of the sun, or covering the house's own deficit (as far
        # as it discharges now). The same reading then gives the same room with a car idle
        # or charging; what the battery gives a car counts only for a mode that allows it.
        g0 = net - b                        # house - solar: the battery taken out
        b_nocar = _pos(-g0)
        if b_nocar > room:
            b_nocar = room
        if g0 < 0 or b >= 0:
            b0 = b if b > b_nocar else b_nocar      # more than the sun gives: grid charging
        else:
            b0 = -g0 if -b > g0 else b
        base = whole(cfg["max_import_w"]) - whole(cfg["power_buffer_w"]) - g0
        self.import_w = base - b0
        # a mode that counts the battery may also have what it would charge and its
        # discharge up to its max (grid charging still counts as the house's load)
        room_w = base + dis_max - _pos(b - b_nocar)
        self.import_battery_w = room_w if room_w > self.import_w else self.import_w
        am = st["above_min"]
        at = am and st["above_target"]
        self.counts_battery = {"standard": am, "eco": at, "solar": at, "excess": False}
