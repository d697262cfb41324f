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
bytes (compared by CRC to publish only on change).

Commands coming back are recognised here (``parse_command``) and handled by the
``commands`` module, which is loaded only for that.
"""
import json

from dynevse.compat import is_number

SITE_KEYS = ("allow_grid_charging", "available_a", "distribution", "export_w", "mode",
             "net_w", "power_buffer_w", "soc_min", "soc_target", "solar_w", "status",
             "surplus_w", "warnings")
CHARGER_KEYS = ("active", "allocated_a", "available_a", "max_a", "min_a", "mode",
                "mode_active", "phases_in_use", "priority", "reason", "status", "target_a")

def _value(v):
    if v is None or type(v) is bool or is_number(v):
        return v
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v[:16]]
    return str(v)[:100]


def encode(d, keys):
    """Compact JSON of ``d`` restricted to ``keys`` (sorted), missing keys as null."""
    out = "{"
    for k in keys:
        if len(out) > 1:
            out += ","
        out += '"%s":%s' % (k, json.dumps(_value(d.get(k)), separators=(",", ":")))
    return out + "}"


def snapshot(result, site_cfg, chargers_cfg, live=None):
    """Merge an engine result, the validated settings and the regulation status into
    (site state dict, [charger state dicts]) ready for ``Link.publish_state``.

    ``live`` (optional): ``{"site": {"warnings": [...], "status": "..."},
    "chargers": {id: {"status": OCPP status, "reason": "..."}}}``.
    """
    live = live or {}
    ls = live.get("site") or {}
    rs = result.get("site") or {}
    warnings = list(rs.get("warnings") or []) + list(ls.get("warnings") or [])
    site = {
        "mode": site_cfg.get("mode"),
        "distribution": site_cfg.get("distribution"),
        "allow_grid_charging": site_cfg.get("allow_grid_charging"),
        "power_buffer_w": site_cfg.get("power_buffer_w"),
        "available_a": rs.get("headroom_a"),
        "net_w": rs.get("net_w"),
        "surplus_w": rs.get("surplus_w"),
        "solar_w": rs.get("solar_w"),
        "export_w": rs.get("export_w"),
        "warnings": warnings,
        "status": ls.get("status") or (", ".join(warnings) if warnings else "ok"),
    }
    bat = site_cfg.get("battery")
    if bat:
        site["soc_min"] = bat.get("soc_min")
        site["soc_target"] = bat.get("soc_target")
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
        chargers.append({
            "id": cid,
            "mode": c.get("mode") or "default",
            "mode_active": r.get("mode"),
            "min_a": c.get("min_a"),
            "max_a": c.get("max_a"),
            "priority": c.get("priority"),
            "allocated_a": r.get("allocated_a"),
            "target_a": r.get("target_a"),
            "available_a": r.get("available_a"),
            "active": r.get("active"),
            "phases_in_use": r.get("phases_in_use"),
            "status": l.get("status"),
            "reason": l.get("reason") or r.get("limited_by"),
        })
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
