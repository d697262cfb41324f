"""The whole configuration checked at once: every field and every rule between fields.

``check(raw)`` is the one check there is. The board runs it at boot and on every change
(a command from Home Assistant, a form on the web page), the host tools run it on files,
so a configuration the board accepted once is accepted again after the next firmware
update. It returns a new, normalised configuration (defaults filled in, derived values
set) and never changes ``raw``; a bad value raises ``ConfigError`` naming the field.
"""
from dynevse.config.fields import (CONTROL_FIELDS, DEVICE_FIELDS, MQTT_FIELDS, OCPP_DERIVED,
                                   OCPP_FIELDS, REGULATION_FIELDS, TOP, WEB_FIELDS, WIFI_FIELDS)
from dynevse.config.schema import REQUIRED, TEXT, ConfigError, check_section, check_value
from dynevse.config.site import (BATTERY_FIELDS, CHARGER_FIELDS, GROUP_FIELDS, MAX_CHARGERS,
                                 MAX_GROUPS, PHASE_NAMES, SITE_FIELDS)

_ID_TAG_MAX = 20       # IdToken is CiString20Type
_PASSWORD_MAX = 40     # AuthorizationKey: at most 20 bytes, given as up to 40 hex digits
_PATH_MAX = 64
_PATH_PARTS = 8


def check(raw, strict=True):
    """Validate a whole configuration (the parsed config.json); returns it normalised.

    ``strict``: unknown keys are errors (a typo in a file)."""
    if not isinstance(raw, dict):
        raise ConfigError("config", "must be a JSON object of sections, got %r" % (raw,))
    if strict:
        for key in sorted(raw):
            if key not in TOP:
                raise ConfigError(str(key), "unknown section; sections: " + ", ".join(TOP))
    out = {}
    for name, fields in (("device", DEVICE_FIELDS), ("wifi", WIFI_FIELDS), ("web", WEB_FIELDS),
                         ("control", CONTROL_FIELDS)):
        out[name] = check_section(name, raw.get(name), fields, strict)
    if out["wifi"]["ap_password"] and len(out["wifi"]["ap_password"]) < 8:
        raise ConfigError("wifi.ap_password", "must be empty (an open access point) or 8 to 64 characters")
    site, chargers, groups = check_setup(raw.get("site"), raw.get("chargers"), strict)
    site["groups"] = groups
    out["site"] = site
    out["chargers"] = chargers
    out["regulation"] = check_regulation(raw.get("regulation"), strict)
    check_fallback(site, chargers, out["regulation"]["fallback_a"])
    out["ocpp"] = check_ocpp(raw.get("ocpp"), strict, out)
    out["mqtt"] = check_mqtt(raw.get("mqtt"), out["device"]["id"])
    return out


def check_site(site, strict=False):
    """Validate the site settings and its battery (circuit groups: ``check_groups``)."""
    cfg = check_section("site", site, SITE_FIELDS, strict, ("battery", "groups"))
    bat = (site or {}).get("battery")
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
    check_inverter(cfg)
    return cfg


def check_inverter(cfg):
    """Cross-field rules of the inverter and off-grid settings of a checked site."""
    total = cfg["inverter_max_w"]
    if total > 0 and cfg["inverter_max_phase_w"] > total:
        raise ConfigError("site.inverter_max_phase_w",
                          "must not be above inverter_max_w (%s W), got %s" % (total, cfg["inverter_max_phase_w"]))
    if cfg["off_grid"] and cfg["max_import_w"] > 0:
        raise ConfigError("site.max_import_w",
                          "must be 0 on an off-grid site (there is no grid to import from), got %s"
                          % cfg["max_import_w"])


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
    _check_password(path, c)
    return c


def _check_password(path, c):
    if len(c["password"]) > _PASSWORD_MAX:
        raise ConfigError(path + ".password", "must be at most %d characters, got %d"
                          % (_PASSWORD_MAX, len(c["password"])))


def check_chargers(chargers, site_cfg, strict=False):
    """Validate the list of chargers; ids must be unique."""
    if chargers is None:
        chargers = []
    if not isinstance(chargers, (list, tuple)):
        raise ConfigError("chargers", "must be a list, got %r" % (chargers,))
    if len(chargers) > MAX_CHARGERS:
        raise ConfigError("chargers", "must have at most %d chargers, got %d" % (MAX_CHARGERS, len(chargers)))
    out = []
    seen = []
    for i in range(len(chargers)):
        path = "chargers[%d]" % i
        c = check_charger(path, chargers[i], site_cfg, strict)
        if c["id"] in seen:
            raise ConfigError(path + ".id", "must be unique, %r is used twice" % c["id"])
        seen.append(c["id"])
        out.append(c)
    return out


