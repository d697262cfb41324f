"""Which site phase each charger phase is on, and whether a grid input's sign is
inverted, learnt from the chargers' own steps (docs/detection.md).

``Detector(signed)`` watches, once per control cycle, the grid per site phase and each
charger's metered draw. A charger's step is a change of at least 4 A on a charger phase
between two levels its meter showed steadily. Meter values arrive up to ``_LAG_S`` late
(the car and its meter report after the fact), so the step is judged on two grid windows
where the car's draw is known: one ending ``_LAG_S`` before the last reading at the old
level, one starting at the first reading at the new level, confirmed once a reading
``_LAG_S`` after that window still shows the new level. While another charger changed, or
the grid moved by more than ``_SPREAD_MA`` inside a window (a kettle, a heat pump), the
step teaches nothing.

- A step on one charger phase (a 1-phase charger, or a 1-phase car on a 3-phase one)
  names the site phase that moved by about as much, the others staying within 1.5 A:
  a vote. Three votes in a row for the same site phase learn it.
- A step on several phases by the same amount shows which site phases carry them, not
  which is which: electrically the same for the breaker, so nothing is learnt about the
  order. Uneven steps teach nothing.
- A phase that moved by about the step but the other way round (import fell as the car
  started) has its grid input inverted; one step shows it, the next normal one clears it.
  Only a signed grid (an MQTT meter, not the board's clamps, which measure magnitude) is
  judged: ``signed``.

Nothing is applied: the app warns and offers commands. Currents are ints in mA.
"""
from dynevse.compat import const

_STEP_MA = const(4000)     # a charger phase stepping this much teaches
_SAME_MA = const(1000)     # readings this close are one level
_QUIET_MA = const(1500)    # a phase moving less than this did not take part
_SPREAD_MA = const(3000)   # a grid window moving more than this holds another load's change
_LAG_S = const(15)         # a meter value arrives up to this long after it was sampled
_WIN_S = const(15)         # each grid window's length
_GAP_DS = const(30)        # grid samples kept at least 3 s apart (tenths of a second)
_RING = const(32)          # grid samples kept: 96 s or more, two windows and a step
_PHASES = const(3)
_VOTES = const(3)


class _Charger:
    def __init__(self, phase_map):
        self.map = phase_map
        self.level = None       # the newest level, mA per charger phase
        self.first = None       # when its first reading arrived
        self.last = None        # when its latest reading at that level arrived
        self.prev = None        # (level, first, last) of the last level held long enough
        self.seen = None        # when the newest reading arrived
        self.votes = [[] for _ in phase_map]


