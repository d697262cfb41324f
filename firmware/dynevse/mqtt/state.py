"""What goes to Home Assistant each cycle (state JSON) and what comes back (commands).

Hub state (``<base>/site/state``), every key always present, null when unknown::

    {"allow_grid_charging":true,"available_a":[10.2,12.0,9.9],"battery_soc":55,
     "battery_w":-300,"distribution":"shared","export_w":0,"grid_a":[6.3,2.1,4.0],
     "grid_w":2860,"mode":"eco","net_w":1450,"power_buffer_w":0,"problem":false,
     "soc_min":20,"soc_target":80,"solar_w":2100,"status":"OK","surplus_w":0,"warnings":[]}

Charger state (``<base>/charger/<id>/state``)::

    {"active":true,"allocated_a":10.5,"available_a":10.5,"connected":true,
     "current_a":[10.4,10.5,10.3],"energy_kwh":1234.567,"max_a":16,"min_a":6,
     "mode":"default","mode_active":"eco","phase_map":"ABC","phase_map_suggested":null,
     "phases_in_use":3,"plugged":true,
     "power_w":7210,"priority":1,"reason":"ok","regulation":"Charging at 10.5 A",
     "session_kwh":4.2,"status":"Charging","target_a":10.5}

``mode`` is the charger's setting (``default`` follows the site), ``mode_active`` the
mode the engine used; ``reason`` the regulator's word, ``regulation`` the same as a
sentence (``core.status``); the site's ``status`` is its warnings as a sentence
(``warnings`` keeps their words). Measured values (current, power) are null when the
charger's reading is older than ``regulation.meter_max_age_s`` or the charger is not
connected; the site's readings are null when older than the regulator's limits. Keys are
written in sorted order so equal states give equal bytes (compared to publish only on
change). ``snapshot`` writes the JSON straight from the tables ``SITE`` and ``CHARGER``
(no dict per state, no key constants in memory); ``site_values`` and ``charger_values``
give it what the readings and the OCPP session say.

Commands coming back are recognised here (``parse_command``) and handled by
``commands.command``, loaded only for that.
"""
import json

from dynevse.aio import ticks_diff
from dynevse.compat import is_number
from dynevse.core.status import site_text, text

# One key per line, sorted: key, source (an index into what ``encode`` is given), the
# source's field ("-": the source is the value itself).
# Hub: 0 site settings, 1 the engine's site result, 2 battery settings (None without a
# battery), 3 warnings, 4 status, 5 the site's values (``site_values``).
SITE = """allow_grid_charging 0 allow_grid_charging
available_a 1 headroom_a
battery_soc 5 battery_soc
battery_w 5 battery_w
distribution 0 distribution
export_w 1 export_w
grid_a 5 grid_a
grid_w 5 grid_w
mode 0 mode
net_w 1 net_w
power_buffer_w 0 power_buffer_w
problem 5 problem
soc_min 2 soc_min
soc_target 2 soc_target
solar_w 1 solar_w
status 4 -
surplus_w 1 surplus_w
warnings 3 -"""
# Charger: 0 its settings, 1 the engine's row for it, 2 its live data (``charger_values``
# and the regulator's), 3 mode, 4 reason.
CHARGER = """active 1 active
allocated_a 1 allocated_a
available_a 1 available_a
connected 2 connected
current_a 2 current_a
energy_kwh 2 energy_kwh
max_a 0 max_a
min_a 0 min_a
mode 3 -
mode_active 1 mode
phase_map 0 phase_map
phase_map_suggested 2 phase_map_suggested
phases_in_use 1 phases_in_use
plugged 2 plugged
power_w 2 power_w
priority 0 priority
reason 4 -
regulation 2 regulation
session_kwh 2 session_kwh
status 2 status
target_a 1 target_a"""

# OCPP statuses with a car at the connector, and without one; any other says nothing
_PLUGGED = ("Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing")
_EMPTY = ("Available", "Reserved")
# a warning that is how the site is, not a problem
_NOT_A_PROBLEM = ("off_grid",)


def _item(v, i):
    if isinstance(v, (list, tuple)):
        return v[i] if i < len(v) and is_number(v[i]) else None
    return v if is_number(v) else None


def _round(x, k):
    """``x`` to 1/k (k = 1: a whole number), for display (not round(): MicroPython's
    differs)."""
    n = int(x * k + (0.5 if x >= 0 else -0.5))
    return n if k == 1 else n / k


