"""How a car answers its limit, judged from meter values that arrive late.

One ``CarResponse`` per charger. The charger reports the limit it accepted and when
(``delivered_a``, ``delivered_s``); the car applies it 5-10 s later and ramps; the meter
values that show it arrive later still, and the regulator knows only when they arrived,
not when they were sampled. So a reading is judged against the limit the car was
following when it was sampled, and the regulator works with bounds, not a guess:

- After a delivered change the car is *in transition*: at the grid meter's instant it
  may draw anything from ``lo`` to ``hi`` (its draw before and every limit delivered
  since). Nothing else is known until the transition ends.
- It ends when a reading that arrived after the delivery shows the car on the new limit
  (a single change from a settled state), when the grid shows a decrease (the regulator
  checks, ``grid_check``), or when a reading arrives later after the delivery than the
  car's response (with a quarter as margin): that reading reflects the new limit,
  whatever it shows. Without meter values, the car is taken to draw its limit once its
  response has passed.
- A rise the car's meter shows is not yet one the grid shows: a grid reading that
  arrived before that meter value would make the house look smaller by the rise. So
  after a rise the car may still draw as little as before at the grid meter's instant
  until a grid reading has arrived since (``grid_arrived``).
- The response (delivery -> a meter value showing it) is learnt per car from clean
  changes: it rises at once to a longer observation and decays by a quarter of the
  difference toward a shorter one, bounded 2..60 s, starting at ``car_response_s``
  (a safe default, longer than any car plus meter delay seen). A car still showing its
  old draw after a decrease, later than its response, makes the response longer. An
  unplugged car is forgotten: the next car is another.

Currents are ints in mA, per charger phase; times are numbers in seconds.
"""
from dynevse.compat import const
from dynevse.core.engine import milli

_MIN_RESPONSE_S = const(2)
_MAX_RESPONSE_S = const(60)
_MATCH_MA = const(1000)       # a reading this close to a limit (or half the step) shows it
_LEARN_STEP_MA = const(2000)  # changes at least this big teach the response
_PHASE_USED_MA = const(1000)
_GRID_TOL_MA = const(500)


class _Transition:
    def __init__(self, since_s, p, q, before, ref, clean):
        self.since_s = since_s      # when the newest limit was delivered
        self.p = p                  # the car's believed draw before, mA
        self.q = q                  # the newest delivered limit, mA
        self.lo = p if p < q else q
        self.hi = p if p > q else q
        self.before = before        # the limit in force before, mA, or None
        self.top = q if before is None or q > before else before    # the highest limit since
        self.ref = ref              # grid per site phase before the first change, or None
        self.known = False          # p is a reading (not a guess before the first one)
        self.clean = clean          # one change from a settled car that follows its limit
        self.grid_seen = False      # the grid showed the decrease
        self.cut_from = p           # before the latest decrease: where the car was going ...
        self.cut_ref = ref          # ... and the grid then (None: the latest was a rise)


