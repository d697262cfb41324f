"""The allocation engine: how many amps each charger may draw, for one instant.

``allocate(site, chargers, state=None)`` is a plain function over plain data, the same
on the board and on a PC. It does DESIGN.md section 4 steps 2-4: remove the chargers'
own draw from the grid reading, build the limits (breaker per phase, import power,
circuit groups, each charging mode's power pool) and distribute between the active
chargers.

``site`` (dict) holds the site settings (see ``config.site.SITE_FIELDS``; ``battery``: None or
a dict of ``config.site.BATTERY_FIELDS``; ``groups``: list of ``{id, limit_a, chargers}``)
and the latest readings, each optional (absent or None means unknown):

- ``grid_a``: signed current per site phase, A (+ import, - export), one entry per
  existing phase (a 1-phase site has one); or ``grid_w``: the same in W per phase;
- ``grid_total_w``: signed total grid power, used for the power balance when the
  per-phase readings are incomplete;
- ``voltage``: measured phase voltage (a number, or a list per phase); default voltage_v;
- ``solar_w``: PV production; without it the surplus is derived from export and battery;
- ``battery_soc`` (%) and ``battery_w`` (+ charging, - discharging);
- ``inverter_w`` and ``inverter_phase_w`` (a list per site phase): the PV/hybrid
  inverter's AC output, W. Solar is derived from it when ``solar_w`` is absent; an
  asymmetric inverter's per-phase limit and an off-grid site's load per phase come from it;
- ``fixed_a``: current per site phase of loads to count on top of the net (the regulator's
  uncontrolled chargers, whose own draw it passes as ``draw_a``).

On an off-grid site (``off_grid``) the grid readings are ignored: there is no grid, the
phases are limited by the inverter (``inverter_max_phase_w``, ``inverter_max_w``) and the
result says ``off_grid``. docs/modes.md describes the sources (``core.sources``).

``chargers`` (list of dicts) hold each charger's settings (``config.site.CHARGER_FIELDS``)
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
or other chargers leave too little, "inactive"; ``mode_reaches_min``: whether its
mode's own sources alone would give it its minimum; ``mode_gives_min``: whether they do
as the chargers before it in the distribution order leave them, its own
``hold_min`` aside), ``site`` (``headroom_a`` per phase, ``net_a``, ``net_w``, ``surplus_w``,
``export_w``, ``solar_w``, ``inverter_w``, ``off_grid``, ``soc_above_min``,
``soc_above_target``, ``warnings``) and ``state``. Currents are floored to 0.1 A by
integer arithmetic.
"""
from dynevse.compat import const, is_number
from dynevse.core.distribute import Allocation, run
from dynevse.core.sources import Site, Sources, above, battery_state, milli  # noqa: F401  (above, milli: part of this API)

URGENCY = {"standard": 0, "eco": 1, "solar": 2, "excess": 3}
_GRACE_URGENCY = const(2)        # Solar and Excess: the modes that ride a dip on a hold
ACTIVE_STATUSES = ("Preparing", "Charging", "SuspendedEVSE")
_PHASE_IN_USE_MA = const(1000)   # a car phase counts as used from 1 A of draw
_STEP_MA = const(100)            # results are floored to 0.1 A


def is_active(status, draw_ma):
    """A car is connected and may charge: Preparing, Charging, SuspendedEVSE, or
    SuspendedEV while it still draws."""
    if status in ACTIVE_STATUSES:
        return True
    return status == "SuspendedEV" and draw_ma >= _PHASE_IN_USE_MA