def site_values(readings, ages, site_cfg, grid_max_age_s, input_max_age_s):
    """The site as the controller sees it, for the hub state: ``grid_a`` (A per site
    phase, from the meter's A or its W and the voltage), ``grid_w`` (W, + import: the
    meter's total, else the phases' sum), ``battery_soc``, ``battery_w``; a reading older
    than its limit (grid: ``grid_max_age_s``, the others ``input_max_age_s``) is None."""
    ages = ages or {}

    def fresh(key, limit):
        v = readings.get(key)
        return None if v is None or ages.get(key, 0) > limit else v
    n = site_cfg.get("phases", 3)
    volts = fresh("voltage", input_max_age_s)
    ga = fresh("grid_a", grid_max_age_s)
    gw = fresh("grid_w", grid_max_age_s)
    total = fresh("grid_total_w", grid_max_age_s)
    amps = []
    watts = 0
    for p in range(n):
        v = _item(volts, p)
        if v is None or not 50 <= v <= 500:
            v = site_cfg.get("voltage_v", 230)
        a = _item(ga, p)
        w = _item(gw, p)
        if a is None and w is not None:
            a = w / v
        elif w is None and a is not None:
            w = a * v
        amps.append(None if a is None or site_cfg.get("off_grid") else _round(a, 100))
        watts = None if w is None or watts is None else watts + w
    if not is_number(total):
        total = watts if n else None
    if site_cfg.get("off_grid"):
        total = None
    return {"grid_a": amps, "grid_w": None if total is None else _round(total, 1),
            "battery_soc": _item(fresh("battery_soc", input_max_age_s), 0),
            "battery_w": _item(fresh("battery_w", input_max_age_s), 0)}


def charger_values(session, now_ms, max_age_s, energy=None):
    """What the charger's OCPP session says, for its state: ``connected``, ``plugged``
    (None when its status says neither), ``current_a`` (A per charger phase L1..L3, None
    where not metered), ``power_w``, and from ``energy`` (an ``energy.Energy``)
    ``energy_kwh`` and ``session_kwh``."""
    connected = session is not None and session.connected
    meter = session.meter if session is not None else {}

    def fresh(key):
        m = meter.get(key)
        if m is None or not connected or ticks_diff(now_ms, m[1]) > max_age_s * 1000:
            return None
        return m[0]
    st = session.status() if connected else None
    cur = fresh("current_a") or (None, None, None)
    out = {"connected": connected, "plugged": True if st in _PLUGGED else False if st in _EMPTY else None,
           "current_a": [None if x is None else _round(x, 100) for x in cur],
           "power_w": fresh("power_w")}
    total = sess = None
    if energy is not None and session is not None:
        total, sess = energy.update(session.id, meter.get("energy_wh"), session.transaction_id,
                                    session.meter_start_wh)
    out["energy_kwh"] = None if total is None else int(total) / 1000
    out["session_kwh"] = None if sess is None else int(sess) / 1000
    if out["power_w"] is not None:
        out["power_w"] = _round(out["power_w"], 1)
    return out


def _value(v):
    if v is None or type(v) is bool or is_number(v):
        return v
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v[:16]]
    return str(v)[:100]


def encode(table, sources):
    """Compact JSON object with every key of ``table`` (``SITE``, ``CHARGER`` or the
    like), in its order, each value taken from ``sources`` as the table says; null when
    unknown."""
    w = table.split()
    out = "{"
    for i in range(0, len(w), 3):
        v = sources[int(w[i + 1])]
        if w[i + 2] != "-":
            v = None if v is None else v.get(w[i + 2])
        out += '%s"%s":%s' % ("," if i else "", w[i], json.dumps(_value(v), separators=(",", ":")))
    return out + "}"


def snapshot(result, site_cfg, chargers_cfg, live=None):
    """Merge an engine result, the validated settings and the regulation status into
    (site state JSON, [(charger id, charger state JSON)]) for ``Link.publish_state``.

    ``live`` (optional): ``{"site": {"warnings": [...], "status": "..."} and what
    ``site_values`` gives, "chargers": {id: {"status": OCPP status, "reason": the
    regulator's word, "regulation": its sentence} and what ``charger_values`` gives}}``.
    """
    live = live or {}
    ls = live.get("site") or {}
    rs = result.get("site") or {}
    warnings = list(rs.get("warnings") or []) + list(ls.get("warnings") or [])
    values = {}
    for k in ls:
        values[k] = ls[k]
    grid = values.get("grid_a")
    values["grid_a"] = grid if isinstance(grid, list) else [None] * site_cfg.get("phases", 3)
    values["problem"] = len([w for w in warnings if w not in _NOT_A_PROBLEM]) > 0
    site = encode(SITE, (site_cfg, rs, site_cfg.get("battery") or None, warnings,
                         ls.get("status") or site_text(warnings), values))
    lc = live.get("chargers") or {}
    chargers = []
    for c in chargers_cfg:
        cid = c["id"]
        r = {}
        for x in result.get("chargers") or ():
            if x.get("id") == cid:
                r = x
                break
        l = lc.get(cid) or {}
        if not isinstance(l.get("current_a"), list):
            l["current_a"] = [None, None, None]
        chargers.append((cid, encode(CHARGER, (c, r, l, c.get("mode") or "default",
                                               l.get("reason") or r.get("limited_by")))))
    return site, chargers


def regulation_text(row):
    """A regulator row as the sentence of the charger's state."""
    t = text(row)
    return t[:1].upper() + t[1:]


def parse_command(base, topic):
    """(charger id or None for the site, key) of a command topic under ``base``, or None."""
    head = base + "/"
    if topic.startswith(head):
        p = topic[len(head):].split("/")
        if len(p) == 3 and p[0] == "site" and p[2] == "set":
            return None, p[1]
        if len(p) == 4 and p[0] == "charger" and p[3] == "set":
            return p[1], p[2]
    return None
