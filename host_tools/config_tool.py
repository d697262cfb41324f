"""Write, validate and show board configurations (config.json).

    python -m host_tools config new [--out F] [--ask | --answers FILE] [--charger ID[:MIN:MAX:PHASES]] [--set PATH=VALUE] ... [--force]
    python -m host_tools config validate F
    python -m host_tools config show F [--help-text]
    python -m host_tools config reference

Validation is the board's own (``dynevse.config.check``): an error names the field and what
is allowed. Secrets are never printed. ``--ask`` (``make config-new``) asks what a site
needs (host_tools.wizard), with presets for common meters and inverters
(host_tools.presets); ``--answers`` reads the same answers from a file.
"""
import json
import os
import sys

from host_tools import FIRMWARE_PATH  # noqa: F401  (puts firmware/ on sys.path)
from dynevse.config import help as settings_help
from dynevse.config.check import check
from dynevse.config.fields import masked
from dynevse.config.schema import ConfigError


def _parse_value(text):
    """A value from the command line: JSON when it parses (numbers, true, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _charger(spec):
    """``cp1`` or ``cp1:6:16:3`` (id, min A, max A, phases)."""
    parts = spec.split(":")
    c = {"id": parts[0]}
    for key, text in zip(("min_a", "max_a", "phases"), parts[1:]):
        c[key] = _parse_value(text)
    return c


def cmd_new(args):
    if os.path.exists(args.out) and not args.force:
        print("config new: %s exists; `make config-new FORCE=1` (or --force) replaces it" % args.out,
              file=sys.stderr)
        return 1
    cfg = {}
    lines = []
    if args.ask or args.answers:
        from host_tools import wizard
        try:
            cfg, lines = wizard.new_config(args.answers)
        except wizard.Stopped as e:
            print("\nconfig new: stopped (%s); nothing written" % e, file=sys.stderr)
            return e.code
        except wizard.AnswerError as e:
            print("config new: %s; nothing written" % e, file=sys.stderr)
            return 1
    if args.charger:
        cfg["chargers"] = [_charger(s) for s in args.charger]
    from host_tools.wizard import board_check, set_path
    for item in args.set or ():
        if "=" not in item:
            print("config new: --set needs PATH=VALUE, got %r" % item, file=sys.stderr)
            return 2
        path, text = item.split("=", 1)
        try:
            set_path(cfg, path, _parse_value(text))
        except (IndexError, ValueError, TypeError, AttributeError):
            print("config new: can't set %r" % path, file=sys.stderr)
            return 2
    try:
        board_check(cfg)
    except ConfigError as e:
        print("config new: %s" % e, file=sys.stderr)
        return 1
    # it holds the Wi-Fi and MQTT passwords: readable by its owner only
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    print("wrote %s (%d charger(s))" % (args.out, len(cfg.get("chargers") or [])))
    for line in lines:
        print(line)
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
    n.add_argument("--ask", action="store_true", help="ask what a site needs (make config-new does)")
    n.add_argument("--answers", metavar="FILE", help="take the answers from a JSON file instead (for scripts)")
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
