"""The allocation engine: how many amps each charger may draw, for one instant.

``allocate(site, chargers, state=None)`` is a plain function over plain data, the same
on the board and on a PC. It does DESIGN.md section 4 steps 2-4: remove the chargers'
own draw from the grid reading, build the limits (breaker per phase, import power,
circuit groups, each charging mode's power pool) and distribute between the active
chargers.

``site`` (dict) holds the site settings (see ``schema.SITE_FIELDS``; ``battery``: None or
a dict of ``schema.BATTERY_FIELDS``; ``groups``: list of ``{id, limit_a, chargers}``)
and the latest readings, each optional (absent or None means unknown):

- ``grid_a``: signed current per site phase, A (+ import, - export), one entry per
  existing phase (a 1-phase site has one); or ``grid_w``: the same in W per phase;
- ``grid_total_w``: signed total grid power, used for the power balance when the
  per-phase readings are incomplete;
- ``voltage``: measured phase voltage (a number, or a list per phase); default voltage_v;
- ``solar_w``: PV production; without it the surplus is derived from export and battery;
- ``battery_soc`` (%) and ``battery_w`` (+ charging, - discharging);
- ``fixed_a``: current per site phase of loads to count on top of the net (the regulator's
  uncontrolled chargers, whose own draw it passes as ``draw_a``).

``chargers`` (list of dicts) hold each charger's settings (``schema.CHARGER_FIELDS``)
and its live data: ``status`` (OCPP status), ``draw_a`` (metered current per charger
phase L1..L3), optionally ``active`` (overrides the status rule), ``car_phases`` (how
many phases the car draws on; otherwise derived from ``draw_a``) and ``hold_min`` (keep
at least the minimum whatever the mode's pool says, while the physical limits allow:
the regulator's Solar/Excess grace).

``state`` is the ``state`` of the previous result (the battery thresholds' hysteresis).

The result is a dict: ``chargers`` (one dict per input charger, same order: ``id``,
``allocated_a``, ``target_a``, ``available_a``, ``mode``, ``active``, ``phases_in_use``,
``site_phases`` (the site phases it loads, e.g. "B" or "ABC"), ``limited_by``: "none",
"mode" when its mode's sources can't give it its minimum, "capacity" when shared limits
or other chargers leave too little, "inactive"; and ``mode_reaches_min``: whether its
mode's own sources alone would give it its minimum), ``site`` (``headroom_a`` per phase, ``net_a``, ``net_w``, ``surplus_w``,
``export_w``, ``solar_w``, ``soc_above_min``, ``soc_above_target``, ``warnings``) and
``state``. Currents are floored to 0.1 A by integer arithmetic.
"""
from dynevse.compat import const, is_number
from dynevse.core.distribute import Allocation, run

URGENCY = {"standard": 0, "eco": 1, "solar": 2, "excess": 3}
ACTIVE_STATUSES = ("Preparing", "Charging", "SuspendedEVSE")
_PHASE_IN_USE_MA = const(1000)   # a car phase counts as used from 1 A of draw
_STEP_MA = const(100)            # results are floored to 0.1 A


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


def _item(seq, i):
    if isinstance(seq, (list, tuple)) and i < len(seq):
        return seq[i]
    return None


def is_active(status, draw_ma):
    """A car is connected and may charge: Preparing, Charging, SuspendedEVSE, or
    SuspendedEV while it still draws."""
    if status in ACTIVE_STATUSES:
        return True
    return status == "SuspendedEV" and draw_ma >= _PHASE_IN_USE_MA


def above(prev, soc, threshold, hysteresis):
    """Threshold memory: at or above ``threshold`` counts as above; once above, it counts
    as below only when soc drops under threshold - hysteresis."""
    if prev:
        return soc >= threshold - hysteresis
    return soc >= threshold


