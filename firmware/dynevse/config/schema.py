"""The kinds of configuration field, and how a value of each kind is checked.

A field is ``(key, kind, default, lo, hi, unit)``. ``kind`` is NUM, INT, BOOL, TEXT, ID,
IDS, PHASE_MAP, TOPIC, HOST or a tuple of allowed values; ``default`` REQUIRED means the
field must be given. The tables are ``config.site`` (the site, its battery, circuit groups
and chargers) and ``config.fields`` (the rest, and ``SECTIONS``, all tables in the order a
person reads them). Everything that validates a value (the board, the host tools, the web
pages, commands from Home Assistant) goes through ``check_value``, so a bad value gets
the same error everywhere: the field's path, what is allowed and what was given, e.g.
``chargers[1].min_a: must be a number from 0 to 80 A, got -5``.
"""
from dynevse.compat import const, is_number

NUM = "number"
INT = "integer"
BOOL = "boolean"
TEXT = "text"
ID = "id"
IDS = "id list"
PHASE_MAP = "phase map"
TOPIC = "topic"
HOST = "host"
REQUIRED = "<required>"

ID_MAX = const(32)
TEXT_MAX = const(64)
TOPIC_MAX = const(128)        # bytes; a configured topic longer than this is refused


class ConfigError(ValueError):
    """A configuration value is not allowed. ``field`` is its path, e.g. ``chargers[0].max_a``."""

    def __init__(self, field, message):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.message = message


def describe(kind, lo, hi, unit):
    """What a field of ``kind`` allows, in words: "must be a number from 0 to 80 A"."""
    u = (" " + unit) if unit else ""
    if kind == NUM or kind == INT:
        return "must be %s from %s to %s%s" % ("a number" if kind == NUM else "a whole number", lo, hi, u)
    if kind == BOOL:
        return "must be true or false"
    if kind == ID:
        return "must be 1 to %d characters of A-Z a-z 0-9 _ - ." % ID_MAX
    if kind == IDS:
        return "must be a list of ids"
    if kind == TEXT:
        return "must be text of at most %d characters" % TEXT_MAX
    if kind == PHASE_MAP:
        return "must name the site phase of each charger phase, e.g. ABC or BCA"
    if kind == TOPIC:
        return "must be a topic of at most %d bytes without + # or empty levels" % TOPIC_MAX
    if kind == HOST:
        return "must be a host name or IPv4 address"
    return "must be one of " + ", ".join(repr(c) for c in kind)


def valid_id(s):
    if not isinstance(s, str) or not 0 < len(s) <= ID_MAX:
        return False
    for ch in s:
        if not (ch.isalpha() or ch.isdigit() or ch in "_-.") or ord(ch) > 127:
            return False
    return True


def valid_host(s):
    """A DNS name or IPv4 address: letters, digits, '-', '.', at most 253 characters."""
    if not isinstance(s, str) or len(s) > 253:
        return False
    for ch in s:
        if not (ch.isalpha() or ch.isdigit() or ch in "-.") or ord(ch) > 127:
            return False
    return True


def valid_topic(s):
    """A topic we publish to or subscribe to exactly: printable, no wildcards, bounded."""
    if not isinstance(s, str) or not s or len(s.encode("utf-8")) > TOPIC_MAX:
        return False
    for ch in s:
        if ch in "+#" or ord(ch) < 32:
            return False
    return not (s.startswith("/") or s.endswith("/") or "//" in s)


def check_value(path, value, kind, lo, hi, unit):
    """Return ``value`` normalised for ``kind`` or raise ConfigError naming ``path``."""
    ok = True
    if kind == NUM or kind == INT:
        ok = is_number(value) and lo <= value <= hi
        if ok and kind == INT:
            ok = value == int(value)
            value = int(value)
    elif kind == BOOL:
        ok = type(value) is bool
    elif kind == ID:
        ok = valid_id(value)
    elif kind == TEXT:
        ok = isinstance(value, str) and len(value) <= TEXT_MAX
    elif kind == IDS:
        ok = isinstance(value, (list, tuple)) and len(value) <= 32 and all(valid_id(v) for v in value)
        value = list(value) if ok else value
    elif kind == PHASE_MAP:
        ok = isinstance(value, str) and len(value) <= 3
        value = value.upper() if ok else value
    elif kind == TOPIC:
        ok = value == "" or valid_topic(value)     # empty: derived from the device id
    elif kind == HOST:
        ok = valid_host(value)
    elif isinstance(kind, tuple):
        ok = type(value) is not bool and value in kind
    else:
        raise ConfigError(path, "has an unknown kind %r" % (kind,))
    if not ok:
        raise ConfigError(path, "%s, got %r" % (describe(kind, lo, hi, unit), value))
    return value


def check_section(path, data, fields, strict=False, extra=()):
    """Validate a dict against ``fields``; return a new dict with defaults filled in.

    With ``strict`` an unknown key is an error (a typo in a file); without it unknown
    keys are left out. ``extra`` names sub-sections the caller checks itself.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path or "config", "must be a mapping of settings, got %r" % (data,))
    out = {}
    prefix = path + "." if path else ""
    for key, kind, default, lo, hi, unit in fields:
        value = data.get(key)
        if value is None:
            if default is REQUIRED:
                raise ConfigError(prefix + key, "is required")
            value = list(default) if isinstance(default, tuple) else default
        else:
            value = check_value(prefix + key, value, kind, lo, hi, unit)
        out[key] = value
    if strict:
        known = [f[0] for f in fields]
        for key in sorted(data):
            if key not in known and key not in extra:
                raise ConfigError(prefix + str(key), "unknown setting")
    return out


def defaults(fields):
    """The default value of each field that has one."""
    out = {}
    for f in fields:
        if f[2] is not REQUIRED:
            out[f[0]] = list(f[2]) if isinstance(f[2], tuple) else f[2]
    return out


