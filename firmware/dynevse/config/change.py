"""Changing the configuration: one or more values, checked whole, then stored and used.

``change(board, cfg, changes)`` is how every change is made — a command from Home
Assistant, a form on the web page: it works on a fresh copy of config.json, runs the
whole check (``check.check``: every rule between fields, the same as at boot), and only
then stores it (``store.save``: atomic) and returns the new checked configuration, which
the caller swaps in. On any error nothing is stored and ``cfg`` is left as it was.

The settings Home Assistant may change are ``schema.commands``.
"""
import json

from dynevse.config import fields, schema, store
from dynevse.config.check import check
from dynevse.config.schema import ConfigError

def path_of(cfg, target, key):
    """The configuration path a command names: ``site.mode``, ``site.battery.soc_min``,
    ``chargers[1].max_a``."""
    if target == "site":
        return ("site.battery." if key in ("soc_min", "soc_target") else "site.") + key
    for i in range(len(cfg["chargers"])):
        if cfg["chargers"][i]["id"] == target:
            return "chargers[%d].%s" % (i, key)
    raise ConfigError("chargers[%s]" % target, "no charger with this id is configured")


def _set(raw, path, value):
    """Set ``path`` (``site.battery.soc_min``, ``chargers[1].max_a``) in ``raw``."""
    node = raw
    parts = path.split(".")
    for p in parts[:-1]:
        if "[" in p:
            name = p[:p.index("[")]
            i = int(p[p.index("[") + 1:-1])
            lst = node.get(name)
            if not isinstance(lst, list) or i >= len(lst) or not isinstance(lst[i], dict):
                raise ConfigError(p, "no such entry")
            node = lst[i]
        else:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
    node[parts[-1]] = value


def change(board, cfg, changes):
    """Apply ``changes`` ([(path, value)]) to the stored configuration; returns the new
    checked configuration. Raises ConfigError naming the field (nothing changes then)."""
    for path, value in changes:
        f = fields.field(path)
        if f is None:
            raise ConfigError(path, "is not a setting")
        schema.check_value(path, value, f[1], f[3], f[4], f[5])
    text, _note = store.read(board)
    try:
        raw = json.loads(text) if text is not None else {}
    except ValueError:
        raise ConfigError("config", "config.json is not valid JSON: fix it before changing settings")
    for path, value in changes:
        _set(raw, path, value)
    new = check(raw)
    store.save(board, raw, new)
    return new
