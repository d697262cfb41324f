"""Regulation over time: between the engine's allocation and the limit sent to a charger.

``Regulator(settings).step(now_s, site, chargers, ages)`` is called once per control
cycle with time passed in as a number (seconds), so tests drive it with a fake clock.
``site`` and ``chargers`` are what ``engine.allocate`` takes; each charger may also carry
``connected`` (default True), ``offered_a`` (OCPP Current.Offered) and ``meter_age_s``
(age of its meter values); ``ages`` maps a site reading's name (``grid_a``, ``solar_w``,
...) to its age in seconds (absent: fresh).

It returns ``{"chargers": [...], "site": {...}, "engine": result}``; per charger:
``limit_a`` (the command), ``reason`` (``ok``, ``ramping``, ``paused``, ``grace``,
``stale_hold``, ``stale_fallback``, ``over_limit_cut``, ``no_capacity``, ``mode_limit``,
``inactive``), ``send`` (a profile should go out now), ``paused_left_s`` (``status.text``
turns a row into words for people),
``clear_and_resend`` and ``compliance_failures``. docs/regulation.md explains every
timer and threshold and why; their table is ``config.fields.REGULATION_FIELDS``.
"""
from dynevse.compat import const
from dynevse.core.engine import ACTIVE_STATUSES, URGENCY, allocate, milli

GRID_KEYS = ("grid_a", "grid_w", "grid_total_w")
OTHER_KEYS = ("solar_w", "battery_soc", "battery_w", "voltage", "inverter_w", "inverter_phase_w")
_GRACE_MODES = ("solar", "excess")
_UNPLUGGED = ("Available", "Unavailable", "Faulted")
_NO_ENERGY = _UNPLUGGED + ("Finishing",)   # OCPP: the charger delivers nothing in these
_DA = const(100)   # commands are kept in tenths of an amp: mA // 100


class _State:
    """What the regulator remembers about one charger."""

    def __init__(self):
        self.cmd = 0             # command, tenths of an amp
        self.sent = None         # last value sent, or None
        self.sent_s = None
        self.paused_until = None
        self.grace_since = None
        self.idle_since = None
        self.mode = None
        self.bad_cycles = 0
        self.failures = 0
        self.last_s = None
        self.changed_s = None    # when the command last changed
        self.car_cap = None      # a car that draws less than it may: what it takes, mA
        self.confirmed = True    # the latest meter sample shows the car on its command
        self.car_phases = None   # phases the connected car was seen to draw on


def _da(a):
    return milli(a) // _DA


