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
"""
import json

from dynevse.core import schema
from dynevse.core.schema import ConfigError
from dynevse.mqtt import discovery as D

SITE_KEYS = ("allow_grid_charging", "available_a", "distribution", "export_w", "mode",
             "net_w", "power_buffer_w", "soc_min", "soc_target", "solar_w", "status",
             "surplus_w", "warnings")
CHARGER_KEYS = ("active", "allocated_a", "available_a", "max_a", "min_a", "mode",
                "mode_active", "phases_in_use", "priority", "reason", "status", "target_a")
_TEXT_MAX = 100
_LIST_MAX = 16
_COMMAND_MAX = 64


def _value(v):
    if v is None or type(v) is bool or schema.is_number(v):
        return v
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v[:_LIST_MAX]]
    return str(v)[:_TEXT_MAX]


def encode(d, keys):
    """Compact JSON of ``d`` restricted to ``keys`` (sorted), missing keys as null."""
    parts = []
    for k in keys:
        parts.append('"%s":%s' % (k, json.dumps(_value(d.get(k)), separators=(",", ":"))))
    return "{" + ",".join(parts) + "}"


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
    by_id = {}
    for r in result.get("chargers") or []:
        by_id[r.get("id")] = r
    lc = live.get("chargers") or {}
    chargers = []
    for c in chargers_cfg:
        r = by_id.get(c["id"]) or {}
        l = lc.get(c["id"]) or {}
        chargers.append({
            "id": c["id"],
            "mode": c.get("mode") or D.DEFAULT_OPTION,
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


def decode_command(topics, topic, payload, retained, battery, charger_ids):
    """A command message -> (target, key, value), target "site" or a charger id.

    Validated like any other input, through the configuration schema; anything else
    raises ConfigError naming the setting, what is allowed and what was given.
    """
    parsed = topics.parse_command(topic)
    if parsed is None:
        raise ConfigError("mqtt.command", "%r is not a command topic" % topic)
    cid, key = parsed
    if cid is None:
        table = D.HUB
        path = "site." + key
    else:
        table = D.CHARGER
        path = "chargers[%s].%s" % (cid, key)
        if cid not in charger_ids:
            raise ConfigError("chargers[%s]" % cid, "no charger with this id is configured")
    row = D.row_of(table, key)
    if row is None or row[1] not in D.COMMANDS or (row[7] == "battery" and not battery):
        names = [r[0] for r in D.entities(table, 3, battery) if r[1] in D.COMMANDS]
        raise ConfigError(path, "is not a setting that can be changed over MQTT; one of " + ", ".join(names))
    if retained:
        raise ConfigError(path, "retained commands are ignored: publish without the retain flag")
    text = None
    if len(payload) <= _COMMAND_MAX:
        try:
            text = bytes(payload).decode("utf-8").strip()
        except Exception:
            text = None
    if text is None:
        raise ConfigError(path, "must be text of at most %d bytes" % _COMMAND_MAX)
    comp = row[1]
    if comp == D.BUTTON:
        if text != D.PRESS:
            raise ConfigError(path, "must be %s, got %r" % (D.PRESS, text))
        return (cid or "site"), key, None
    if comp == D.SWITCH:
        if text not in ("ON", "OFF"):
            raise ConfigError(path, "must be ON or OFF, got %r" % text)
        value = text == "ON"
    elif comp == D.SELECT:
        opts = D.options(cid is None, key)
        if text not in opts:
            raise ConfigError(path, "must be one of %s, got %r" % (", ".join(opts), text))
        value = "" if text == D.DEFAULT_OPTION else text
    else:
        try:
            value = float(text)
        except Exception:
            value = text        # check_value below says what a number must look like
        if schema.is_number(value) and value == int(value):
            value = int(value)  # so that "16" is shown back as 16, not 16.0
    spath, f = D.setting(cid is None, key)
    if cid is None:
        path = spath
    value = schema.check_value(path, value, f[1], f[3], f[4], f[5])
    return (cid or "site"), key, value
