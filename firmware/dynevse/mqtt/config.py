"""MQTT settings: every field's kind, default, range and unit, and their validation.

The same row format as ``dynevse.core.schema``: ``(key, kind, default, lo, hi, unit)``.
Kinds are schema's, plus TOPIC (a topic name one may publish to: no wildcards) and HOST
(a host name or IPv4 address). ``check_mqtt(data, device_id)`` returns a complete,
normalised settings dict or raises ``ConfigError(field, message)`` with a path such as
``mqtt.port`` or ``mqtt.inputs.grid_l1.unit``.

Site-data inputs (``inputs``) map a quantity to where its value is found::

    "inputs": {"grid_l1": {"topic": "meter/SENSOR", "field": "ENERGY.Current.0",
                           "unit": "A", "invert": false}, ...}

``field`` is a dotted path into a JSON payload (numbers index lists); empty means the
payload is a plain number. ``unit`` is one of the quantity's units (the first is the
default, ``inputs.QUANTITIES``). ``invert`` flips the sign, for meters whose sign
convention is the opposite of ours (grid: + import; battery: + charging).

Boot-only: the running link never imports this module (nor ``core.schema``). ``Link``
loads it just for a call (unchecked settings, ``register``) and drops it again.
"""
from dynevse.core import schema
from dynevse.core.schema import ConfigError, NUM, INT, BOOL, TEXT, REQUIRED
from dynevse.mqtt.inputs import QUANTITIES

TOPIC = "topic"
HOST = "host"
TOPIC_MAX = 128         # bytes; a configured topic longer than this is refused
_PATH_MAX = 64
_PATH_PARTS = 8

MQTT_FIELDS = (
    ("host", HOST, "", None, None, ""),                 # empty: MQTT is off
    ("port", INT, 1883, 1, 65535, ""),
    ("client_id", TEXT, "", None, None, ""),            # empty: dynevse-<device id>
    ("username", TEXT, "", None, None, ""),
    ("password", TEXT, "", None, None, ""),
    ("keepalive_s", INT, 60, 2, 3600, "s"),
    ("discovery", BOOL, True, None, None, ""),
    ("discovery_prefix", TOPIC, "homeassistant", None, None, ""),
    ("base_topic", TOPIC, "", None, None, ""),          # empty: dynevse/<device id>
    ("state_period_s", INT, 60, 1, 3600, "s"),          # state goes out at least this often
    ("connect_timeout_s", NUM, 10, 1, 120, "s"),
    ("backoff_min_s", NUM, 1, 0.05, 60, "s"),
    ("backoff_max_s", NUM, 60, 0.1, 3600, "s"),
    ("ack_timeout_s", NUM, 10, 0.5, 120, "s"),          # QoS 1: resend after this long
    ("max_packet", INT, 4096, 512, 65536, "bytes"),
    ("queue_len", INT, 8, 1, 64, ""),
)

def quantities():
    """Yield (name, units, reading, phase) for every quantity of ``inputs.QUANTITIES``."""
    for line in QUANTITIES.split("\n"):
        q = line.split(" ")
        yield q[0], tuple(q[1].split(",")), q[2], int(q[3])


def valid_host(s):
    """A DNS name or IPv4 address: letters, digits, '-', '.', at most 253 characters."""
    if not isinstance(s, str) or len(s) > 253:
        return False
    for ch in s:
        if not (ch.isalpha() or ch.isdigit() or ch in "-.") or ord(ch) > 127:
            return False
    return True


def valid_topic_name(s):
    """A topic we publish to or subscribe to exactly: printable, no wildcards, bounded."""
    if not isinstance(s, str) or not s or len(s.encode("utf-8")) > TOPIC_MAX:
        return False
    for ch in s:
        if ch in "+#" or ord(ch) < 32:
            return False
    return not (s.startswith("/") or s.endswith("/") or "//" in s)


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


def _check(path, value, kind, lo, hi, unit):
    if kind == TOPIC:
        # an empty base topic means "derive it"; any other topic must be a real one
        if value == "" or valid_topic_name(value):
            return value
        raise ConfigError(path, "must be a topic of at most %d bytes without + # or empty levels, got %r"
                          % (TOPIC_MAX, value))
    if kind == HOST:
        if valid_host(value):
            return value
        raise ConfigError(path, "must be a host name or IPv4 address, got %r" % (value,))
    return schema.check_value(path, value, kind, lo, hi, unit)


