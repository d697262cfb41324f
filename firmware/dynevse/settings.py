"""The whole configuration of a board (config.json): every section, validated at once.

The field tables live with what they configure: ``core.schema`` (device, Wi-Fi, web,
control, site, battery, chargers, circuit groups, regulation), ``ocpp.config`` (the
central system and each charger's OCPP options) and ``mqtt.config`` (broker, topics,
site-data inputs). ``SECTIONS`` lists them all, in the order a person reads them;
``settings_help`` has a help text for every field. Loaded at boot, by the host tools and
by the web page; the control loop does not keep it in memory.
"""
from dynevse.core import schema
from dynevse.core.schema import ConfigError
from dynevse.mqtt.config import MQTT_FIELDS, check_mqtt
from dynevse.ocpp.config import CHARGER_OCPP_FIELDS, OCPP_FIELDS, check_chargers_ocpp, check_ocpp

# (section, fields, is a list of entries)
SECTIONS = (
    ("device", schema.DEVICE_FIELDS, False),
    ("wifi", schema.WIFI_FIELDS, False),
    ("web", schema.WEB_FIELDS, False),
    ("control", schema.CONTROL_FIELDS, False),
    ("site", schema.SITE_FIELDS, False),
    ("site.battery", schema.BATTERY_FIELDS, False),
    ("site.groups", schema.GROUP_FIELDS, True),
    ("chargers", schema.CHARGER_FIELDS + (("name", schema.TEXT, "", None, None, ""),), True),
    ("chargers", CHARGER_OCPP_FIELDS, True),
    ("regulation", schema.REGULATION_FIELDS, False),
    ("ocpp", OCPP_FIELDS, False),
    ("mqtt", MQTT_FIELDS, False),
)
TOP = ("device", "wifi", "web", "control", "site", "chargers", "regulation", "ocpp", "mqtt")
# Set elsewhere, fed to the OCPP side by the app: one value, one place.
OCPP_DERIVED = {"fallback_a": "regulation.fallback_a",
                "profile_duration_s": "regulation.profile_duration_s",
                "refresh_before_s": "regulation.refresh_before_s",
                "voltage_v": "site.voltage_v"}
# Never shown, never sent out.
SECRETS = ("wifi.password", "wifi.ap_password", "web.admin_password", "mqtt.password",
           "chargers[].password")
_CHARGER_KEYS = [f[0] for f in schema.CHARGER_FIELDS] + [f[0] for f in CHARGER_OCPP_FIELDS] + ["name"]


def check_config(cfg, strict=True):
    """Validate a whole configuration; returns it normalised (defaults filled in).

    Raises ConfigError naming the field and what is allowed. ``strict``: unknown keys are
    errors (a typo in a file)."""
    if not isinstance(cfg, dict):
        raise ConfigError("config", "must be a JSON object of sections, got %r" % (cfg,))
    if strict:
        for key in sorted(cfg):
            if key not in TOP:
                raise ConfigError(str(key), "unknown section; sections: " + ", ".join(TOP))
    out = {}
    for name, fields in (("device", schema.DEVICE_FIELDS), ("wifi", schema.WIFI_FIELDS),
                         ("web", schema.WEB_FIELDS), ("control", schema.CONTROL_FIELDS)):
        out[name] = schema.check_section(name, _section(cfg, name), fields, strict)
    site = _section(cfg, "site")
    chargers = cfg.get("chargers")
    if chargers is None:
        chargers = []
    s, cs, gs = schema.check_setup(site, chargers, False)
    if strict:
        schema.check_site(site, True)
        for i, ch in enumerate(chargers):
            for key in sorted(ch):
                if key not in _CHARGER_KEYS:
                    raise ConfigError("chargers[%d].%s" % (i, key), "unknown setting")
        schema.check_groups(site.get("groups"), cs, True)
    ocpp_opts = check_chargers_ocpp(chargers)
    for i in range(len(cs)):
        ch = chargers[i]
        name = ch.get("name", "")
        cs[i]["name"] = schema.check_value("chargers[%d].name" % i, name, schema.TEXT, None, None, "")
        for key in ocpp_opts[i]:
            if key not in cs[i]:
                cs[i][key] = ocpp_opts[i][key]
    s["groups"] = gs
    out["site"] = s
    out["chargers"] = cs
    out["regulation"] = schema.check_regulation(cfg.get("regulation"), strict)
    _check_fallback(out)
    ocpp = _section(cfg, "ocpp")
    for key in OCPP_DERIVED:
        if key in ocpp:
            raise ConfigError("ocpp." + key, "is set by %s" % OCPP_DERIVED[key])
    out["ocpp"] = check_ocpp(ocpp, strict)
    out["mqtt"] = check_mqtt(cfg.get("mqtt"), out["device"]["id"])
    return out


def _section(cfg, name):
    v = cfg.get(name)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(name, "must be a mapping of settings, got %r" % (v,))
    return v


def _check_fallback(cfg):
    """The fallback current, given to every charger when the grid data is stale, must fit
    the breaker on each phase with nothing else drawing."""
    site = cfg["site"]
    fb = cfg["regulation"]["fallback_a"]
    usable = site["breaker_a"] - site["breaker_margin_a"]
    for phase in schema.PHASE_NAMES[:site["phases"]]:
        total = 0
        for c in cfg["chargers"]:
            if phase in c["phase_map"] and fb >= c["min_a"]:
                total += fb
        if total > usable:
            raise ConfigError("regulation.fallback_a",
                              "must fit the breaker: %s A x the chargers on phase %s is %s A, above the %s A usable"
                              % (fb, phase, total, usable))


def ocpp_settings(cfg):
    """The ``ocpp`` section as the central system takes it, with the values set elsewhere."""
    out = dict(cfg["ocpp"])
    out["fallback_a"] = cfg["regulation"]["fallback_a"]
    out["profile_duration_s"] = cfg["regulation"]["profile_duration_s"]
    out["refresh_before_s"] = cfg["regulation"]["refresh_before_s"]
    out["voltage_v"] = cfg["site"]["voltage_v"]
    return out


def engine_settings(cfg):
    """(site, chargers, groups) as ``engine.allocate`` takes them pre-validated."""
    return cfg["site"], cfg["chargers"], cfg["site"]["groups"]


def is_secret(path):
    """True for a field whose value is never shown: ``path`` like "mqtt.password" or
    "chargers[2].password"."""
    if "[" in path:
        path = path[:path.index("[")] + "[]" + path[path.index("]") + 1:]
    return path in SECRETS


def masked(cfg):
    """A copy of a configuration with every secret that is set replaced by "********"."""
    out = {}
    for key in cfg:
        v = cfg[key]
        if isinstance(v, dict):
            v = dict(v)
            for k in v:
                if is_secret(key + "." + k) and v[k]:
                    v[k] = "********"
        elif isinstance(v, list) and key == "chargers":
            v = [dict(c) for c in v]
            for c in v:
                if c.get("password"):
                    c["password"] = "********"
        out[key] = v
    return out
