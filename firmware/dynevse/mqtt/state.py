"""What goes to Home Assistant each cycle (state JSON) and what comes back (commands).

Hub state (``<base>/site/state``), every key always present, null when unknown::

    {"allow_grid_charging":true,"available_a":[10.2,12.0,9.9],"distribution":"shared",
     "export_w":0,"mode":"eco","net_w":1450,"power_buffer_w":0,"soc_min":20,
     "soc_target":80,"solar_w":2100,"status":"ok","surplus_w":0,"warnings":[]}

Charger state (``<base>/charger/<id>/state``)::

    {"active":true,"allocated_a":10.5,"available_a":10.5,"max_a":16,"min_a":6,
     "mode":"default","mode_active":"eco","phases_in_use":3,"priority":1,
     "reason":"mode","status":"Charging","target_a":10.5}

``mode`` is the charger's setting (``default`` follows the site), ``mode_active`` the
mode the engine used. Keys are written in sorted order so equal states give equal
bytes (compared to publish only on change). ``snapshot`` writes the JSON straight from
the tables ``SITE`` and ``CHARGER`` (no dict per state, no key constants in memory).

Commands coming back are recognised here (``parse_command``) and handled by
``occasional.command``, loaded only for that.
"""
import json

from dynevse.compat import is_number

# One key per line, sorted: key, source (an index into what ``encode`` is given), the
# source's field ("-": the source is the value itself).
# Hub: 0 site settings, 1 the engine's site result, 2 battery settings (None without a
# battery), 3 warnings, 4 status.
SITE = """allow_grid_charging 0 allow_grid_charging
available_a 1 headroom_a
distribution 0 distribution
export_w 1 export_w
mode 0 mode
net_w 1 net_w
power_buffer_w 0 power_buffer_w
soc_min 2 soc_min
soc_target 2 soc_target
solar_w 1 solar_w
status 4 -
surplus_w 1 surplus_w
warnings 3 -"""
# Charger: 0 its settings, 1 the engine's row for it, 2 its live data, 3 mode, 4 reason.
CHARGER = """active 1 active
allocated_a 1 allocated_a
available_a 1 available_a
max_a 0 max_a
min_a 0 min_a
mode 3 -
mode_active 1 mode
phases_in_use 1 phases_in_use
priority 0 priority
reason 4 -
status 2 status
target_a 1 target_a"""


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

    ``live`` (optional): ``{"site": {"warnings": [...], "status": "..."},
    "chargers": {id: {"status": OCPP status, "reason": "..."}}}``.
    """
    live = live or {}
    ls = live.get("site") or {}
    rs = result.get("site") or {}
    warnings = list(rs.get("warnings") or []) + list(ls.get("warnings") or [])
    site = encode(SITE, (site_cfg, rs, site_cfg.get("battery") or None, warnings,
                         ls.get("status") or (", ".join(warnings) if warnings else "ok")))
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
        chargers.append((cid, encode(CHARGER, (c, r, l, c.get("mode") or "default",
                                               l.get("reason") or r.get("limited_by")))))
    return site, chargers


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
