"""Configuration schema: every field's kind, range, default and unit, and its validation.

The board, the host tools and the web page validate through here, so a bad value gets
the same error everywhere: the field's path, what is allowed, and what was given, e.g.
``chargers[1].min_a: must be a number from 0 to 80 A, got -5``.

A field is ``(key, kind, default, lo, hi, unit)``. ``kind`` is NUM, INT, BOOL, TEXT, ID,
IDS, PHASE_MAP or a tuple of allowed values. ``default`` REQUIRED means the field must be
given. Help texts live in ``schema_help`` so the board need not load them.
"""
from dynevse.compat import const, is_number  # noqa: F401  (is_number is part of this API)

NUM = "number"
INT = "integer"
BOOL = "boolean"
TEXT = "text"
ID = "id"
IDS = "id list"
PHASE_MAP = "phase map"
REQUIRED = "<required>"

MODES = ("standard", "eco", "solar", "excess")
DISTRIBUTIONS = ("shared", "priority", "sequential_optimized", "sequential_strict")
PHASE_NAMES = "ABC"
_ID_MAX = const(32)
_TEXT_MAX = const(64)
_MAX_CHARGERS = const(16)
_MAX_GROUPS = const(16)

DEVICE_FIELDS = (
    ("id", ID, "dynevse", None, None, ""),
    ("name", TEXT, "Panel controller", None, None, ""),
    ("log_level", ("debug", "info", "warning", "error"), "info", None, None, ""),
)

WIFI_FIELDS = (
    ("ssid", TEXT, "", None, None, ""),
    ("password", TEXT, "", None, None, ""),
    ("hostname", ID, "dynevse", None, None, ""),
    ("ap_ssid", TEXT, "DynEVSE-setup", None, None, ""),
    ("ap_password", TEXT, "", None, None, ""),
)

WEB_FIELDS = (
    ("port", INT, 80, 1, 65535, ""),
    ("admin_password", TEXT, "", None, None, ""),
)

CONTROL_FIELDS = (
    ("cycle_s", NUM, 5, 1, 60, "s"),
    ("grid_source", ("mqtt", "ct", "none"), "mqtt", None, None, ""),
)

SITE_FIELDS = (
    ("phases", (1, 3), 3, None, None, ""),
    ("voltage_v", NUM, 230, 100, 300, "V"),
    ("breaker_a", NUM, 25, 1, 1000, "A"),
    ("breaker_margin_a", NUM, 0, 0, 100, "A"),
    ("max_import_w", NUM, 0, 0, 1000000, "W"),
    ("power_buffer_w", NUM, 0, 0, 100000, "W"),
    ("allow_grid_charging", BOOL, True, None, None, ""),
    ("mode", MODES, "standard", None, None, ""),
    ("distribution", DISTRIBUTIONS, "shared", None, None, ""),
    ("excess_threshold_w", NUM, 0, 0, 1000000, "W"),
)

BATTERY_FIELDS = (
    ("soc_min", NUM, 20, 0, 100, "%"),
    ("soc_target", NUM, 80, 0, 100, "%"),
    ("soc_hysteresis", NUM, 3, 0, 20, "%"),
    ("max_charge_w", NUM, 5000, 0, 100000, "W"),
    ("max_discharge_w", NUM, 5000, 0, 100000, "W"),
)

CHARGER_FIELDS = (
    ("id", ID, REQUIRED, None, None, ""),
    ("min_a", NUM, 6, 0, 80, "A"),
    ("max_a", NUM, 16, 1, 80, "A"),
    ("phases", (1, 3), 3, None, None, ""),
    ("phase_map", PHASE_MAP, "", None, None, ""),
    ("priority", INT, 1, 1, 10, ""),
    ("mode", MODES + ("",), "", None, None, ""),
)

REGULATION_FIELDS = (
    ("ramp_up_a_s", NUM, 2.0, 0.1, 100, "A/s"),
    ("deadband_a", NUM, 0.5, 0, 5, "A"),
    ("profile_duration_s", INT, 180, 60, 3600, "s"),
    ("refresh_before_s", INT, 60, 5, 600, "s"),
    ("pause_s", INT, 180, 0, 3600, "s"),
    ("grace_s", INT, 120, 0, 3600, "s"),
    ("grid_max_age_s", NUM, 15, 1, 600, "s"),
    ("stale_hold_s", NUM, 30, 0, 600, "s"),
    ("fallback_a", NUM, 6, 0, 80, "A"),
    ("input_max_age_s", NUM, 60, 1, 3600, "s"),
    ("meter_max_age_s", NUM, 60, 1, 3600, "s"),
    ("idle_s", INT, 60, 0, 3600, "s"),
    ("idle_draw_a", NUM, 1.0, 0, 6, "A"),
    ("compliance_tolerance_a", NUM, 2.0, 0.5, 20, "A"),
    ("compliance_cycles", INT, 3, 1, 100, ""),
    ("car_response_s", NUM, 30, 2, 60, "s"),
    ("grace_import_pct", NUM, 1, 0, 20, "%"),
    ("sun_back_s", INT, 10, 0, 3600, "s"),
)

