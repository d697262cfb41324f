"""Home Assistant MQTT discovery: our topics, the entity table, one config message at a time.

Topics under the base topic (``dynevse/<device_id>`` unless configured)::

    <base>/status                       online / offline (retained; offline is the last will)
    <base>/site/state                   hub state JSON (retained)
    <base>/charger/<id>/state           charger state JSON (retained)
    <base>/site/<key>/set               hub commands
    <base>/charger/<id>/<key>/set       charger commands
    <base>/diagnostics                  refused commands and other complaints (JSON)
    <prefix>/<component>/dynevse_<device_id>/<object_id>/config    discovery (retained)

One device for the hub, one per charger (``via_device`` the hub). Each entity reads
its field of the state JSON with a value_template. The payloads are built one at a
time by ``config_message`` so that only one is ever in memory.
"""
import json
from binascii import crc32

from dynevse import VERSION
from dynevse.core import schema

SENSOR = "sensor"
NUMBER = "number"
SELECT = "select"
SWITCH = "switch"
BUTTON = "button"
COMMANDS = (NUMBER, SELECT, SWITCH, BUTTON)
MANUFACTURER = "Dynamic OCPP EVSE"
DEFAULT_OPTION = "default"      # the charger mode select's name for "follow the site's mode"
PRESS = "PRESS"

# One entity per line: key|component|name|device_class|unit|state_class (sensor) or
# step (number)|entity_category|needs. ``needs``: empty (always), "battery" (with a home
# battery), "l2"/"l3" (sites with that many phases). Kept as one string: on MicroPython
# a table of tuples loaded from .mpy costs about ten times the memory.
HUB = """mode|select|Charging mode|||||
distribution|select|Distribution mode|||||
allow_grid_charging|switch|Allow grid charging|||||
power_buffer_w|number|Power buffer|power|W|50|config|
soc_min|number|Home battery SOC min|battery|%|1|config|battery
soc_target|number|Home battery SOC target|battery|%|1|config|battery
available_a_l1|sensor|Available current L1|current|A|measurement||
available_a_l2|sensor|Available current L2|current|A|measurement||l2
available_a_l3|sensor|Available current L3|current|A|measurement||l3
net_w|sensor|Site power without EV|power|W|measurement||
surplus_w|sensor|Solar surplus|power|W|measurement||
status|sensor|Status||||diagnostic|"""

CHARGER = """mode|select|Charging mode|||||
allocated_a|sensor|Allocated current|current|A|measurement||
target_a|sensor|Target current|current|A|measurement||
available_a|sensor|Available current|current|A|measurement||
status|sensor|Status|||||
reason|sensor|Limited by||||diagnostic|
min_a|number|Min current|current|A|1|config|
max_a|number|Max current|current|A|1|config|
priority|number|Priority|||1|config|
reset|button|Reset charging profile||||config|"""


def entities(table, phases=3, battery=True):
    """Yield the rows of ``table`` (HUB or CHARGER) that a site like this has, one at a
    time, as lists of 8 strings (empty string: not set)."""
    for line in table.split("\n"):
        row = line.split("|")
        need = row[7]
        if (need == "battery" and not battery) or (need == "l2" and phases < 2) \
                or (need == "l3" and phases < 3):
            continue
        yield row


def row_of(table, key):
    """The row of ``key`` in ``table`` regardless of what it needs, or None."""
    for row in entities(table):
        if row[0] == key:
            return row
    return None


def setting(site, key):
    """(config path, schema field row) of a hub (``site``) or charger setting, or None.

    A charger's path is just the key; the caller puts ``chargers[<id>].`` in front.
    """
    if site:
        for f in schema.SITE_FIELDS:
            if f[0] == key:
                return "site." + key, f
        for f in schema.BATTERY_FIELDS:
            if f[0] == key:
                return "site.battery." + key, f
        return None
    for f in schema.CHARGER_FIELDS:
        if f[0] == key:
            return key, f
    return None


def options(site, key):
    """The options of a select entity."""
    if key == "distribution":
        return schema.DISTRIBUTIONS
    if site:
        return schema.MODES
    return (DEFAULT_OPTION,) + schema.MODES


def safe_id(s):
    """``s`` as a discovery object/node id ([a-zA-Z0-9_-]); a changed id gets a checksum
    suffix so that two different ids can't end up the same."""
    out = ""
    changed = False
    for ch in s:
        if ord(ch) < 128 and (ch.isalpha() or ch.isdigit()) or ch in "_-":
            out += ch
        else:
            out += "_"
            changed = True
    if changed:
        out += "_%08x" % (crc32(s.encode("utf-8")) & 0xFFFFFFFF)
    return out