def _floor_a(ma):
    if ma <= 0:
        return 0.0
    return (ma // _STEP_MA) / 10


def _phases_in_use(c, draw):
    n = len(c["phase_map"])
    cp = c.get("car_phases")
    if is_number(cp) and 1 <= cp <= n:
        return list(range(int(cp)))
    used = [i for i in range(n) if draw[i] >= _PHASE_IN_USE_MA]
    return used if used else list(range(n))


class _Plan:
    """The constraints of one instant, from which allocations are computed."""

    def __init__(self, groups, chargers, s, src):
        self.groups = groups
        self.chargers = chargers
        self.s = s
        self.src = src

    def solve(self, members, phases, policy, hold=True):
        """Allocate between ``members`` (charger indexes) given each one's phases in use.

        Returns the Allocation, indexed like ``members``.
        """
        s = self.s
        src = self.src
        n = len(s.volts)
        caps = []
        soft = []
        pool = []

        def add(cap, is_soft=False, is_pool=False):
            caps.append(cap)
            soft.append(is_soft)
            pool.append(is_pool)
            return len(caps) - 1

        for p in range(n):
            net = s.net[p]
            add(s.limit[p] - (net if net is not None else 0))
        k_load = None if s.load_room_w is None else add(s.load_room_w * 1000)
        k_import = k_battery = None
        if src.import_w is not None:
            k_import = add(src.import_w * 1000)
            if src.import_battery_w is not None and src.import_battery_w > src.import_w:
                k_battery = add(src.import_battery_w * 1000)
        k_groups = []
        for g in self.groups:
            k_groups.append(len(caps))
            for p in range(n):
                add(milli(g["limit_a"]))
        k_pool = {}         # mode: (k of the total or None, k of phase A's or None)
        for i in members:
            m = self.chargers[i]["_mode"]
            if m in k_pool:
                continue
            total, per, floor = src.pools[m]
            kt = None if total is None else add(total * 1000, floor, True)
            kp = None
            if per is not None:
                kp = len(caps)
                for p in range(n):
                    add(per[p] * 1000, floor, True)
            k_pool[m] = (kt, kp)
        a = Allocation(len(members), caps, soft, pool)
        urgency = []
        for j in range(len(members)):
            c = self.chargers[members[j]]
            mode = c["_mode"]
            a.mins[j] = milli(c["min_a"])
            a.maxs[j] = milli(c["max_a"])
            a.hold[j] = hold and c["_hold"]
            urgency.append(URGENCY[mode])
            site_phases = ["ABC".index(c["phase_map"][i]) for i in phases[j]]
            vsum = 0
            for p in site_phases:
                a.link(j, p, 1)
                vsum += s.volts[p]
            if k_load is not None:
                a.link(j, k_load, vsum)
            if k_battery is not None:
                # the battery's discharge counts toward the import limit only for the modes
                # that allow it; every car is counted against the larger room
                a.link(j, k_battery, vsum)
            if k_import is not None and (k_battery is None or not src.counts_battery.get(mode)):
                a.link(j, k_import, vsum)
            for gi in range(len(self.groups)):
                if c["id"] in self.groups[gi]["chargers"]:
                    for p in site_phases:
                        a.link(j, k_groups[gi] + p, 1)
            for m in k_pool:
                kt, kp = k_pool[m]
                if kt is not None:
                    a.link(j, kt, vsum, m == mode)
                if kp is not None:
                    # a phase's own pool: every car on it uses it up; see Sources
                    lim = m == mode and (src.every_car or len(site_phases) < n)
                    for p in site_phases:
                        a.link(j, kp + p, s.volts[p], lim)
        order = sorted(range(len(members)),
                       key=lambda j: (urgency[j], self.chargers[members[j]]["priority"],
                                      self.chargers[members[j]]["id"]))

        def own(j):
            kt, kp = k_pool.get(self.chargers[members[j]]["_mode"], (None, None))
            ks = [] if kt is None else [kt]
            if kp is not None:
                ks += range(kp, kp + n)
            return ks

        run(policy, a, order, urgency, own)
        a.own = own
        return a


def _gives_min(plan, policy, chs, active, in_use, out, i, main, trial):
    """Whether charger i's mode's sources give it its minimum as the chargers before it
    in the order leave them, its own hold aside: two Solar cars the sun gives one
    minimum are not both held there while the grid pays. Of the Solar and Excess
    chargers before it, only those held at a minimum their mode alone gives count: one
    that holds none is stopped or stopping, one riding its grace is on its way out."""
    c = chs[i]
    if c["_active"]:
        here, j = main, active.index(i)
        if c["_hold"]:
            ks = [k for k in range(len(active)) if active[k] == i
                  or URGENCY[chs[active[k]]["_mode"]] < _GRACE_URGENCY
                  or chs[active[k]]["_hold"] and out[active[k]]["mode_reaches_min"]]
            c["_hold"] = False
            here = plan.solve([active[k] for k in ks], [in_use[k] for k in ks], policy)
            c["_hold"] = True
            j = ks.index(j)
    else:
        here, j = trial, len(active)
    return here.amt[j] >= here.mins[j] > 0 or \
        here.headroom(j, True, here.own(j)) + here.amt[j] >= max(here.mins[j], 1)


def allocate(site, chargers, state=None, settings=None):
    """Allocate current to each charger; see the module docstring for the data.

    ``settings`` is what ``config.check.check_setup(site, chargers)`` returned for these
    settings: the board validates once and passes it every cycle, so the schema need not
    stay in memory. Without it the settings are validated here.
    """
    if settings is None:
        from dynevse.config.check import check_setup
        settings = check_setup(site, chargers)
    cfg = settings[0]
    chs = [dict(c) for c in settings[1]]
    groups = settings[2]
    warnings = []
    for i in range(len(chs)):
        chs[i]["_mode"] = chs[i]["mode"] or cfg["mode"]
        live = chargers[i]
        chs[i]["draw_a"] = live.get("draw_a")
        chs[i]["car_phases"] = live.get("car_phases")
        chs[i]["_hold"] = live.get("hold_min") is True
    rules, bat_w, st = battery_state(site, cfg["battery"], state, warnings)
    s = Site(site, cfg, chs, bat_w)
    if s.off_grid:
        warnings.append("off_grid")
        if s.phases_known < len(s.volts):
            warnings.append("no_load_data")
    elif s.phases_known == 0:
        warnings.append("no_grid_data")
    elif s.phases_known < len(s.volts):
        warnings.append("grid_phase_missing")
    src = Sources(cfg, s, rules, bat_w, st, warnings)

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
    plan = _Plan(groups, chs, s, src)
    policy = cfg["distribution"]
    main = plan.solve(active, in_use, policy)

    out = []
    trials = {}
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
        if not c["_active"]:
            trials[i] = trial
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
    for i in range(len(chs)):
        out[i]["mode_gives_min"] = _gives_min(plan, policy, chs, active, in_use, out, i, main,
                                               trials.get(i))
    headroom = []
    net_a = []
    for p in range(len(s.volts)):
        net = s.net[p]
        headroom.append(_floor_a(s.limit[p] - (net if net is not None else 0)))
        net_a.append(None if net is None else net / 1000)
        if net is not None and net > s.limit[p]:
            warnings.append("over_breaker")
    solar = s.solar_w
    if solar is None:
        solar = src.surplus
    result_site = {
        "headroom_a": headroom,
        "net_a": net_a,
        "net_w": s.net_w,
        "surplus_w": src.surplus,
        "export_w": src.export,
        "solar_w": solar,
        "inverter_w": s.inverter_w,
        "off_grid": s.off_grid,
        "soc_above_min": st.get("above_min"),
        "soc_above_target": st.get("above_target"),
        "warnings": warnings,
    }
    return {"chargers": out, "site": result_site, "state": st}
