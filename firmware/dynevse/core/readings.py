"""Which site readings the regulator believes: fresh enough, and physically possible.

A grid, solar or battery value that is NaN, infinite or beyond what the site can carry is
a missing reading, never headroom. The bounds come from the site's own settings:

- a phase importing more than 3 x its breaker: a miniature breaker trips magnetically
  from 3-5 x its rating within 0.1 s, so such a current can't last a control cycle;
- a phase exporting more than 1.5 x its breaker: the export passes the same breaker and
  an inverter is sized for the connection; 1.5 x trips a breaker thermally within
  minutes, so it is not a reading to plan on;
- solar above 3 x what the connection carries, or below -200 W (an inverter at night
  reports a few watts below zero, not kilowatts);
- battery power above 2 x its configured max charge or discharge power, an SOC outside
  0-100 %.

Any implausible phase refuses the whole grid reading (a missing phase would count as an
empty house on that phase, which is headroom too). A refused grid is stale at once: the
stale-data rules hold the commands, then fall back. The refusal shows in the result's
``warnings`` once, in the cycle it starts (``implausible_grid_a``, ...), and in
``refused`` every cycle while it lasts.
"""
from dynevse.compat import is_number

GRID_KEYS = ("grid_a", "grid_w", "grid_total_w")
OTHER_KEYS = ("solar_w", "battery_soc", "battery_w", "voltage", "inverter_w", "inverter_phase_w")
_IMPORT_X = 3.0
_EXPORT_X = 1.5
_SOLAR_X = 3.0
_SOLAR_NIGHT_W = -200.0
_BATTERY_X = 2.0


def _in(x, lo, hi):
    return is_number(x) and lo <= x <= hi


def _phases_ok(values, lo, hi):
    """Per-phase list: None is a phase without a sensor (missing, not wrong)."""
    if not isinstance(values, (list, tuple)):
        return values is None
    for x in values:
        if x is not None and not _in(x, lo, hi):
            return False
    return True


def implausible(site):
    """Names of the readings in ``site`` that can't be true for this site."""
    breaker = site.get("breaker_a", 25)
    volts = site.get("voltage_v", 230)
    n = site.get("phases", 3)
    lo_a, hi_a = -_EXPORT_X * breaker, _IMPORT_X * breaker
    out = []
    if not _phases_ok(site.get("grid_a"), lo_a, hi_a):
        out.append("grid_a")
    if not _phases_ok(site.get("grid_w"), lo_a * volts, hi_a * volts):
        out.append("grid_w")
    total = site.get("grid_total_w")
    if total is not None and not _in(total, lo_a * volts * n, hi_a * volts * n):
        out.append("grid_total_w")
    solar = site.get("solar_w")
    if solar is not None and not _in(solar, _SOLAR_NIGHT_W, _SOLAR_X * breaker * volts * n):
        out.append("solar_w")
    bat = site.get("battery")
    b = site.get("battery_w")
    if b is not None:
        top = 0
        if isinstance(bat, dict):
            top = max(bat.get("max_charge_w", 5000), bat.get("max_discharge_w", 5000))
        if not _in(b, -_BATTERY_X * top, _BATTERY_X * top):
            out.append("battery_w")
    soc = site.get("battery_soc")
    if soc is not None and not _in(soc, 0, 100):
        out.append("battery_soc")
    return out


class ReadingCheck:
    """Staleness and plausibility of the site readings, with what it remembers between
    cycles (since when the grid is refused, what was already reported)."""

    def __init__(self):
        self.grid_bad_since = None
        self.refused = []

    def check(self, now_s, site, ages, cfg):
        """(site with the readings to believe, grid stale for s or None, refused names,
        warnings new this cycle)."""
        out = {}
        for k in site:
            out[k] = site[k]
        refused = implausible(site)
        news = ["implausible_" + k for k in refused if k not in self.refused]
        self.refused = refused
        grid_bad = False
        for k in refused:
            if k in GRID_KEYS:
                grid_bad = True
            else:
                out.pop(k, None)
        grid_age = None
        for k in GRID_KEYS:
            if site.get(k) is not None:
                a = ages.get(k, 0)
                grid_age = a if grid_age is None or a < grid_age else grid_age
        stale_for = None
        if grid_age is not None and grid_age > cfg["grid_max_age_s"]:
            stale_for = grid_age - cfg["grid_max_age_s"]
        if grid_bad:
            if self.grid_bad_since is None:
                self.grid_bad_since = now_s
            bad_for = now_s - self.grid_bad_since
            stale_for = bad_for if stale_for is None or bad_for > stale_for else stale_for
        else:
            self.grid_bad_since = None
        if stale_for is not None:
            for k in GRID_KEYS:
                out.pop(k, None)
        for k in OTHER_KEYS:
            if out.get(k) is not None and ages.get(k, 0) > cfg["input_max_age_s"]:
                out.pop(k, None)
        return out, stale_for, refused, news