def check_groups(groups, chargers, strict=False):
    """Validate circuit groups: known member ids, a limit no smaller than a member's minimum."""
    if groups is None:
        return []
    if not isinstance(groups, (list, tuple)):
        raise ConfigError("site.groups", "must be a list, got %r" % (groups,))
    if len(groups) > MAX_GROUPS:
        raise ConfigError("site.groups", "must have at most %d groups, got %d" % (MAX_GROUPS, len(groups)))
    by_id = {}
    for c in chargers:
        by_id[c["id"]] = c
    out = []
    seen = []
    for i in range(len(groups)):
        path = "site.groups[%d]" % i
        g = check_section(path, groups[i], GROUP_FIELDS, strict)
        if g["id"] in seen:
            raise ConfigError(path + ".id", "must be unique, %r is used twice" % g["id"])
        seen.append(g["id"])
        for member in g["chargers"]:
            c = by_id.get(member)
            if c is None:
                raise ConfigError(path + ".chargers", "names unknown charger %r" % member)
            if c["min_a"] > g["limit_a"]:
                raise ConfigError(path + ".limit_a", "must not be below the min_a of charger %r (%s A), got %s"
                                  % (member, c["min_a"], g["limit_a"]))
        out.append(g)
    return out


def check_setup(site, chargers, strict=False):
    """The site, chargers and circuit groups checked together: (site, chargers, groups),
    as ``engine.allocate`` takes them."""
    s = check_site(site, strict)
    cs = check_chargers(chargers, s, strict)
    gs = check_groups((site or {}).get("groups"), cs, strict)
    return s, cs, gs


def check_regulation(settings, strict=False):
    """Validate the regulation settings (docs/regulation.md), defaults filled in."""
    r = check_section("regulation", settings, REGULATION_FIELDS, strict)
    if r["refresh_before_s"] >= r["profile_duration_s"]:
        raise ConfigError("regulation.refresh_before_s", "must be below profile_duration_s (%s s), got %s"
                          % (r["profile_duration_s"], r["refresh_before_s"]))
    return r


def check_fallback(site, chargers, fallback_a):
    """The fallback current, given to every charger when the grid data is stale, must fit
    the breaker on each phase with nothing else drawing."""
    usable = site["breaker_a"] - site["breaker_margin_a"]
    for phase in PHASE_NAMES[:site["phases"]]:
        total = 0
        for c in chargers:
            if phase in c["phase_map"] and fallback_a >= c["min_a"]:
                total += fallback_a
        if total > usable:
            raise ConfigError("regulation.fallback_a",
                              "must fit the breaker: %s A x the chargers on phase %s is %s A, above the %s A usable"
                              % (fallback_a, phase, total, usable))


def check_ocpp(data, strict=False, whole=None):
    """Validate the ``ocpp`` section. With ``whole`` (the rest of the checked configuration)
    the values the central system takes from other sections are added (OCPP_DERIVED)."""
    for key, owner in OCPP_DERIVED:
        if isinstance(data, dict) and key in data:
            raise ConfigError("ocpp." + key, "is set by %s.%s" % (owner, key))
    cfg = check_section("ocpp", data, OCPP_FIELDS, strict)
    from dynevse.ocpp.rpc import one_of
    for m in cfg["meter_measurands"]:
        if not one_of(m, "MEAS"):
            raise ConfigError("ocpp.meter_measurands", "must name OCPP 1.6 measurands such as "
                              "Current.Import or SoC, got %r" % (m,))
    for t in cfg["id_tags"]:
        if len(t) > _ID_TAG_MAX:
            raise ConfigError("ocpp.id_tags", "must be idTags of at most %d characters, got %r" % (_ID_TAG_MAX, t))
    if cfg["profile_id"] == cfg["fallback_profile_id"]:
        raise ConfigError("ocpp.fallback_profile_id", "must differ from profile_id (%s), got %s"
                          % (cfg["profile_id"], cfg["fallback_profile_id"]))
    if whole is not None:
        for key, owner in OCPP_DERIVED:
            cfg[key] = whole[owner][key]
    return cfg


