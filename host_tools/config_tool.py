"""Write, validate and show board configurations (config.json).

    python -m host_tools config new [--out F] [--ask] [--charger ID[:MIN:MAX:PHASES]] [--set PATH=VALUE] ...
    python -m host_tools config validate F
    python -m host_tools config show F [--help-text]
    python -m host_tools config reference

Validation is the board's own (``dynevse.config.check``): an error names the field and what
is allowed. Secrets are never printed.
"""
import json
import os
import sys

from host_tools import FIRMWARE_PATH  # noqa: F401  (puts firmware/ on sys.path)
from dynevse.config import help as settings_help
from dynevse.config.check import check
from dynevse.config.fields import masked
from dynevse.config.schema import ConfigError

_QUESTIONS = (
    ("device.id", "Board name (letters, digits, _ - .)", "dynevse"),
    ("wifi.ssid", "Wi-Fi network (empty: setup access point)", ""),
    ("wifi.password", "Wi-Fi password", ""),
    ("site.phases", "Phases of the supply (1 or 3)", 3),
    ("site.breaker_a", "Main breaker rating per phase, A", 25),
    ("site.mode", "Charging mode (standard, eco, solar, excess)", "standard"),
    ("mqtt.host", "MQTT broker (empty: no MQTT)", ""),
)


def _parse_value(text):
    """A value from the command line: JSON when it parses (numbers, true, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def set_path(cfg, path, value):
    """Set ``site.breaker_a`` or ``chargers.0.max_a`` in a nested configuration."""
    parts = path.split(".")
    node = cfg
    for i, p in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            node = node[int(p)]
            continue
        if p not in node:
            node[p] = [] if nxt.isdigit() else {}
        node = node[p]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _charger(spec):
    """``cp1`` or ``cp1:6:16:3`` (id, min A, max A, phases)."""
    parts = spec.split(":")
    c = {"id": parts[0]}
    for key, text in zip(("min_a", "max_a", "phases"), parts[1:]):
        c[key] = _parse_value(text)
    return c


def _ask(cfg):
    for path, question, default in _QUESTIONS:
        answer = input("%s [%s]: " % (question, default)).strip()
        set_path(cfg, path, _parse_value(answer) if answer else default)
    ids = input("Charger ids, separated by spaces (their OCPP chargePointId): ").split()
    cfg["chargers"] = [{"id": i} for i in ids]


def cmd_new(args):
    cfg = {}
    if args.ask:
        _ask(cfg)
    if args.charger:
        cfg["chargers"] = [_charger(s) for s in args.charger]
    for item in args.set or ():
        if "=" not in item:
            print("config new: --set needs PATH=VALUE, got %r" % item, file=sys.stderr)
            return 2
        path, text = item.split("=", 1)
        try:
            set_path(cfg, path, _parse_value(text))
        except (IndexError, ValueError, TypeError):
            print("config new: can't set %r" % path, file=sys.stderr)
            return 2
    try:
        check(cfg)
    except ConfigError as e:
        print("config new: %s" % e, file=sys.stderr)
        return 1
    if os.path.exists(args.out) and not args.force:
        print("config new: %s exists (use --force to replace it)" % args.out, file=sys.stderr)
        return 1
    with open(args.out, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    print("wrote %s (%d charger(s))" % (args.out, len(cfg.get("chargers") or [])))
    return 0


def load(path):
    """A configuration file, validated; raises ConfigError or OSError."""
    with open(path) as f:
        text = f.read()
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConfigError("config", "not valid JSON (%s)" % e)
    return check(raw)


def _load_or_say(path):
    """The checked configuration at ``path``, or None once the reason is printed."""
    try:
        return load(path)
    except (ConfigError, OSError) as e:
        print("%s: %s" % (path, e))
        return None


def cmd_validate(args):
    cfg = _load_or_say(args.file)
    if cfg is None:
        return 1
    print("%s: ok (%d charger(s), mode %s, %s)" % (args.file, len(cfg["chargers"]), cfg["site"]["mode"],
                                                  cfg["site"]["distribution"]))
    return 0


def _rows(prefix, value):
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _rows(prefix + "." + k if prefix else k, value[k])
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, v in enumerate(value):
            yield from _rows("%s[%d]" % (prefix, i), v)
    else:
        yield prefix, value


def cmd_show(args):
    cfg = _load_or_say(args.file)
    if cfg is None:
        return 1
    rows = list(_rows("", masked(cfg)))
    width = max(len(p) for p, _ in rows)
    for path, value in rows:
        line = "%-*s = %s" % (width, path, json.dumps(value))
        if args.help_text:
            h = settings_help.help_for(path)
            if h:
                line += "   # " + h
        print(line)
    return 0


def add_parser(sub):
    p = sub.add_parser("config", help="write, validate or show a configuration")
    cs = p.add_subparsers(dest="config_command", required=True)
    n = cs.add_parser("new", help="write a configuration from flags or questions")
    n.add_argument("--out", default="config.json")
    n.add_argument("--ask", action="store_true", help="ask the essential questions")
    n.add_argument("--charger", action="append", help="ID[:MIN_A:MAX_A:PHASES], repeatable")
    n.add_argument("--set", action="append", help="PATH=VALUE, e.g. site.breaker_a=32, repeatable")
    n.add_argument("--force", action="store_true", help="replace an existing file")
    v = cs.add_parser("validate", help="check a configuration; errors name the field")
    v.add_argument("file")
    s = cs.add_parser("show", help="a configuration with defaults filled in, secrets masked")
    s.add_argument("file")
    s.add_argument("--help-text", action="store_true", help="add each field's help")
    cs.add_parser("reference", help="the configuration reference page (docs/configuration.md)")


def main(args):
    if args.config_command == "reference":
        from host_tools import reference
        return reference.main(args)
    return {"new": cmd_new, "validate": cmd_validate, "show": cmd_show}[args.config_command](args)
