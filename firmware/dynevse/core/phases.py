"""What each phase may carry: break before make, and the measured-overload cut.

Both work on the regulator's decisions for one cycle (``new``: each charger's limit in
tenths of an amp) against the measured grid (mA per site phase, None where unknown):

- ``make_after_break``: increases, in the distribution order, only as far as every phase
  (and circuit group) stays within its limit with every car at the most it may still
  draw. A car's "most" (``com``) is its limit in force or any limit delivered since that
  it may still follow: a reduction that has not been seen yet makes no room.
- ``cut``: a phase measured over its limit is shed, lowest in the order first, as far as
  the decisions don't already shed it with every car at the least it may draw.

Pure; integer mA arithmetic.
"""
from dynevse.compat import const
from dynevse.core.engine import milli

_DA = const(100)   # limits in tenths of an amp


def make_after_break(order, new, reasons, want, lows, com, mins, ids, letters, grid, limit, groups):
    """Apply the wanted increases (``want``: tenths of an amp or None) to ``new`` as far as
    they fit; a charger held back gets the reason ``waiting_for_room``.

    ``lows``/``com``: per charger, the least it may draw now and the most it may draw
    once it follows what it was given (mA; 0 for an unplugged one); ``mins``: minimum in
    tenths; ``letters``: the site phases it loads; ``limit``: a phase's limit, mA.
    """
    n = len(grid) if grid else 3

    def load(j, x):
        m = x * _DA
        return m if m > com[j] else com[j]

    for i in order:
        if want[i] is None:
            continue
        top = want[i] * _DA
        for x in letters[i]:
            p = "ABC".index(x)
            if p >= n:
                continue
            g = grid[p] if grid else None
            # the measured phase, plus what each other car may still add to it
            t = g if g is not None else 0
            for j in range(len(new)):
                if j != i and x in letters[j]:
                    t += load(j, new[j]) - (lows[j] if g is not None else 0)
            room = limit - t + (lows[i] if g is not None else 0)
            if room < top:
                top = room
        for grp in groups:
            if ids[i] not in grp["chargers"]:
                continue
            for x in letters[i]:
                used = 0
                for j in range(len(new)):
                    if j != i and ids[j] in grp["chargers"] and x in letters[j]:
                        used += load(j, new[j])
                room = milli(grp["limit_a"]) - used
                if room < top:
                    top = room
        if top < com[i]:
            top = com[i]            # up to what it may already draw adds nothing
        got = top // _DA
        if got >= want[i]:
            new[i] = want[i]
        else:
            if got > new[i] and (new[i] > 0 or got >= mins[i]):
                new[i] = got
            reasons[i] = "waiting_for_room"


def cut(order, new, reasons, lows, mins, letters, grid, limit):
    """Shed what a phase is measured over its limit beyond what ``new`` already sheds
    with every car at the least it may draw (``lows``, mA; None: unplugged): lowest in
    the order first, each to its minimum, or to 0 when that is not enough."""
    if not grid:
        return
    for p in range(len(grid)):
        if grid[p] is None or grid[p] <= limit:
            continue
        letter = "ABC"[p]
        shed = 0
        on = []
        for j in order:
            if letter in letters[j] and lows[j] is not None:
                on.append(j)
                d = lows[j] - new[j] * _DA
                shed += d if d > 0 else 0
        rem = grid[p] - limit - shed
        for j in reversed(on):
            if rem <= 0:
                break
            if new[j] == 0 or reasons[j] == "uncontrolled":
                continue
            have = lows[j] - new[j] * _DA
            have = have if have > 0 else 0
            x = (lows[j] - have - rem) // _DA
            if x < mins[j]:
                x = 0
            if x < new[j]:
                gain = lows[j] - x * _DA
                rem -= (gain if gain > 0 else 0) - have
                new[j] = x
                reasons[j] = "over_limit_cut"


def grid_ma(site, cfg):
    """The measured grid per site phase in mA (None for a phase without a reading), or
    [] without grid data."""
    n = cfg["phases"]
    volts = milli(cfg["voltage_v"]) // 1000
    ga = site.get("grid_a")
    gw = site.get("grid_w")
    if not isinstance(ga, (list, tuple)) and not isinstance(gw, (list, tuple)):
        return []
    out = []
    for p in range(n):
        g = None
        if isinstance(ga, (list, tuple)) and p < len(ga):
            g = milli(ga[p])
        if g is None and isinstance(gw, (list, tuple)) and p < len(gw):
            w = milli(gw[p])
            g = None if w is None else w // volts
        out.append(g)
    return out


def import_w(grid, total_w, volts):
    """What the site imports now, W (export counts 0), or None without grid data."""
    if grid and None not in grid:
        w = 0
        for x in grid:
            w += x * volts
        w //= 1000
    elif total_w is not None:
        w = milli(total_w) // 1000
    else:
        return None
    return w if w > 0 else 0