GROUP_FIELDS = (
    ("id", ID, REQUIRED, None, None, ""),
    ("limit_a", NUM, REQUIRED, 1, 1000, "A"),
    ("chargers", IDS, (), None, None, ""),
)


class ConfigError(ValueError):
    """A configuration value is not allowed. ``field`` is its path, e.g. ``chargers[0].max_a``."""

    def __init__(self, field, message):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.message = message


def _describe(kind, lo, hi, unit):
    u = (" " + unit) if unit else ""
    if kind == NUM or kind == INT:
        what = "a number" if kind == NUM else "a whole number"
        return "must be %s from %s to %s%s" % (what, lo, hi, u)
    if kind == BOOL:
        return "must be true or false"
    if kind == ID:
        return "must be 1 to %d characters of A-Z a-z 0-9 _ - ." % _ID_MAX
    if kind == IDS:
        return "must be a list of ids"
    if kind == TEXT:
        return "must be text of at most %d characters" % _TEXT_MAX
    if kind == PHASE_MAP:
        return "must name the site phase of each charger phase, e.g. ABC or BCA"
    return "must be one of " + ", ".join(repr(c) for c in kind)


def _valid_id(s):
    if not isinstance(s, str) or not 0 < len(s) <= _ID_MAX:
        return False
    for ch in s:
        if not (ch.isalpha() or ch.isdigit() or ch in "_-.") or ord(ch) > 127:
            return False
    return True


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
        ok = _valid_id(value)
    elif kind == TEXT:
        ok = isinstance(value, str) and len(value) <= _TEXT_MAX
    elif kind == IDS:
        ok = isinstance(value, (list, tuple)) and all(_valid_id(v) for v in value)
        value = list(value) if ok else value
    elif kind == PHASE_MAP:
        ok = isinstance(value, str) and len(value) <= 3
        value = value.upper() if ok else value
    elif isinstance(kind, tuple):
        ok = type(value) is not bool and value in kind
    else:
        raise ConfigError(path, "has an unknown kind %r" % (kind,))
    if not ok:
        raise ConfigError(path, "%s, got %r" % (_describe(kind, lo, hi, unit), value))
    return value


def check_section(path, data, fields, strict=False, extra=()):
    """Validate a dict against ``fields``; return a new dict with defaults filled in.

    With ``strict`` an unknown key is an error (a typo in a file); without it unknown
    keys are left out (runtime readings travel in the same dicts as settings). ``extra``
    names sub-sections the caller checks itself.
    """
    if not isinstance(data, dict):
        raise ConfigError(path or "config", "must be a mapping of settings, got %r" % (data,))
    out = {}
    prefix = path + "." if path else ""
    for key, kind, default, lo, hi, unit in fields:
        value = data.get(key)
        if value is None:
            if default is REQUIRED:
                raise ConfigError(prefix + key, "is required")
            value = default
            if isinstance(value, tuple):
                value = list(value)
        else:
            value = check_value(prefix + key, value, kind, lo, hi, unit)
        out[key] = value
    if strict:
        known = [f[0] for f in fields]
        for key in sorted(data):
            if key not in known and key not in extra:
                raise ConfigError(prefix + str(key), "unknown setting")
    return out


def check_site(site, strict=False):
    """Validate the site settings (and its battery and circuit groups)."""
    cfg = check_section("site", site, SITE_FIELDS, strict, ("battery", "groups"))
    bat = site.get("battery")
    if bat is None or bat is False:
        cfg["battery"] = None
    else:
        b = check_section("site.battery", bat, BATTERY_FIELDS, strict)
        if b["soc_min"] > b["soc_target"]:
            raise ConfigError("site.battery.soc_min",
                              "must not be above soc_target (%s %%), got %s" % (b["soc_target"], b["soc_min"]))
        cfg["battery"] = b
    if cfg["breaker_margin_a"] >= cfg["breaker_a"]:
        raise ConfigError("site.breaker_margin_a",
                          "must be below breaker_a (%s A), got %s" % (cfg["breaker_a"], cfg["breaker_margin_a"]))
    return cfg