def _floor_a(ma):
    if ma <= 0:
        return 0.0
    return (ma // _STEP_MA) / 10


class _Site:
    """The site's readings turned into integers, with the chargers' own draw removed."""

    def __init__(self, site, cfg, chargers):
        n = cfg["phases"]
        v_cfg = whole(cfg["voltage_v"])
        meas = site.get("voltage")
        volts = []
        for p in range(n):
            v = whole(meas if is_number(meas) else _item(meas, p))
            volts.append(v if v is not None and 50 <= v <= 500 else v_cfg)
        self.volts = volts
        grid = []
        for p in range(n):
            g = milli(_item(site.get("grid_a"), p))
            if g is None:
                w = milli(_item(site.get("grid_w"), p))     # mW
                if w is not None:
                    g = w // volts[p]
            grid.append(g)
        self.ev = [0] * n
        self.draws = []
        for c in chargers:
            d = []
            for i in range(len(c["phase_map"])):
                x = milli(_item(c.get("draw_a"), i))
                d.append(x if x is not None and x > 0 else 0)
                self.ev["ABC".index(c["phase_map"][i])] += d[i]
            self.draws.append(d)
        self.net = [None if grid[p] is None else grid[p] - self.ev[p] for p in range(n)]
        ev_w = 0
        fixed_w = 0
        for p in range(n):
            ev_w += self.ev[p] * volts[p]
        ev_w //= 1000
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
        for p in range(n):
            # loads the regulator counts besides the net: uncontrolled chargers
            f = milli(_item(site.get("fixed_a"), p))
            if f is not None and f > 0:
                self.net[p] = f + (self.net[p] or 0)
                fixed_w += f * volts[p]
        if net_w is not None:
            net_w += fixed_w // 1000
        self.net_w = net_w
        self.phases_known = n - grid.count(None)


def _battery(site, cfg, state, warnings):
    """The battery's part: (rules apply, power W or None, threshold state)."""
    bat = cfg["battery"]
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


def _pools(cfg, s, rules, bat_w, st, warnings):
    """Each mode's power pool in W (None: no pool) and whether it is a soft floor.

    docs/modes.md gives the reasoning behind each line.
    """
    bat = cfg["battery"]
    grid_ok = cfg["allow_grid_charging"]
    thr = whole(cfg["excess_threshold_w"])
    pools = {}
    if s.net_w is None:
        warnings.append("no_power_data")
        pools["standard"] = (None, False) if grid_ok else (0, False)
        pools["eco"] = (0, grid_ok and not (rules and not st["above_min"]))
        pools["solar"] = (0, False)
        pools["excess"] = (0, False)
        return pools, None, None
    net = s.net_w
    measured = -net if net < 0 else 0
    b = bat_w if bat_w is not None else 0
    if bat is None or bat_w is None:
        # No battery: what goes out is the surplus. A battery we can't see: claim only
        # what is measured going out.
        surplus = export = measured
    else:
        # The surplus is solar minus house; without the cars the battery would take up to
        # its max charge power of it (unless full) and the rest would be exported. This
        # holds even while the battery discharges into a car.
        surplus = b - net if b - net > 0 else 0
        room = 0 if rules and st["full"] else whole(bat["max_charge_w"])
        export = surplus - room if surplus > room else 0
    solar = whole(cfg.get("_solar_w"))
    if solar is not None:
        if surplus > solar:
            surplus = solar
        if export > solar:
            export = solar
    discharge = 0
    if rules and st["above_min"]:
        deficit = net - b if net - b > 0 else 0
        left = whole(bat["max_discharge_w"]) - deficit
        discharge = left if left > 0 else 0
    if rules:
        pools["standard"] = (None, False) if grid_ok else (surplus + discharge, False)
        if not st["above_min"]:
            pools["eco"] = (0, False)
        elif not st["above_target"]:
            pools["eco"] = (export, grid_ok)
        else:
            pools["eco"] = (surplus + discharge, grid_ok)
        pools["solar"] = (surplus if st["above_target"] else 0, False)
        pools["excess"] = ((surplus if st["above_target"] else export) - thr, False)
    else:
        pools["standard"] = (None, False) if grid_ok else (export, False)
        pools["eco"] = (export, grid_ok)
        pools["solar"] = (export, False)
        pools["excess"] = (export - thr, False)
    return pools, surplus, export


def _phases_in_use(c, draw):
    n = len(c["phase_map"])
    cp = c.get("car_phases")
    if is_number(cp) and 1 <= cp <= n:
        return list(range(int(cp)))
    used = [i for i in range(n) if draw[i] >= _PHASE_IN_USE_MA]
    return used if used else list(range(n))


class _Plan:
    """The constraints of one instant, from which allocations are computed."""

    def __init__(self, cfg, groups, chargers, s, pools):
        self.cfg = cfg
        self.groups = groups
        self.chargers = chargers
        self.s = s
        self.pools = pools

    def solve(self, members, phases, policy, hold=True):
        """Allocate between ``members`` (charger indexes) given each one's phases in use.

        Returns the Allocation, indexed like ``members``.
        """
        cfg = self.cfg
        s = self.s
        n = len(s.volts)
        caps = []
        soft = []
        pool = []
        limit = milli(cfg["breaker_a"] - cfg["breaker_margin_a"])
        for p in range(n):
            net = s.net[p]
            caps.append(limit - (net if net is not None else 0))
            soft.append(False)
            pool.append(False)
        k_import = None
        if cfg["max_import_w"] > 0:
            k_import = len(caps)
            room_w = whole(cfg["max_import_w"]) - whole(cfg["power_buffer_w"]) - (s.net_w or 0)
            caps.append(room_w * 1000)
            soft.append(False)
            pool.append(False)
        k_groups = []
        for g in self.groups:
            k_groups.append(len(caps))
            for p in range(n):
                caps.append(milli(g["limit_a"]))
                soft.append(False)
                pool.append(False)
        k_pool = {}
        modes = []
        for i in members:
            m = self.chargers[i]["_mode"]
            if m not in modes:
                modes.append(m)
        for m in modes:
            pool_w, floor = self.pools[m]
            if pool_w is not None:
                k_pool[m] = len(caps)
                caps.append(pool_w * 1000)
                soft.append(floor)
                pool.append(True)
        a = Allocation(len(members), caps, soft, pool)
        urgency = []
        for j in range(len(members)):
            c = self.chargers[members[j]]
            a.mins[j] = milli(c["min_a"])
            a.maxs[j] = milli(c["max_a"])
            a.hold[j] = hold and c["_hold"]
            urgency.append(URGENCY[c["_mode"]])
            site_phases = ["ABC".index(c["phase_map"][i]) for i in phases[j]]
            vsum = 0
            for p in site_phases:
                a.link(j, p, 1)
                vsum += s.volts[p]
            if k_import is not None:
                a.link(j, k_import, vsum)
            for gi in range(len(self.groups)):
                if c["id"] in self.groups[gi]["chargers"]:
                    for p in site_phases:
                        a.link(j, k_groups[gi] + p, 1)
            for m in k_pool:
                a.link(j, k_pool[m], vsum, m == c["_mode"])
        order = sorted(range(len(members)),
                       key=lambda j: (urgency[j], self.chargers[members[j]]["priority"],
                                      self.chargers[members[j]]["id"]))

        def own(j):
            m = self.chargers[members[j]]["_mode"]
            return [k_pool[m]] if m in k_pool else []

        run(policy, a, order, urgency, own)
        a.own = own
        return a


def allocate(site, chargers, state=None, settings=None):
    """Allocate current to each charger; see the module docstring for the data.

    ``settings`` is what ``schema.check_setup(site, chargers)`` returned for these
    settings: the board validates once and passes it every cycle, so the schema need not
    stay in memory. Without it the settings are validated here.
    """
    if settings is None:
        from dynevse.core import schema
        settings = schema.check_setup(site, chargers)
    cfg = dict(settings[0])
    chs = [dict(c) for c in settings[1]]
    groups = settings[2]
    warnings = []
    cfg["_solar_w"] = site.get("solar_w") if is_number(site.get("solar_w")) else None
    for i in range(len(chs)):
        chs[i]["_mode"] = chs[i]["mode"] or cfg["mode"]
        live = chargers[i]
        chs[i]["draw_a"] = live.get("draw_a")
        chs[i]["car_phases"] = live.get("car_phases")
        chs[i]["_hold"] = live.get("hold_min") is True
    s = _Site(site, cfg, chs)
    if s.phases_known == 0:
        warnings.append("no_grid_data")
    elif s.phases_known < len(s.volts):
        warnings.append("grid_phase_missing")
    rules, bat_w, st = _battery(site, cfg, state, warnings)
    pools, surplus, export = _pools(cfg, s, rules, bat_w, st, warnings)

    active = []
    in_use = []
    for i in range(len(chs)):
        draw = s.draws[i]
        flag = chargers[i].get("active")
        act = flag if type(flag) is bool else is_active(chargers[i].get("status"), max(draw) if draw else 0)
        chs[i]["_active"] = act
        if act:
            active.append(i)
            in_use.append(_phases_in_use(chs[i], draw))
    plan = _Plan(cfg, groups, chs, s, pools)
    policy = cfg["distribution"]
    main = plan.solve(active, in_use, policy)

    out = []
    for i in range(len(chs)):
        c = chs[i]
        all_phases = list(range(len(c["phase_map"])))
        if c["_active"]:
            j = active.index(i)
            got = main.amt[j]
            phases = in_use[j]
            avail = got
        else:
            got = 0
            phases = all_phases
            # What it would get if a car plugged in now, the others as they are.
            trial = plan.solve(active + [i], in_use + [all_phases], policy)
            avail = trial.amt[len(active)]
        solo = plan.solve([i], [phases], policy, False)
        target = solo.amt[0]
        # Could its mode's own sources (pool, Eco floor) give it its minimum?
        mode_ok = solo.headroom(0, True, solo.own(0)) + solo.amt[0] >= max(solo.mins[0], 1)
        if got >= solo.mins[0] and got > 0:
            why = "none"
        else:
            why = "capacity" if mode_ok else "mode"
        out.append({
            "id": c["id"],
            "mode": c["_mode"],
            "active": c["_active"],
            "allocated_a": _floor_a(got),
            "target_a": _floor_a(target),
            "available_a": _floor_a(avail),
            "phases_in_use": len(phases),
            "site_phases": "".join(c["phase_map"][k] for k in phases),
            "limited_by": why if c["_active"] else "inactive",
            "mode_reaches_min": mode_ok,
        })
    limit = milli(cfg["breaker_a"] - cfg["breaker_margin_a"])
    headroom = []
    net_a = []
    for p in range(len(s.volts)):
        net = s.net[p]
        headroom.append(_floor_a(limit - (net if net is not None else 0)))
        net_a.append(None if net is None else net / 1000)
        if net is not None and net > limit:
            warnings.append("over_breaker")
    solar = cfg["_solar_w"]
    if solar is None and surplus is not None:
        solar = surplus
    result_site = {
        "headroom_a": headroom,
        "net_a": net_a,
        "net_w": s.net_w,
        "surplus_w": surplus,
        "export_w": export,
        "solar_w": solar,
        "soc_above_min": st.get("above_min"),
        "soc_above_target": st.get("above_target"),
        "warnings": warnings,
    }
    return {"chargers": out, "site": result_site, "state": st}