def valid_json_path(s):
    """A dotted path like ``ENERGY.Current.0``: non-empty parts, bounded length and depth."""
    if s == "":
        return True
    if len(s) > _PATH_MAX:
        return False
    parts = s.split(".")
    if len(parts) > _PATH_PARTS:
        return False
    for p in parts:
        if not p:
            return False
    return True


def quantities():
    """Yield (name, units, reading, phase) for every site-data quantity MQTT can read."""
    from dynevse.mqtt.inputs import QUANTITIES
    for line in QUANTITIES.split("\n"):
        q = line.split(" ")
        yield q[0], tuple(q[1].split(",")), q[2], int(q[3])


def check_inputs(inputs):
    """Validate the site-data input mappings; returns {quantity: mapping}."""
    path = "mqtt.inputs"
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise ConfigError(path, "must map quantities to topics, got %r" % (inputs,))
    units = {}
    names = []
    for q in quantities():
        units[q[0]] = q[1]
        names.append(q[0])
    out = {}
    for name in sorted(inputs):
        if name not in units:
            raise ConfigError(path + "." + str(name), "is not a quantity; one of " + ", ".join(names))
        p = path + "." + name
        c = check_section(p, inputs[name], (
            ("topic", "topic", REQUIRED, None, None, ""),
            ("field", TEXT, "", None, None, ""),
            ("unit", units[name], units[name][0], None, None, ""),
            ("invert", "boolean", False, None, None, ""),
        ), True)
        if c["topic"] == "":
            raise ConfigError(p + ".topic", "is required")
        if not valid_json_path(c["field"]):
            raise ConfigError(p + ".field", "must be a dotted path like ENERGY.Power.0 of at most %d "
                              "characters and %d parts, got %r" % (_PATH_MAX, _PATH_PARTS, c["field"]))
        out[name] = c
    return out


def check_mqtt(data, device_id):
    """Validate the MQTT settings of the board ``device_id``; fill defaults and derived topics."""
    device_id = check_value("device.id", device_id, "id", None, None, "")
    cfg = check_section("mqtt", data, MQTT_FIELDS, True, ("inputs",))
    if cfg["backoff_min_s"] > cfg["backoff_max_s"]:
        raise ConfigError("mqtt.backoff_min_s", "must not be above backoff_max_s (%s s), got %s"
                          % (cfg["backoff_max_s"], cfg["backoff_min_s"]))
    if cfg["password"] and not cfg["username"]:
        # MQTT 3.1.1 (3.1.2.9) sends a password only with a user name
        raise ConfigError("mqtt.password", "needs a username")
    if cfg["discovery_prefix"] == "":
        raise ConfigError("mqtt.discovery_prefix", "must not be empty")
    if not cfg["client_id"]:
        cfg["client_id"] = "dynevse-" + device_id
    if not cfg["base_topic"]:
        cfg["base_topic"] = "dynevse/" + device_id
    cfg["inputs"] = check_inputs((data or {}).get("inputs") if isinstance(data, dict) else None)
    cfg["device_id"] = device_id
    return cfg


def check_central(ocpp, chargers):
    """The central system's settings when it runs on its own (tests, ``ocpp/standalone.py``):
    (the ``ocpp`` section, the chargers). The values it takes from other sections
    (OCPP_DERIVED) may be given in ``ocpp`` here; missing ones take their owner's default."""
    data = dict(ocpp or {}) if isinstance(ocpp, dict) else ocpp
    given = {"regulation": {}, "site": {}}
    if isinstance(data, dict):
        for key, owner in OCPP_DERIVED:
            if key in data:
                given[owner][key] = data.pop(key)
    whole = {"regulation": check_regulation(given["regulation"]),
             "site": check_section("site", given["site"], SITE_FIELDS)}
    cfg = check_ocpp(data, False, whole)
    if not isinstance(chargers, (list, tuple)):
        raise ConfigError("chargers", "must be a list, got %r" % (chargers,))
    out = []
    for i in range(len(chargers)):
        c = check_section("chargers[%d]" % i, chargers[i], CHARGER_FIELDS)
        _check_password("chargers[%d]" % i, c)
        if c["id"] in [o["id"] for o in out]:
            raise ConfigError("chargers[%d].id" % i, "must be unique, %r is used twice" % c["id"])
        out.append(c)
    return cfg, out