def check_charger(path, ch, site_cfg, strict=False):
    """Validate one charger's settings against the site."""
    c = check_section(path, ch, CHARGER_FIELDS, strict)
    if c["min_a"] > c["max_a"]:
        raise ConfigError(path + ".min_a", "must not be above max_a (%s A), got %s" % (c["max_a"], c["min_a"]))
    n_site = site_cfg["phases"]
    if c["phases"] > n_site:
        raise ConfigError(path + ".phases",
                          "must be 1 on a single-phase site (only L1 is connected), got %s" % c["phases"])
    pm = c["phase_map"]
    site_phases = PHASE_NAMES[:n_site]
    if pm == "":
        pm = site_phases[:c["phases"]] if n_site == 3 or c["phases"] == 1 else "A"
    ok = len(pm) == c["phases"]
    for i in range(len(pm)):
        if pm[i] not in site_phases or pm[i] in pm[:i]:
            ok = False
    if not ok:
        raise ConfigError(path + ".phase_map",
                          "must give each of the charger's %d phase(s) a different site phase out of %s, got %r"
                          % (c["phases"], site_phases, pm))
    c["phase_map"] = pm
    usable = site_cfg["breaker_a"] - site_cfg["breaker_margin_a"]
    if c["min_a"] > usable:
        raise ConfigError(path + ".min_a",
                          "must not be above what the main breaker allows (%s A after the margin), got %s"
                          % (usable, c["min_a"]))
    return c


def check_chargers(chargers, site_cfg, strict=False):
    """Validate the list of chargers; ids must be unique."""
    if not isinstance(chargers, (list, tuple)):
        raise ConfigError("chargers", "must be a list, got %r" % (chargers,))
    if len(chargers) > _MAX_CHARGERS:
        raise ConfigError("chargers", "must have at most %d chargers, got %d" % (_MAX_CHARGERS, len(chargers)))
    out = []
    seen = []
    for i, ch in enumerate(chargers):
        path = "chargers[%d]" % i
        c = check_charger(path, ch, site_cfg, strict)
        if c["id"] in seen:
            raise ConfigError(path + ".id", "must be unique, %r is used twice" % c["id"])
        seen.append(c["id"])
        out.append(c)
    return out


def check_groups(groups, chargers, strict=False):
    """Validate circuit groups: known member ids and a limit no smaller than a member's minimum."""
    if groups is None:
        return []
    if not isinstance(groups, (list, tuple)):
        raise ConfigError("site.groups", "must be a list, got %r" % (groups,))
    if len(groups) > _MAX_GROUPS:
        raise ConfigError("site.groups", "must have at most %d groups, got %d" % (_MAX_GROUPS, len(groups)))
    by_id = {}
    for c in chargers:
        by_id[c["id"]] = c
    out = []
    seen = []
    for i, g in enumerate(groups):
        path = "site.groups[%d]" % i
        gc = check_section(path, g, GROUP_FIELDS, strict)
        if gc["id"] in seen:
            raise ConfigError(path + ".id", "must be unique, %r is used twice" % gc["id"])
        seen.append(gc["id"])
        for member in gc["chargers"]:
            c = by_id.get(member)
            if c is None:
                raise ConfigError(path + ".chargers", "names unknown charger %r" % member)
            if c["min_a"] > gc["limit_a"]:
                raise ConfigError(path + ".limit_a", "must not be below the min_a of charger %r (%s A), got %s"
                                  % (member, c["min_a"], gc["limit_a"]))
        out.append(gc)
    return out


def check_regulation(settings, strict=False):
    """Validate the regulation settings (docs/regulation.md), defaults filled in."""
    r = check_section("regulation", settings if settings is not None else {}, REGULATION_FIELDS, strict)
    if r["refresh_before_s"] >= r["profile_duration_s"]:
        raise ConfigError("regulation.refresh_before_s",
                          "must be below profile_duration_s (%s s), got %s"
                          % (r["profile_duration_s"], r["refresh_before_s"]))
    return r


def check_setup(site, chargers, strict=False):
    """Validate a whole setup; returns (site settings, charger settings, groups)."""
    s = check_site(site, strict)
    cs = check_chargers(chargers, s, strict)
    gs = check_groups(site.get("groups"), cs, strict)
    return s, cs, gs


def defaults(fields):
    """The default value of each field that has one."""
    out = {}
    for f in fields:
        if f[2] is not REQUIRED:
            out[f[0]] = list(f[2]) if isinstance(f[2], tuple) else f[2]
    return out
