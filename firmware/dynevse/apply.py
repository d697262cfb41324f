"""Commands (from Home Assistant) applied to the running configuration and persisted.

Commands are rare, so the app imports this module for one command and drops it after.
The value has already passed the schema check for its field; what is checked here is
how it fits the other settings.
"""
import asyncio
import json

from dynevse import log
from dynevse.core.schema import ConfigError


def command(app, target, key, value):
    """Apply ``key = value`` to the site or to charger ``target``; persist it.

    Raises ConfigError when the change conflicts with another setting (nothing changes).
    """
    cfg = app.cfg
    if target == "site":
        if key in ("soc_min", "soc_target"):
            bat = cfg["site"]["battery"]
            lo, hi = (value, bat["soc_target"]) if key == "soc_min" else (bat["soc_min"], value)
            if lo > hi:
                raise ConfigError("site.battery." + key, "must keep soc_min (%s) <= soc_target (%s)" % (lo, hi))
            bat[key] = value
            persist(app, ("site", "battery", key), value)
        else:
            cfg["site"][key] = value
            persist(app, ("site", key), value)
        log.info("command: site %s = %r", key, value)
        return
    index = [c["id"] for c in cfg["chargers"]].index(target)
    c = cfg["chargers"][index]
    path = "chargers[%d]." % index
    if key == "reset":
        log.info("command: %s reset its charging profile", target)
        session = app.central.charger(target)
        if session is not None and session.connected:
            asyncio.create_task(app._send(session, 0.0, 3, True))
        app.regulator.send_failed(target)
        return
    if key == "min_a" and value > c["max_a"]:
        raise ConfigError(path + "min_a", "must not be above max_a (%s A), got %s" % (c["max_a"], value))
    if key == "max_a" and value < c["min_a"]:
        raise ConfigError(path + "max_a", "must not be below min_a (%s A), got %s" % (c["min_a"], value))
    usable = cfg["site"]["breaker_a"] - cfg["site"]["breaker_margin_a"]
    if key == "min_a" and value > usable:
        raise ConfigError(path + "min_a", "must fit the main breaker (%s A usable), got %s" % (usable, value))
    c[key] = value
    persist(app, ("chargers", index, key), value)
    log.info("command: %s %s = %r", target, key, value)


def persist(app, path, value):
    """Write one changed value into config.json (atomically), and the checked copy with
    it, so the next boot need not check again."""
    from dynevse.start import config_key, store_checked
    board = app.board
    raw = json.loads(board.read_text(board.config_path))
    node = raw
    for k in path[:-1]:
        if isinstance(k, int):
            node = node[k]
        else:
            if node.get(k) is None:
                node[k] = {}
            node = node[k]
    node[path[-1]] = value
    text = json.dumps(raw)
    board.write_atomic(board.config_path, text)
    key = config_key(board, text)
    if key is not None:
        store_checked(board, key, app.cfg)
