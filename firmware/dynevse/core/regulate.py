"""Regulation over time: between the engine's allocation and the limit a charger should have.

``Regulator(settings).step(now_s, site, chargers, ages)`` is called once per control
cycle with time passed in as a number (seconds), so tests drive it with a fake clock.
``site`` and ``chargers`` are what ``engine.allocate`` takes; each charger may also carry
``connected`` (default True), ``offered_a`` (OCPP Current.Offered), ``meter_age_s`` (age
of its meter values), ``delivered_a``/``delivered_s`` (the limit the charger accepted and
that is in force, and when it accepted it, on ``now_s``'s clock; None when none is known)
and ``control`` ("ok", "pending" or "refused": the charger rejected every kind of
profile) and ``fallback_held`` (our fallback profile is known installed in it; without
it a charger out of reach may draw its own rating, ``max_a``). ``ages`` maps a site reading's name (``grid_a``, ``solar_w``, ...) to its age
in seconds (absent: fresh).

It returns ``{"chargers": [...], "site": {...}, "engine": result}``; per charger:
``limit_a`` (the limit it should have now, floored to 0.1 A; 0 = stopped: a 0 A limit is
a limit too and stays wanted), ``phases_in_use``, ``reason`` (``ok``, ``ramping``,
``waiting_for_room``, ``paused``, ``grace``, ``stale_hold``, ``stale_fallback``,
``over_limit_cut``, ``no_capacity``, ``mode_limit``, ``inactive``, ``uncontrolled``),
``clear_and_resend`` (it does not follow its profile: the sender clears and sends again),
``compliance_failures``, ``paused_left_s``, ``allocated_a``, ``target_a``,
``available_a``, ``mode``. Delivery (send on change, refresh before expiry) belongs to the
OCPP sender. docs/regulation.md explains every rule; the settings are
``config.fields.REGULATION_FIELDS``; ``status.text`` turns a row into words.
"""
from dynevse.compat import const, is_number
from dynevse.core.engine import ACTIVE_STATUSES, URGENCY, allocate, milli
from dynevse.core.phases import cut, grid_ma, import_w, make_after_break
from dynevse.core.readings import GRID_KEYS, ReadingCheck
from dynevse.core.response import CarResponse

_GRACE_MODES = ("solar", "excess")
_UNPLUGGED = ("Available", "Unavailable", "Faulted")
_DA = const(100)   # limits are kept in tenths of an amp: mA // 100
_STOPS = ("no_capacity", "mode_limit", "over_limit_cut")   # a stop for lack of power


class _State:
    """What the regulator remembers about one charger."""

    def __init__(self, response_s):
        self.cmd = 0             # the limit it should have, tenths of an amp
        self.paused_until = None
        self.grace_since = None
        self.idle_since = None
        self.mode = None
        self.bad_cycles = 0
        self.failures = 0
        self.ignoring = False    # accepts its limit but draws above it
        self.plugged = False
        self.budget_ws = 0       # grid energy a grace ride may still take, W s
        self.sun_stop = False    # the pause is for a Solar/Excess stop: the sun went
        self.sun_since = None    # since when the mode's sources give the minimum again
        self.last_s = None
        self.reach = None        # (limit in force mA, since s) when last connected
        self.car = CarResponse(response_s)


def _da(a):
    return milli(a) // _DA