class CarResponse:
    """What the regulator knows about one car's answer to its limits."""

    def __init__(self, default_s):
        self.default_s = default_s
        self.forget()

    def forget(self):
        """Unplugged: the next car is another."""
        self.response_s = self.default_s
        self.deliv = None           # limit in force, mA; None: none known
        self.seen = None            # believed reading per charger phase, mA
        self.reading = None         # newest reading, believed or not
        self.last_ta = None         # when the newest reading arrived
        self.cap = None             # the car takes less than its limit: what it takes
        self.phases = None          # phases the car was seen to draw on
        self.trans = None
        self.rise = None            # after a rise: [its meter value's arrival, the draw before, mA]

    # -- inputs ---------------------------------------------------------------------

    def update(self, now_s, ch, cfg, grid_before):
        """Take this cycle's delivered limit and meter values. ``grid_before``: the grid
        per site phase (mA) of the previous cycle if it was taken before the delivery."""
        d = milli(ch.get("delivered_a"))
        if d is None:
            self.deliv = None
            self.trans = None       # on its charger's own default: nothing to follow
        elif self.deliv is None or d - self.deliv >= 100 or self.deliv - d >= 100:
            ds = ch.get("delivered_s")
            self._change(d, now_s if ds is None else ds, grid_before)
            self.deliv = d
        draw = ch.get("draw_a")
        age = ch.get("meter_age_s")
        if not isinstance(draw, (list, tuple)) or not draw or (
                age is not None and age > cfg["meter_max_age_s"]):
            self.reading = None
            self.seen = None        # too old to say anything: the car is taken at its limit
            self._no_meter(now_s)
            return
        reading = []
        for x in draw:
            m = milli(x)
            reading.append(m if m is not None and m > 0 else 0)
        self.reading = reading
        ta = now_s - (age or 0)
        if self.last_ta is not None and ta < self.last_ta + 0.5:
            return                  # the same report as before
        self.last_ta = ta
        self._judge(reading, ta)

    def _change(self, q, since_s, ref):
        t = self.trans
        if t is None:
            p = self.level()
            if q - p < 100 and p - q < 100:
                return              # the car already draws that
            if q >= p and self.deliv is not None and q < self.deliv:
                return              # a decrease to above what the car takes: no change
            # Clean: a decrease, or a rise of a car that takes its limit. Only a change from
            # a known limit teaches the response (before it, the charger's default applied).
            self.trans = _Transition(since_s, p, q, self.deliv, ref if q < p else None,
                                     q < p or self.cap is None)
            self.trans.known = self.seen is not None
            return
        if q < t.q:
            t.cut_from = t.q
            t.cut_ref = ref
        else:
            t.cut_ref = None
        t.since_s = since_s
        t.q = q
        if q < t.lo:
            t.lo = q
        if q > t.hi:
            t.hi = q
        if q > t.top:
            t.top = q
        t.clean = False
        t.grid_seen = False

    def _judge(self, reading, ta):
        t = self.trans
        if t is None:
            self._believe(reading)
            return
        r = max(reading)
        if r > t.top + _MATCH_MA and t.before is not None:
            self.trans = None       # above every limit it may follow: not following them
            self._believe(reading)
            return
        step = t.q - t.p if t.q > t.p else t.p - t.q
        tol = _MATCH_MA if step >= 2 * _MATCH_MA else step // 2
        if t.clean and ta >= t.since_s:
            on_new = r <= t.q + tol if t.q < t.p else r >= t.q - tol
            if on_new:
                if step >= _LEARN_STEP_MA and t.before is not None:
                    self._learn(ta - t.since_s)
                self._end(t, r, ta)
                self._believe(reading)
                return
        late = t.since_s + self.response_s * 5 / 4
        if ta < late:
            return
        if (t.clean and t.before is not None and t.q < t.p and r >= t.p - tol
                and self.response_s < _MAX_RESPONSE_S):
            # still on its old draw (within its old limit) after a decrease: this car, or
            # its meter, is slower than learnt
            self.response_s = min(_MAX_RESPONSE_S, (ta - t.since_s) * 4 / 5 + 1)
            return
        self._end(t, r, ta)
        self._believe(reading)

    def _end(self, t, r, ta):
        """The transition is over as the car's meter shows ``r`` (mA, highest phase) at
        ``ta``; a rise waits for the grid."""
        self.trans = None
        if t.known and r - t.p >= _GRID_TOL_MA:
            self.rise = [ta, t.p]

    def grid_arrived(self, ta):
        """A grid reading arrived at ``ta`` (s): a rise seen before it is on the grid."""
        if self.rise is not None and ta >= self.rise[0]:
            self.rise = None

    def _no_meter(self, now_s):
        t = self.trans
        if t is not None and now_s >= t.since_s + self.response_s * 5 / 4:
            self.trans = None

    def _learn(self, obs_s):
        r = self.response_s
        r = obs_s if obs_s > r else r - (r - obs_s) / 4
        if r < _MIN_RESPONSE_S:
            r = _MIN_RESPONSE_S
        self.response_s = r if r < _MAX_RESPONSE_S else _MAX_RESPONSE_S

    def _believe(self, reading):
        self.seen = reading
        r = max(reading)
        n = 0
        for x in reading:
            if x >= _PHASE_USED_MA:
                n += 1
        if n:
            self.phases = n         # kept for this car, also while it pauses
        if self.deliv is not None and r < self.deliv - _MATCH_MA:
            self.cap = r            # the car takes less than it may
        else:
            self.cap = None

    def grid_check(self, grid, site_phases):
        """A decrease is seen on the grid: every phase the car loads dropped by the
        decrease since before it. Only asked while no other car on those phases is in
        transition (the drop can't be told apart)."""
        t = self.trans
        if t is None or t.ref is None or t.grid_seen or t.q >= t.hi:
            return
        drop = t.hi - t.q
        tol = drop // 4 if drop // 4 < _GRID_TOL_MA else _GRID_TOL_MA
        for p in site_phases:
            g = grid[p] if p < len(grid) else None
            ref = t.ref[p] if p < len(t.ref) else None
            if g is None or ref is None or g > ref - drop + tol:
                return
        t.grid_seen = True

    # -- what the regulator plans with ----------------------------------------------

    def level(self):
        """The believed draw (highest phase), mA: the newest believed reading, or the limit
        in force when there are no meter values."""
        if self.seen is not None:
            return max(self.seen)
        return self.deliv if self.deliv is not None else 0

    def bounds(self):
        """(lo, hi): the least and the most the car may draw at the grid meter's instant."""
        t = self.trans
        if t is not None:
            if t.grid_seen:
                return t.q, t.q
            return t.lo, t.hi
        lvl = self.level()
        d = self.deliv if self.deliv is not None else 0
        hi = d if d > lvl else lvl
        if self.rise is not None and self.rise[1] < lvl:
            return self.rise[1], hi
        return lvl, hi

    def falling(self):
        """Only decreases since it was last seen settled: from its draw at the grid meter's
        instant it can only come down, so it adds nothing to what the grid shows."""
        t = self.trans
        return t is not None and t.hi == t.p and t.q < t.p

    def expected(self, grid, site_phases):
        """The draw to plan a measured overload with, mA. A car whose latest change is a
        decrease is taken to have come down only as far as the grid has dropped since
        just before it (the house taken as unchanged meanwhile): an overload the grid
        still shows because the car has not answered yet is not cut twice. Any other car
        at the least it may draw."""
        lo, hi = self.bounds()
        t = self.trans
        if t is None or t.cut_ref is None or t.grid_seen or t.q >= t.cut_from:
            return lo
        drop = None
        for p in site_phases:
            g = grid[p] if p < len(grid) else None
            ref = t.cut_ref[p] if p < len(t.cut_ref) else None
            if g is None or ref is None:
                return lo
            d = ref - g
            drop = d if drop is None or d < drop else drop
        e = t.cut_from - (drop if drop > 0 else 0)
        return lo if e < lo else hi if e > hi else e

    def committed(self, max_ma):
        """The most the car may draw once everything delivered so far is followed: a
        reduction not yet seen does not count. ``max_ma``: the charger's max, for a car
        whose limit in force is not known (its charger's own default applies)."""
        lo, hi = self.bounds()
        top = self.deliv if self.deliv is not None else max_ma
        return hi if hi > top else top

    def in_transition(self):
        """Answering a change, or a rise the grid has not shown yet."""
        return self.trans is not None or self.rise is not None

    def changing(self):
        """Answering a change (what the grid shows can't be told apart from it)."""
        return self.trans is not None

    def used(self, n):
        """Indexes of the charger phases the car draws on (all until it was seen)."""
        src = self.seen if self.seen is not None else self.reading
        out = []
        if src is not None:
            for k in range(len(src)):
                if src[k] >= _PHASE_USED_MA:
                    out.append(k)
        if not out and self.phases is not None:
            out = list(range(self.phases if self.phases < n else n))
        return out if out else list(range(n))

    def per_phase(self, level, n):
        """``level`` on the phases the car uses, as the engine's draw_a in A."""
        used = self.used(n)
        return [level / 1000 if k in used else 0.0 for k in range(n)]

    def strike(self, cfg, offered_a):
        """The car (or its charger's offer) is above every limit it may be following: the
        one in force and, while it answers a change, those delivered since."""
        if self.deliv is None or self.reading is None:
            return False
        top = self.deliv
        t = self.trans
        if t is not None:
            if t.before is None:
                return False        # it was on its charger's own default until now
            if t.top > top:
                top = t.top
        allowed = top + milli(cfg["compliance_tolerance_a"])
        off = milli(offered_a)
        return max(self.reading) > allowed or (off is not None and off > allowed)
