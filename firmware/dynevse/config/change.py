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


def command_changes(cfg, target, key, value, detector):
    """The changes ([(path, value)]) a command from Home Assistant asks for: its setting,
    or what the detection found (``detector``: ``core.detect.Detector``) for the buttons
    that apply it; a ConfigError when there is nothing to apply."""
    if key == "apply_phase_map":
        m = detector.learnt_map(target)
        if m is None:
            raise ConfigError("chargers[%s].phase_map" % target,
                              "nothing to apply: its steps have not shown another phase map")
        return [(path_of(cfg, target, "phase_map"), m)]
    if key == "invert_grid":
        inputs = cfg["mqtt"]["inputs"]
        out = []
        for x in detector.inverted_phases():
            q = "grid_l%d" % ("ABC".index(x) + 1)
            if q in inputs:
                out.append(("mqtt.inputs.%s.invert" % q, not inputs[q]["invert"]))
        if not out:
            raise ConfigError("mqtt.inputs", "nothing to apply: no grid input has been seen inverted")
        return out
    return [(path_of(cfg, target, key), value)]


def _whole(path, value):
    """A path without a field row of its own, checked by the whole check: the battery's
    absence (``site.battery`` False) and the site-data inputs (``mqtt.inputs.solar.topic``,
    or ``mqtt.inputs.solar`` None to drop one)."""
    if path == "site.battery":
        return value is False
    return path.startswith("mqtt.inputs.") and path.count(".") in (2, 3)


def _set(raw, path, value):
    """Set ``path`` (``site.battery.soc_min``, ``chargers[1].max_a``) in ``raw``; an index
    one past the end of a list adds an entry there; None removes the key."""
    node = raw
    parts = path.split(".")
    for p in parts[:-1]:
        if "[" in p:
            name = p[:p.index("[")]
            i = int(p[p.index("[") + 1:-1])
            lst = node.get(name)
            if lst is None:
                lst = node[name] = []
            if isinstance(lst, list) and i == len(lst):
                lst.append({})          # the next entry: how a form adds a charger
            if not isinstance(lst, list) or i >= len(lst) or not isinstance(lst[i], dict):
                raise ConfigError(p, "no such entry")
            node = lst[i]
        else:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def change(board, cfg, changes):
    """Apply ``changes`` ([(path, value)]) to the stored configuration; returns the new
    checked configuration. Raises ConfigError naming the field (nothing changes then)."""
    for path, value in changes:
        if _whole(path, value):
            continue
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