class Detector:
    """Learns phase maps and inverted grid inputs; see the module docstring."""

    def __init__(self, signed=True):
        self.signed = signed
        self.chargers = {}
        # the grid samples: when (tenths of a second, so a small int, not a boxed float;
        # -1: empty) and mA per site phase, _PHASES a sample; nothing is allocated per cycle
        self.t = [-1] * _RING
        self.g = [0] * (_RING * _PHASES)
        self.n = 0              # the phases a sample has
        self.k = 0
        self.inverted = {}      # site phase index -> True/False, as the latest step showed

    def observe(self, now_s, grid, grid_s, chargers):
        """One cycle. ``grid``: mA per site phase ([] or a None entry: no usable reading),
        measured at ``grid_s``; ``chargers``: (id, configured phase map, draw mA per
        charger phase or None when unknown, when that reading arrived)."""
        if grid and None not in grid and len(grid) <= _PHASES:
            if len(grid) != self.n:
                self.grid_changed()
                self.n = len(grid)
            last = self.t[(self.k - 1) % _RING]
            ds = int(grid_s * 10)
            if last < 0 or ds >= last + _GAP_DS:
                self.t[self.k] = ds
                for p in range(self.n):
                    self.g[self.k * _PHASES + p] = grid[p]
                self.k = (self.k + 1) % _RING
        ids = []
        for cid, pm, draw, at in chargers:
            ids.append(cid)
            st = self.chargers.get(cid)
            if st is None or st.map != pm:
                st = self.chargers[cid] = _Charger(pm)
            if draw is None or len(draw) != len(pm):
                st.level = st.prev = st.seen = None
                st.first = now_s
                continue
            if at == st.seen:
                continue
            st.seen = at
            if st.level is not None and _same(draw, st.level):
                st.last = at
                if st.prev is not None and at >= st.first + _WIN_S + _LAG_S:
                    self._step(st)
                    st.prev = None
                continue
            if st.level is not None and st.last - st.first >= _WIN_S + _LAG_S:
                st.prev = (st.level, st.first, st.last)
            # a short level between (a car ramping) keeps the long one before it
            st.level = list(draw)
            st.first = st.last = at
        for cid in list(self.chargers):
            if cid not in ids:
                del self.chargers[cid]

    def grid_changed(self):
        """The grid's inputs changed (a sign flipped): its samples and what they showed
        are the old input's."""
        for j in range(_RING):
            self.t[j] = -1
        self.inverted = {}

    def _step(self, st):
        old, f_old, l_old = st.prev
        b1 = l_old - _LAG_S
        b0 = b1 - _WIN_S
        if b0 < f_old:
            return
        for o in self.chargers.values():
            if o is not st and o.first > b0:
                return          # another charger changed meanwhile (or is unknown)
        before = self._mean(b0, b1)
        after = self._mean(st.first, st.first + _WIN_S)
        if before is None or after is None:
            return
        dd = [st.level[i] - old[i] for i in range(len(old))]
        dg = [after[p] - before[p] for p in range(len(after))]
        self._learn(st, dd, dg)

    def _mean(self, t0, t1):
        """The grid's mean per phase over the samples from ``t0`` to ``t1`` (s); None with
        fewer than two, or when a phase spread more than ``_SPREAD_MA`` among them."""
        t0 = int(t0 * 10)
        t1 = int(t1 * 10)
        n = self.n
        s = [0] * n
        lo = [0] * n
        hi = [0] * n
        c = 0
        for j in range(_RING):
            t = self.t[j]
            if t < 0 or t < t0 or t > t1:
                continue
            for p in range(n):
                x = self.g[j * _PHASES + p]
                s[p] += x
                if c == 0 or x < lo[p]:
                    lo[p] = x
                if c == 0 or x > hi[p]:
                    hi[p] = x
            c += 1
        if c < 2:
            return None
        for p in range(n):
            if hi[p] - lo[p] > _SPREAD_MA:
                return None
        return [x // c for x in s]

    def _learn(self, st, dd, dg):
        steps = [i for i in range(len(dd)) if abs(dd[i]) >= _STEP_MA]
        if not steps:
            return
        for i in range(len(dd)):
            if i not in steps and abs(dd[i]) > _SAME_MA:
                return
        d = 0
        for i in steps:
            d += dd[i]
        d //= len(steps)
        for i in steps:
            if abs(dd[i] - d) > _QUIET_MA:
                return          # uneven: which moved where can't be told
        tol = abs(d) // 4
        if tol < _QUIET_MA:
            tol = _QUIET_MA
        moved = []
        for p in range(len(dg)):
            if abs(abs(dg[p]) - abs(d)) <= tol:
                moved.append(p)
            elif abs(dg[p]) > _QUIET_MA:
                return          # a phase moved by something else
        if len(moved) != len(steps):
            return
        if len(steps) == 1:
            v = st.votes[steps[0]]
            v.append(moved[0])
            if len(v) > _VOTES:
                v.pop(0)
        if self.signed:
            for p in moved:
                self.inverted[p] = (dg[p] > 0) != (d > 0)

    def learnt_map(self, cid):
        """The phase map the steps of charger ``cid`` show, where it differs from its
        configured one; else None. A learnt phase takes its site phase from the charger
        phase that had it (the map stays one site phase per charger phase)."""
        st = self.chargers.get(cid)
        if st is None:
            return None
        m = list(st.map)
        for i in range(len(m)):
            v = st.votes[i]
            if len(v) == _VOTES and v.count(v[0]) == _VOTES and v[0] < 3:
                x = "ABC"[v[0]]
                if x in m:
                    m[m.index(x)] = m[i]
                m[i] = x
        m = "".join(m)
        return m if m != st.map else None

    def found(self, chargers):
        """What differs from the configuration (``chargers``: the checked charger
        settings): ([(id, suggested map, configured map)], inverted site phase letters).
        ``core.status.findings`` says it in words."""
        maps = []
        for c in chargers:
            m = self.learnt_map(c["id"])
            if m is not None:
                maps.append((c["id"], m, c["phase_map"]))
        return maps, self.inverted_phases()

    def inverted_phases(self):
        """Site phase letters whose grid input the latest step showed inverted."""
        return "".join("ABC"[p] for p in sorted(self.inverted) if self.inverted[p])


def _same(a, b):
    for i in range(len(a)):
        if abs(a[i] - b[i]) > _SAME_MA:
            return False
    return True