class Regulator:
    """Stateful controller: break before make, ramps, dead band, pauses, grace, stale and
    implausible data, compliance, uncontrolled chargers as fixed load."""

    def __init__(self, settings=None, checked=False):
        """``settings``: the regulation section; ``checked``: it already went through
        ``config.check.check_regulation`` (the board's case: the schema need not stay loaded)."""
        if not checked:
            from dynevse.config.check import check_regulation
            settings = check_regulation(settings)
        self.cfg = settings
        self.states = {}
        self.bat_state = None
        self.check = ReadingCheck()
        self.prev_grid = None
        self.prev_s = None

    def forget(self, charger_id):
        """Drop a charger's memory (removed from the configuration)."""
        self.states.pop(charger_id, None)

    def _state(self, cid):
        st = self.states.get(cid)
        if st is None:
            st = _State(self.cfg["car_response_s"])
            self.states[cid] = st
        return st

    def step(self, now_s, site, chargers, ages=None, settings=None):
        """One control cycle; see the module docstring. ``settings``: as for
        ``engine.allocate`` (validated site, chargers and groups), or None."""
        cfg = self.cfg
        if settings is None:
            from dynevse.config.check import check_setup
            settings = check_setup(site, chargers)
        site_cfg, ch_cfgs, groups = settings
        fresh, stale_for, refused, news = self.check.check(now_s, site, ages or {}, cfg)
        grid = grid_ma(fresh, site_cfg)
        limit = milli(site_cfg["breaker_a"] - site_cfg["breaker_margin_a"])
        sts = []
        for i in range(len(chargers)):
            ch = chargers[i]
            st = self._state(ch["id"])
            sts.append(st)
            plugged = ch.get("connected", True) is not False and ch.get("status") not in _UNPLUGGED
            if st.plugged and not plugged:
                st.car.forget()
                st.ignoring = False
                st.budget_ws = 0
            st.plugged = plugged
            ds = ch.get("delivered_s")
            if ch.get("connected", True) is not False and ch.get("delivered_a") is not None:
                st.reach = (milli(ch["delivered_a"]), now_s if ds is None else ds)
            before = self.prev_grid if (self.prev_s is not None and ds is not None and ds >= self.prev_s) else None
            st.car.update(now_s, ch, cfg, before)
        if grid:
            # when the grid reading arrived (the oldest of its parts)
            age = 0
            for k in GRID_KEYS:
                a = (ages or {}).get(k) if site.get(k) is not None else None
                if a is not None and a > age:
                    age = a
            for st in sts:
                st.car.grid_arrived(now_s - age)
        letters = [self._letters(ch_cfgs[i], sts[i]) for i in range(len(chargers))]
        if grid:
            for i in range(len(chargers)):
                busy = [j for j in range(len(chargers)) if j != i and sts[j].car.changing()
                        and [x for x in letters[j] if x in letters[i]]]
                if not busy:
                    sts[i].car.grid_check(grid, ["ABC".index(x) for x in letters[i]])
        bases, draws, fixed, flags = self._prepare(now_s, site, chargers, ch_cfgs, sts)
        site_e = fresh
        if fixed:
            site_e = dict(fresh)
            site_e["fixed_a"] = [x / 1000 for x in fixed]
        res_hi = self._engine(site_e, bases, [d[1] for d in draws], settings)
        self.bat_state = res_hi["state"]
        res_lo = res_hi
        if [i for i in range(len(draws)) if draws[i][0] is not draws[i][1]]:
            res_lo = self._engine(site_e, bases, [d[0] for d in draws], settings)
            # A stopped car the measured view gives less than its minimum does not start
            # this cycle: it takes nothing from the others in the favourable view either
            # (there, a car that has not yet risen to its new limit looks like room)
            idle = [i for i in range(len(bases)) if bases[i]["active"] and sts[i].cmd == 0
                    and _da(res_lo["chargers"][i]["allocated_a"]) < _da(ch_cfgs[i]["min_a"])
                    and res_hi["chargers"][i]["allocated_a"] > 0]
            if idle:
                hi_bases = list(bases)
                for i in idle:
                    hi_bases[i] = dict(bases[i], active=False)
                res_hi = self._engine(site_e, hi_bases, [d[1] for d in draws], settings)
        # A phase measured over its limit is planned with each car coming down taken as
        # far down as the grid shows, every other car at its least.
        exp = []
        for i in range(len(chargers)):
            car = sts[i].car
            idx = ["ABC".index(x) for x in letters[i]]
            exp.append(car.expected(grid, idx) if sts[i].plugged and flags[i][3] is None else None)
        res_over = res_lo
        if [p for p in grid if p is not None and p > limit]:
            over_draws = []
            differ = False
            for i in range(len(chargers)):
                lo = sts[i].car.bounds()[0]
                if exp[i] is not None and exp[i] != lo:
                    differ = True
                    over_draws.append(sts[i].car.per_phase(exp[i], len(ch_cfgs[i]["phase_map"])))
                else:
                    over_draws.append(draws[i][0])
            if differ:
                res_over = self._engine(site_e, bases, over_draws, settings)
        order = sorted(range(len(chargers)), key=lambda i: (URGENCY[res_lo["chargers"][i]["mode"]],
                                                          ch_cfgs[i]["priority"], ch_cfgs[i]["id"]))
        new, reasons, want = self._decide(now_s, chargers, ch_cfgs, sts, res_lo, res_hi, res_over,
                                          grid, limit, stale_for, flags, site_cfg, fresh)
        com = []
        base = []
        mins = []
        for i in range(len(chargers)):
            car = sts[i].car
            fx = flags[i][3]
            plugged = sts[i].plugged
            if chargers[i].get("connected", True) is False:
                com.append(self._out_of_reach(now_s, sts[i], ch_cfgs[i], chargers[i].get("fallback_held")))
            else:
                com.append(0 if not plugged else fx if fx is not None else car.committed(milli(ch_cfgs[i]["max_a"])))
            lo, hi = car.bounds()
            # what the grid may already hold of it: a car only coming down adds nothing
            base.append(0 if not plugged else hi if car.falling() else lo)
            mins.append(_da(ch_cfgs[i]["min_a"]))
        ids = [c["id"] for c in ch_cfgs]
        make_after_break(order, new, reasons, want, base, com, mins, ids, letters, grid, limit, groups)
        cut(order, new, reasons, exp, mins, letters, grid, limit)
        out = []
        for i in range(len(chargers)):
            st = sts[i]
            c = chargers[i]
            row = res_lo["chargers"][i]
            prev = st.cmd
            st.cmd = new[i]
            if st.cmd == 0 and prev > 0 and reasons[i] in _STOPS:
                st.grace_since = None
                st.sun_stop = reasons[i] == "mode_limit" and st.mode in _GRACE_MODES
                st.sun_since = None
                if cfg["pause_s"] > 0:
                    st.paused_until = now_s + cfg["pause_s"]
                    reasons[i] = "paused"
            elif st.sun_stop and reasons[i] == "paused":
                if not row["mode_gives_min"]:
                    st.sun_since = None
                elif st.sun_since is None:
                    st.sun_since = now_s
            self._budget(now_s, st, ch_cfgs[i], row, reasons[i], fresh, grid, site_cfg)
            st.last_s = now_s
            resend = self._compliance(st, c, flags[i][0])
            paused = reasons[i] == "paused" and st.paused_until is not None
            out.append({
                "id": c["id"],
                "limit_a": st.cmd / 10,
                "phases_in_use": row["phases_in_use"],
                "reason": reasons[i],
                "paused_left_s": int(st.paused_until - now_s) if paused else 0,
                "allocated_a": row["allocated_a"],
                "target_a": row["target_a"],
                "available_a": row["available_a"],
                "mode": row["mode"],
                "clear_and_resend": resend,
                "compliance_failures": st.failures,
            })
        self.prev_grid = grid
        self.prev_s = now_s
        site_out = res_lo["site"]
        site_out["grid_stale"] = stale_for is not None
        site_out["refused"] = refused
        site_out["warnings"] = site_out["warnings"] + news
        return {"chargers": out, "site": site_out, "engine": res_lo}

    def _out_of_reach(self, now, st, c, held):
        """The most a charger out of reach may draw, mA: its last profile while that may
        still be in force, then the fallback profile if it is known to hold one
        (``held``), else its own rating, whenever a car asks (it may be plugged in
        meanwhile). The grid shows only what it draws now."""
        cfg = self.cfg
        mx = milli(c["max_a"])
        if not held:
            return mx      # never set up (a board short of memory): its own default
        top = milli(cfg["fallback_a"])
        if st.reach is not None and now - st.reach[1] < cfg["profile_duration_s"] and st.reach[0] > top:
            top = st.reach[0]
        return mx if mx < top else top

    def _letters(self, c, st):
        """Site phases the charger's car loads (all its phases until it was seen)."""
        pm = c["phase_map"]
        return "".join(pm[k] for k in st.car.used(len(pm)))

    def _prepare(self, now, site, chargers, ch_cfgs, sts):
        """Per charger: the engine's input without its draw, and its draw with the car at
        the least (``lo``) and at the most (``hi``) it may draw now; the fixed load per
        site phase (mA) of uncontrolled chargers, or None; flags (active, uncontrolled,
        mode, its fixed load in mA or None)."""
        cfg = self.cfg
        bases = []
        draws = []
        flags = []
        fixed = None
        for i in range(len(chargers)):
            ch = chargers[i]
            st = sts[i]
            car = st.car
            n = len(ch_cfgs[i]["phase_map"])
            status = ch.get("status")
            if status == "SuspendedEV" and car.level() < milli(cfg["idle_draw_a"]):
                if st.idle_since is None:
                    st.idle_since = now
            else:
                st.idle_since = None
            if not st.plugged:
                active = False
            elif status in ACTIVE_STATUSES:
                active = True
            elif status == "SuspendedEV":
                active = st.idle_since is None or now - st.idle_since < cfg["idle_s"]
            else:
                active = False
            loose = ch.get("control") == "refused" or st.ignoring
            mode = ch.get("mode") or site.get("mode") or "standard"
            if mode != st.mode:
                if st.mode is not None:
                    st.paused_until = None      # the user changed the mode: obeyed at once
                st.mode = mode
            if (st.sun_stop and st.sun_since is not None and st.paused_until is not None
                    and now - st.sun_since >= cfg["sun_back_s"]):
                st.paused_until = None          # the sun is back: the weather sets the pace
            paused = st.paused_until is not None and now < st.paused_until
            lo, hi = car.bounds()
            if car.seen is not None and not car.in_transition():
                draw_lo = [x / 1000 for x in car.seen]
            else:
                draw_lo = car.per_phase(lo, n)
            draw_hi = car.per_phase(hi, n) if hi != lo else draw_lo
            fx = None
            if loose and st.plugged:
                # Not under our control: its draw is a load like the house's.
                if fixed is None:
                    fixed = [0] * site.get("phases", 3)
                pm = ch_cfgs[i]["phase_map"]
                fx = 0
                for k in range(n):
                    if car.seen is not None:
                        x = car.seen[k]
                        if st.ignoring and k in car.used(n) and car.deliv is not None and car.deliv > x:
                            x = car.deliv
                    else:
                        x = milli(ch_cfgs[i]["max_a"])
                    fixed["ABC".index(pm[k])] += x
                    fx = x if x > fx else fx
                draw_lo = draw_hi = [x / 1000 for x in car.seen] if car.seen is not None else [0.0] * n
            c = {}
            for k in ch:
                c[k] = ch[k]
            if car.phases is not None and ch.get("car_phases") is None:
                c["car_phases"] = car.phases
            c["active"] = active and not paused and not loose
            c["hold_min"] = mode in _GRACE_MODES and st.cmd > 0 and (
                st.grace_since is None or (now - st.grace_since < cfg["grace_s"] and st.budget_ws > 0))
            bases.append(c)
            draws.append((draw_lo, draw_hi))
            flags.append((active, loose, mode, fx))
        return bases, draws, fixed, flags

    def _engine(self, site, bases, draws, settings):
        chs = []
        for i in range(len(bases)):
            c = dict(bases[i])
            c["draw_a"] = draws[i]
            chs.append(c)
        return allocate(site, chs, self.bat_state, settings)

    def _decide(self, now, chargers, ch_cfgs, sts, res_lo, res_hi, res_over, grid, limit, stale_for, flags,
                site_cfg, fresh):
        """Each charger's new limit before break-before-make: decreases at once (to what
        even the most favourable view allows), increases wanted (to what the least
        favourable view allows). Returns (new, reasons, wanted increase)."""
        cfg = self.cfg
        spare = self._battery_spare(chargers, sts, flags, res_lo, site_cfg, fresh)
        deadband = _da(cfg["deadband_a"])
        ramp = milli(cfg["ramp_up_a_s"])
        new = []
        reasons = []
        want = []
        for i in range(len(chargers)):
            st = sts[i]
            active, loose, mode, fx = flags[i]
            mn = _da(ch_cfgs[i]["min_a"])
            prev = st.cmd
            cmd = prev
            up = None
            if chargers[i].get("control") == "refused":
                cmd, reason = 0, "uncontrolled"
            elif not active:
                cmd, reason = 0, "inactive"
                st.grace_since = None
                st.paused_until = None
            elif loose:
                reason = "uncontrolled"
            elif stale_for is not None:
                if stale_for < cfg["stale_hold_s"]:
                    reason = "stale_hold"
                else:
                    fb = _da(cfg["fallback_a"])
                    cmd, reason = (fb if fb >= mn else 0), "stale_fallback"
            elif st.paused_until is not None and now < st.paused_until:
                cmd, reason = 0, "paused"
            else:
                st.paused_until = None
                lo_row = res_lo["chargers"][i]
                hi_row = res_hi["chargers"][i]
                t_lo = _da(lo_row["allocated_a"])
                t_hi = _da(hi_row["allocated_a"])
                reason = None
                if prev > 0 and mode in _GRACE_MODES and not hi_row["mode_gives_min"]:
                    if st.grace_since is None:
                        st.grace_since = now
                    if now - st.grace_since < cfg["grace_s"] and st.budget_ws > 0 and t_hi >= mn:
                        reason = "grace"
                    else:
                        t_lo = t_hi = 0
                        reason = "mode_limit"   # the ride is over: the sun is not back
                else:
                    st.grace_since = None
                over = False
                for x in lo_row["site_phases"]:
                    p = "ABC".index(x)
                    if p < len(grid) and grid[p] is not None and grid[p] > limit:
                        over = True
                # A decrease waits until even the most favourable view asks for it (no
                # hunting on the uncertainty of a car still answering its last change);
                # over the limit the overload view rules.
                if over:
                    t_over = _da(res_over["chargers"][i]["allocated_a"])
                    if t_over < t_hi:
                        t_hi = t_over
                down = t_hi
                if down < mn:
                    down = 0
                if prev > down and (over or down == 0 or prev - down >= deadband):
                    cmd = down
                    if down == 0 and reason is None:
                        reason = "mode_limit" if lo_row["limited_by"] == "mode" else "no_capacity"
                    if over:
                        reason = "over_limit_cut"
                elif prev == 0:
                    if t_lo >= mn and t_hi >= mn:
                        # start at the minimum, then ramp; Solar at the minimum and one
                        # cycle's ramp: a sunny spell is short, waiting for the car's
                        # answer at the minimum loses its start (docs/decisions.md)
                        top = t_lo if t_lo < t_hi else t_hi
                        up = mn
                        if mode == "solar" and st.last_s is not None:
                            up = mn + int(ramp * (now - st.last_s)) // _DA
                            if spare[i] is not None and up > spare[i]:
                                up = spare[i] if spare[i] > mn else mn
                            if up > top:
                                up = top
                        reason = "ramping" if up < top else "ok"
                    else:
                        reason = "mode_limit" if lo_row["limited_by"] == "mode" else "no_capacity"
                else:
                    top = t_lo if t_lo < t_hi else t_hi
                    if spare[i] is not None and top > prev + spare[i]:
                        top = prev + spare[i]
                    if top > prev and (top - prev >= deadband or prev < mn):
                        if st.car.in_transition():
                            reason = "ramping"  # wait until the car has answered the last change
                        else:
                            dt = 0 if st.last_s is None else now - st.last_s
                            step = int(ramp * dt) // _DA
                            up = min(top, prev + (step if step > 1 else 1))
                            reason = "ramping" if up < top else "ok"
                if reason is None:
                    reason = "ok"
            new.append(cmd)
            reasons.append(reason)
            want.append(up)
        return new, reasons, want

    def _battery_spare(self, chargers, sts, flags, res, site_cfg, fresh):
        """Solar with a battery near its target: how far each active Solar car may rise or start
        (tenths of an amp; None: no such cap), by its share of what the battery charges
        with now. Below target + hysteresis the battery's discharge holds a car's rate
        through a dip but does not raise it: a car that took the whole discharge at the
        target would drain the hysteresis band in minutes and stop, every few minutes."""
        out = [None] * len(chargers)
        bat = site_cfg["battery"]
        soc = fresh.get("battery_soc")
        b = milli(fresh.get("battery_w"))
        if (res["site"]["soc_above_target"] is not True or b is None or not is_number(soc)
                or soc >= bat["soc_target"] + bat["soc_hysteresis"]):
            return out
        run = [i for i in range(len(chargers)) if flags[i][2] == "solar" and flags[i][0]]
        b = b // 1000 if b > 0 else 0
        volts = milli(site_cfg["voltage_v"]) // 1000
        for i in run:
            out[i] = b * 10 // (volts * res["chargers"][i]["phases_in_use"] * len(run))
        return out

    def _budget(self, now, st, c, row, reason, fresh, grid, site_cfg):
        """Solar/Excess: what a grace ride may import. Charging on the mode's own sources
        earns grace_import_pct of the energy taken; a ride spends what the grid and the
        battery give the car; one ride's worth at the minimum at most is kept."""
        cfg = self.cfg
        if st.mode not in _GRACE_MODES or st.cmd == 0 or st.last_s is None:
            return
        dt = now - st.last_s
        volts = milli(site_cfg["voltage_v"]) // 1000
        power = st.car.level() * len(st.car.used(len(c["phase_map"]))) * volts // 1000
        if reason == "grace":
            short = import_w(grid, fresh.get("grid_total_w"), volts)
            b = milli(fresh.get("battery_w"))
            if short is not None and b is not None and b < 0:
                short -= b // 1000              # the battery feeding the car is not solar
            if short is None or short > power:
                short = power
            st.budget_ws -= int(short * dt)
        else:
            st.budget_ws += int(power * dt * cfg["grace_import_pct"] / 100)
            top = milli(c["min_a"]) * row["phases_in_use"] * volts // 1000 * cfg["grace_s"]
            if st.budget_ws > top:
                st.budget_ws = top

    def _compliance(self, st, ch, active):
        """A charger drawing or offering more than every limit it may be following, for
        compliance_cycles cycles in a row, gets its profile cleared and sent again, is
        counted, and is a fixed load until it follows again."""
        cfg = self.cfg
        if not active:
            st.bad_cycles = 0
            return False
        if st.car.strike(cfg, ch.get("offered_a")):
            st.bad_cycles += 1
        else:
            st.bad_cycles = 0
            if st.car.reading is not None:
                st.ignoring = False
        if st.bad_cycles >= cfg["compliance_cycles"]:
            st.bad_cycles = 0
            st.failures += 1
            st.ignoring = True
            return True
        return False