def _section(path, data, fields, known_extra=()):
    if not isinstance(data, dict):
        raise ConfigError(path, "must be a mapping of settings, got %r" % (data,))
    out = {}
    for key, kind, default, lo, hi, unit in fields:
        v = data.get(key)
        if v is None:
            if default is REQUIRED:
                raise ConfigError(path + "." + key, "is required")
            v = default
        else:
            v = _check(path + "." + key, v, kind, lo, hi, unit)
        out[key] = v
    known = [f[0] for f in fields]
    for key in sorted(data):
        if key not in known and key not in known_extra:
            raise ConfigError(path + "." + str(key), "unknown setting")
    return out


def check_inputs(inputs):
    """Validate the site-data input mappings; returns {quantity: mapping}."""
    path = "mqtt.inputs"
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise ConfigError(path, "must map quantities to topics, got %r" % (inputs,))
    units = {}
    for q in quantities():
        units[q[0]] = q[1]
    out = {}
    for name in sorted(inputs):
        if name not in units:
            raise ConfigError(path + "." + str(name), "is not a quantity; one of "
                              + ", ".join(q[0] for q in quantities()))
        p = path + "." + name
        c = _section(p, inputs[name], (
            ("topic", TOPIC, REQUIRED, None, None, ""),
            ("field", TEXT, "", None, None, ""),
            ("unit", units[name], units[name][0], None, None, ""),
            ("invert", BOOL, False, None, None, ""),
        ))
        if c["topic"] == "":
            raise ConfigError(p + ".topic", "is required")
        if not valid_json_path(c["field"]):
            raise ConfigError(p + ".field", "must be a dotted path like ENERGY.Power.0 of at most %d "
                              "characters and %d parts, got %r" % (_PATH_MAX, _PATH_PARTS, c["field"]))
        out[name] = c
    return out


def check_mqtt(data, device_id):
    """Validate the MQTT settings of the board ``device_id``; fill defaults and derived topics."""
    device_id = schema.check_value("device_id", device_id, schema.ID, None, None, "")
    cfg = _section("mqtt", data if data is not None else {}, MQTT_FIELDS, ("inputs",))
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
    cfg["inputs"] = check_inputs((data or {}).get("inputs"))
    cfg["device_id"] = device_id
    return cfg


def defaults():
    """Every MQTT setting at its default (MQTT off until a host is set)."""
    return schema.defaults(MQTT_FIELDS)


# what Link keeps of each registered charger, in this order (Link._chargers, flat)
CHARGER_INFO = ("id", "name", "vendor", "model", "firmware")


def register(link, name, phases, battery, chargers, url):
    """Validate what ``Link.register`` was given and store it in ``link``; remember what
    the previous registration announced that this one lacks (removed after the next
    connect). Raises ConfigError and leaves ``link`` as it was on bad input."""
    name = schema.check_value("hub.name", name, TEXT, None, None, "")
    phases = schema.check_value("site.phases", phases, (1, 3), None, None, "")
    if type(battery) is not bool:
        raise ConfigError("site.battery", "must be true or false, got %r" % (battery,))
    if url and not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError("hub.url", "must start with http:// or https://, got %r" % (url,))
    if not isinstance(chargers, (list, tuple)) or len(chargers) > 16:
        raise ConfigError("chargers", "must be a list of at most 16 chargers")
    ids = []
    chs = []        # flat: id, name, vendor, model, firmware (None: not given) per charger
    for i in range(len(chargers)):
        c = chargers[i]
        if not isinstance(c, dict):
            c = {"id": c}
        cid = schema.check_value("chargers[%d].id" % i, c.get("id"), schema.ID, None, None, "")
        if cid in ids:
            raise ConfigError("chargers[%d].id" % i, "must be unique, %r is used twice" % cid)
        ids.append(cid)
        chs.append(cid)
        for k in CHARGER_INFO[1:]:
            v = c.get(k)
            chs.append(schema.check_value("chargers[%d].%s" % (i, k), v, TEXT, None, None, "") if v else None)
    link.store_registration(name, url, phases, battery, ids, chs)