class Regulator:
    """Stateful controller: ramps, dead band, pauses, grace, stale data, compliance."""

    def __init__(self, settings=None, checked=False):
        """``settings``: the regulation section; ``checked``: it already went through
        ``config.check.check_regulation`` (the board's case: the schema need not stay loaded)."""
        if not checked:
            from dynevse.config.check import check_regulation
            settings = check_regulation(settings)
        self.cfg = settings
        self.states = {}
        self.bat_state = None
        self.last_now = None

    def forget(self, charger_id):
        """Drop a charger's memory (removed from the configuration)."""
        self.states.pop(charger_id, None)

    def send_failed(self, charger_id):
        """The last profile did not get through: send again next cycle."""
        st = self.states.get(charger_id)
        if st is not None:
            st.sent = None

    def _state(self, cid):
        st = self.states.get(cid)
        if st is None:
            st = _State()
            self.states[cid] = st
        return st

    def _fresh_site(self, site, ages):
        """Drop stale readings; return (site for the engine, grid stale for s or None)."""
        cfg = self.cfg
        out = {}
        for k in site:
            out[k] = site[k]
        grid_age = None
        for k in GRID_KEYS:
            if site.get(k) is not None:
                a = ages.get(k, 0)
                grid_age = a if grid_age is None or a < grid_age else grid_age
        stale_for = None
        if grid_age is not None and grid_age > cfg["grid_max_age_s"]:
            stale_for = grid_age - cfg["grid_max_age_s"]
            for k in GRID_KEYS:
                out.pop(k, None)
        for k in OTHER_KEYS:
            if site.get(k) is not None and ages.get(k, 0) > cfg["input_max_age_s"]:
                out.pop(k, None)
        return out, stale_for

    def _prepare(self, now, site, chargers):
        """Charger inputs for the engine: draw estimates, idle cars, pauses, grace holds."""
        cfg = self.cfg
        prepared = []
        for ch in chargers:
            st = self._state(ch["id"])
            c = {}
            for k in ch:
                c[k] = ch[k]
            status = ch.get("status")
            draws = self._estimate(now, st, ch)
            c["draw_a"] = draws
            draw = 0
            for x in draws:
                m = milli(x)
                if m is not None and m > draw:
                    draw = m
            if status == "SuspendedEV" and draw < milli(cfg["idle_draw_a"]):
                if st.idle_since is None:
                    st.idle_since = now
            else:
                st.idle_since = None
            if ch.get("connected", True) is False:
                active = False
            elif status in ACTIVE_STATUSES:
                active = True
            elif status == "SuspendedEV":
                active = st.idle_since is None or now - st.idle_since < cfg["idle_s"]
            else:
                active = False
            if status in _UNPLUGGED or ch.get("connected", True) is False:
                st.car_phases = None            # another car may come
            elif st.car_phases is not None and ch.get("car_phases") is None:
                c["car_phases"] = st.car_phases
            c["_active"] = active
            mode = ch.get("mode") or site.get("mode") or "standard"
            if mode != st.mode:
                if st.mode is not None:
                    st.paused_until = None      # the user changed the mode: obeyed at once
                st.mode = mode
            paused = st.paused_until is not None and now < st.paused_until
            c["active"] = active and not paused
            c["hold_min"] = mode in _GRACE_MODES and st.cmd > 0 and (
                st.grace_since is None or now - st.grace_since < cfg["grace_s"])
            prepared.append(c)
        return prepared

    def _estimate(self, now, st, ch):
        """What the car draws now, per charger phase, in A.

        Meter values may be late. A sample taken after the car had time to follow the
        last command change is believed; until then the car is taken to be on its command
        (capped by what it was seen to take), on the phases it was seen to use.
        """
        cfg = self.cfg
        reported = ch.get("draw_a")
        if not isinstance(reported, (list, tuple)):
            reported = ()
        if ch.get("status") in _NO_ENERGY or ch.get("connected", True) is False:
            # Out of the allocation: the charger says it delivers nothing (its last meter
            # sample is from before), or it is out of reach (it may still charge on its
            # last profile). The engine takes every charger's draw off the grid reading to
            # find the house's load but gives room to active chargers only, so a draw
            # counted here would be handed out a second time, over the breaker. Counted as
            # nothing, whatever it really draws stays in the house's load.
            st.confirmed = True
            return [0.0] * (len(reported) or ch.get("phases", 3))
        age = ch.get("meter_age_s")
        if age is not None and age > cfg["meter_max_age_s"]:
            reported = ()                       # too old to say anything
        sample_s = now - (age or 0)
        got = []
        for x in reported:
            m = milli(x)
            got.append(m if m is not None and m > 0 else 0)
        seen = max(got) if got else 0
        settled = st.changed_s is None or sample_s >= st.changed_s + cfg["car_response_s"]
        if got and settled:
            st.confirmed = True
            n_used = len([x for x in got if x >= 1000])
            if n_used:
                st.car_phases = n_used          # kept for this car, also while it pauses
            if seen < st.cmd * _DA - milli(cfg["compliance_tolerance_a"]):
                st.car_cap = seen               # the car takes less than it may
            else:
                st.car_cap = None
            return [x / 1000 for x in got]
        if not got and settled:
            st.confirmed = True
        else:
            st.confirmed = False
        est = st.cmd * _DA
        if st.car_cap is not None and st.car_cap < est:
            est = st.car_cap
        used = [k for k in range(len(got)) if got[k] >= 1000]
        n = len(got) if got else ch.get("phases", 3)
        if not used:
            used = list(range(n))
        return [est / 1000 if k in used else 0.0 for k in range(n)]

    def _cuts(self, site, prepared, result):
        """Measured overload on a phase: shed it from the lowest in the order, at once.

        Returns {charger index: max command in tenths of an amp}.
        """
        n = site.get("phases", 3)
        limit = milli(site.get("breaker_a", 25) - site.get("breaker_margin_a", 0))
        volts = milli(site.get("voltage_v", 230)) // 1000
        grid = []
        for p in range(n):
            g = None
            ga = site.get("grid_a")
            gw = site.get("grid_w")
            if isinstance(ga, (list, tuple)) and p < len(ga):
                g = milli(ga[p])
            if g is None and isinstance(gw, (list, tuple)) and p < len(gw):
                w = milli(gw[p])
                g = None if w is None else w // volts
            grid.append(g)
        cuts = {}
        rows = result["chargers"]
        order = sorted(range(len(rows)), key=lambda i: (URGENCY[rows[i]["mode"]],
                                                       prepared[i].get("priority", 1), rows[i]["id"]))
        for p in range(n):
            if grid[p] is None or grid[p] <= limit:
                continue
            shed = grid[p] - limit
            letter = "ABC"[p]
            for i in reversed(order):
                if shed <= 0:
                    break
                st = self.states[rows[i]["id"]]
                if st.cmd <= 0 or letter not in rows[i]["site_phases"]:
                    continue
                k = rows[i]["site_phases"].index(letter)
                draw = milli(_item(prepared[i].get("draw_a"), k)) or 0
                new = draw - shed
                mn = milli(prepared[i].get("min_a", 6))
                if new < mn:
                    new = 0
                shed -= draw - new
                cap = new // _DA
                cuts[i] = cap if i not in cuts or cap < cuts[i] else cuts[i]
        return cuts, grid, limit

    def step(self, now_s, site, chargers, ages=None, settings=None):
        """One control cycle; see the module docstring. ``settings``: as for
        ``engine.allocate`` (validated site, chargers and groups), or None."""
        cfg = self.cfg
        ages = ages or {}
        fresh, stale_for = self._fresh_site(site, ages)
        prepared = self._prepare(now_s, site, chargers)
        result = allocate(fresh, prepared, self.bat_state, settings)
        self.bat_state = result["state"]
        cuts, grid, limit = self._cuts(fresh, prepared, result)
        deadband = _da(cfg["deadband_a"])
        ramp = milli(cfg["ramp_up_a_s"])          # mA per second
        # While a car has not yet shown it follows an increase, its draw is a guess on the
        # high side: nobody grows until it has.
        growing = False
        for c in prepared:
            st = self.states[c["id"]]
            if c["_active"] and not st.confirmed and st.cmd > 0:
                growing = True
        out = []
        for i in range(len(prepared)):
            c = prepared[i]
            row = result["chargers"][i]
            st = self.states[c["id"]]
            dt = 0 if st.last_s is None else now_s - st.last_s
            st.last_s = now_s
            mn = _da(c.get("min_a", 6))
            prev = st.cmd
            reason = None
            if not c["_active"]:
                st.cmd, reason = 0, "inactive"
                st.grace_since = None
                st.paused_until = None
            elif stale_for is not None:
                if stale_for < cfg["stale_hold_s"]:
                    reason = "stale_hold"
                else:
                    fb = _da(cfg["fallback_a"])
                    st.cmd, reason = (fb if fb >= mn else 0), "stale_fallback"
            elif st.paused_until is not None and now_s < st.paused_until:
                st.cmd, reason = 0, "paused"
            else:
                st.paused_until = None
                target = _da(row["allocated_a"])
                if st.cmd > 0 and row["mode"] in _GRACE_MODES and not row["mode_reaches_min"]:
                    if st.grace_since is None:
                        st.grace_since = now_s
                    if now_s - st.grace_since < cfg["grace_s"] and target >= mn:
                        reason = "grace"
                    else:
                        target = 0
                else:
                    st.grace_since = None
                cut = cuts.get(i)
                if cut is not None and cut < target:
                    target = cut
                pressure = cut is not None
                for letter in row["site_phases"]:
                    g = grid["ABC".index(letter)] if "ABC".index(letter) < len(grid) else None
                    if g is not None and g >= limit - deadband * _DA:
                        pressure = True
                if target < mn:
                    target = 0
                if target == 0:
                    if st.cmd > 0 and cfg["pause_s"] > 0:
                        st.paused_until = now_s + cfg["pause_s"]
                    st.cmd = 0
                    st.grace_since = None
                    if reason is None:
                        if st.paused_until is not None:
                            reason = "paused"
                        else:
                            reason = "mode_limit" if row["limited_by"] == "mode" else "no_capacity"
                elif st.cmd == 0:
                    st.cmd = mn if target > mn else target     # start at the minimum, then ramp
                elif target < st.cmd:
                    if pressure or st.cmd - target >= deadband:
                        st.cmd = target
                        if cut is not None:
                            reason = "over_limit_cut"
                elif not growing and (target - st.cmd >= deadband or st.cmd < mn):
                    step = int(ramp * dt) // _DA
                    st.cmd = min(target, st.cmd + max(step, 1))
                if reason is None:
                    reason = "ramping" if st.cmd < target and target - st.cmd >= deadband else "ok"
            if st.cmd != prev:
                st.changed_s = now_s
                st.confirmed = False
            send = st.cmd != st.sent or (
                st.cmd > 0 and st.sent_s is not None
                and now_s - st.sent_s >= cfg["profile_duration_s"] - cfg["refresh_before_s"])
            if send:
                st.sent = st.cmd
                st.sent_s = now_s
            resend = self._compliance(st, c, prev, c["_active"])
            out.append({
                "id": c["id"],
                "limit_a": st.cmd / 10,
                "reason": reason,
                "send": send,
                "paused_left_s": int(st.paused_until - now_s) if reason == "paused" and st.paused_until else 0,
                "allocated_a": row["allocated_a"],
                "target_a": row["target_a"],
                "available_a": row["available_a"],
                "mode": row["mode"],
                "clear_and_resend": resend,
                "compliance_failures": st.failures,
            })
        self.last_now = now_s
        site_out = result["site"]
        site_out["grid_stale"] = stale_for is not None
        return {"chargers": out, "site": site_out, "engine": result}

    def _compliance(self, st, c, prev_cmd, active):
        """A charger drawing or offering more than its command for N cycles gets its
        profile cleared and sent again; failures are counted."""
        cfg = self.cfg
        if not active or c.get("draw_a") is None and c.get("offered_a") is None:
            st.bad_cycles = 0
            return False
        allowed = prev_cmd * _DA + milli(cfg["compliance_tolerance_a"])
        worst = 0
        for x in (c.get("draw_a") or ()):
            m = milli(x)
            if m is not None and m > worst:
                worst = m
        offered = milli(c.get("offered_a"))
        if worst > allowed or (offered is not None and offered > allowed):
            st.bad_cycles += 1
        else:
            st.bad_cycles = 0
        if st.bad_cycles >= cfg["compliance_cycles"]:
            st.bad_cycles = 0
            st.failures += 1
            st.sent = None       # the profile goes out again after the clear
            return True
        return False


def _item(seq, i):
    if isinstance(seq, (list, tuple)) and i < len(seq):
        return seq[i]
    return None