class Topics:
    """Every topic of one board, derived from its settings."""

    def __init__(self, cfg):
        self.base = cfg["base_topic"]
        self.prefix = cfg["discovery_prefix"]
        self.node = "dynevse_" + safe_id(cfg["device_id"])
        self.status = self.base + "/status"
        self.site_state = self.base + "/site/state"
        self.diagnostics = self.base + "/diagnostics"

    def charger_state(self, cid):
        return self.base + "/charger/" + cid + "/state"

    def command(self, cid, key):
        """Command topic of ``key`` on the hub (cid None) or a charger."""
        if cid is None:
            return self.base + "/site/" + key + "/set"
        return self.base + "/charger/" + cid + "/" + key + "/set"

    def command_filters(self):
        return (self.base + "/site/+/set", self.base + "/charger/+/+/set")

    def parse_command(self, topic):
        """(cid or None, key) of a command topic, or None if it is not one."""
        head = self.base + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head):].split("/")
        if len(parts) == 3 and parts[0] == "site" and parts[2] == "set":
            return None, parts[1]
        if len(parts) == 4 and parts[0] == "charger" and parts[3] == "set":
            return parts[1], parts[2]
        return None

    def object_id(self, cid, key):
        return ("hub_" if cid is None else "ch_" + safe_id(cid) + "_") + key

    def config(self, component, object_id):
        return "%s/%s/%s/%s/config" % (self.prefix, component, self.node, object_id)

    def sweep_filter(self):
        """Matches every discovery config this board may have left retained."""
        return "%s/+/%s/+/config" % (self.prefix, self.node)

    def parse_config(self, topic):
        """(component, object_id) of one of our discovery topics, or None."""
        parts = topic.split("/")
        n = len(self.prefix.split("/"))
        if len(parts) != n + 4 or parts[n + 1] != self.node or parts[-1] != "config":
            return None
        return parts[n], parts[n + 2]


def _template(row):
    key = row[0]
    if row[1] == SWITCH:
        return "{{ 'ON' if value_json.%s else 'OFF' }}" % key
    if key[-3:-1] == "_l":   # per-phase sensor: one element of the phase list
        return "{{ value_json.%s[%d] }}" % (key[:-3], int(key[-1]) - 1)
    return "{{ value_json.%s }}" % key


def device_block(topics, hub, charger=None):
    """The ``device`` map: the hub, or a charger that reaches HA through the hub."""
    hub_ident = topics.node
    if charger is None:
        d = {"identifiers": [hub_ident], "name": hub["name"], "manufacturer": MANUFACTURER,
             "model": "Panel controller", "sw_version": VERSION}
    else:
        d = {"identifiers": [hub_ident + "_ch_" + safe_id(charger["id"])],
             "name": charger.get("name") or charger["id"],
             "manufacturer": charger.get("vendor") or MANUFACTURER,
             "model": charger.get("model") or "OCPP 1.6J charger",
             "sw_version": charger.get("firmware") or VERSION,
             "via_device": hub_ident}
    if hub.get("url"):
        d["configuration_url"] = hub["url"]
    return d


def config_message(topics, hub, row, charger=None):
    """(topic, JSON payload) announcing one entity (a row of HUB or CHARGER) of the hub
    or of ``charger``. ``hub``: {"name", "url"}; ``charger``: {"id", optional "name",
    "vendor", "model", "firmware"}."""
    key, comp, name, dev_cla, unit, extra, cat = row[:7]
    cid = None if charger is None else charger["id"]
    oid = topics.object_id(cid, key)
    p = {
        "name": name,
        "unique_id": topics.node + "_" + oid,
        "availability_topic": topics.status,
        "device": device_block(topics, hub, charger),
        "origin": {"name": MANUFACTURER, "sw_version": VERSION},
    }
    if cat:
        p["entity_category"] = cat
    if dev_cla:
        p["device_class"] = dev_cla
    if unit:
        p["unit_of_measurement"] = unit
    if comp != BUTTON:
        p["state_topic"] = topics.site_state if cid is None else topics.charger_state(cid)
        p["value_template"] = _template(row)
    if comp in COMMANDS:
        p["command_topic"] = topics.command(cid, key)
    if comp == SENSOR and extra:
        p["state_class"] = extra
    elif comp == NUMBER:
        f = setting(cid is None, key)[1]
        p["min"] = f[3]
        p["max"] = f[4]
        p["step"] = int(extra)
        p["mode"] = "box"
    elif comp == SELECT:
        p["options"] = list(options(cid is None, key))
    elif comp == SWITCH:
        p["payload_on"] = "ON"
        p["payload_off"] = "OFF"
    elif comp == BUTTON:
        p["payload_press"] = PRESS
    return topics.config(comp, oid), json.dumps(p, separators=(",", ":"))


def is_expected(topics, phases, battery, chargers, component, object_id):
    """Is this discovery config one of the entities we announce now?"""
    for r in entities(HUB, phases, battery):
        if r[1] == component and topics.object_id(None, r[0]) == object_id:
            return True
    for c in chargers:
        for r in entities(CHARGER):
            if r[1] == component and topics.object_id(c["id"], r[0]) == object_id:
                return True
    return False
