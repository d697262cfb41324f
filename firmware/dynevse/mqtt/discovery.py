"""Home Assistant MQTT discovery: the entity table, one config message at a time.

Topics under the base topic (``dynevse/<device_id>`` unless configured)::

    <base>/status                       online / offline (retained; offline is the last will)
    <base>/site/state                   hub state JSON (retained)
    <base>/charger/<id>/state           charger state JSON (retained)
    <base>/charger/<id>/status          online / offline: the charger's OCPP link (retained)
    <base>/site/<key>/set               hub commands
    <base>/charger/<id>/<key>/set       charger commands
    <base>/diagnostics                  refused commands and other complaints (JSON)
    <prefix>/<component>/dynevse_<device_id>/<object_id>/config    discovery (retained)

One device for the hub, one per charger (``via_device`` the hub, the charger's own
manufacturer, model and firmware once it has told them). Each entity reads its field of
the state JSON with a value_template. A charger's measurements are available only while
both the panel and the charger's OCPP link are online (``availability_mode: all``).
The payloads are built one at a time by ``config_message`` so that only one is ever in
memory.

Needed only after a (re)connect or a new registration: ``Link`` imports this module for
``announce`` and drops it afterwards, so none of it stays in memory. Select options,
number ranges and steps come from the configuration's field tables
(``config.site.commands``, ``choice_words``).
"""
import json
from binascii import crc32

from dynevse import VERSION
from dynevse.aio import sleep_ms, wait_for
from dynevse.compat import const
from dynevse.config.site import choice_words, commands

_MAKER = "Dynamic OCPP EVSE"

# The payloads' keys and words, as one string: a name or short string in the code would
# stay in memory (interned) after this module is dropped; these go with it.
_WORDS = """name unique_id availability_topic device origin entity_category device_class
unit_of_measurement state_topic value_template command_topic state_class min max step mode
options payload_on payload_off payload_press identifiers manufacturer model sw_version
via_device configuration_url box ON OFF PRESS button sensor number select switch
binary_sensor availability availability_mode all topic object_id default_entity_id
json_attributes_topic json_attributes_template"""
_NAME = const(0)
_UNIQUE_ID = const(1)
_AVAILABILITY_TOPIC = const(2)
_DEVICE = const(3)
_ORIGIN = const(4)
_ENTITY_CATEGORY = const(5)
_DEVICE_CLASS = const(6)
_UNIT_OF_MEASUREMENT = const(7)
_STATE_TOPIC = const(8)
_VALUE_TEMPLATE = const(9)
_COMMAND_TOPIC = const(10)
_STATE_CLASS = const(11)
_MIN = const(12)
_MAX = const(13)
_STEP = const(14)
_MODE = const(15)
_OPTIONS = const(16)
_PAYLOAD_ON = const(17)
_PAYLOAD_OFF = const(18)
_PAYLOAD_PRESS = const(19)
_IDENTIFIERS = const(20)
_MANUFACTURER = const(21)
_MODEL = const(22)
_SW_VERSION = const(23)
_VIA_DEVICE = const(24)
_CONFIGURATION_URL = const(25)
_BOX = const(26)
_ON = const(27)
_OFF = const(28)
_PRESS = const(29)
_BUTTON = const(30)
_SENSOR = const(31)
_NUMBER = const(32)
_SELECT = const(33)
_SWITCH = const(34)
_BINARY_SENSOR = const(35)
_AVAILABILITY = const(36)
_AVAILABILITY_MODE = const(37)
_ALL = const(38)
_TOPIC = const(39)
_OBJECT_ID = const(40)
_DEFAULT_ENTITY_ID = const(41)
_JSON_ATTRIBUTES_TOPIC = const(42)
_JSON_ATTRIBUTES_TEMPLATE = const(43)

# One entity per line: key|component|name|device_class|unit|state_class|entity_category|
# needs|availability. ``needs``: empty (always), "battery" (with a home battery), "l2"/"l3"
# (sites, or chargers, with that many phases). ``availability`` (chargers only): empty:
# the panel's and the charger's OCPP link (both online), "p": the panel's alone (the
# board's own settings, which it takes while the charger is away, and the link itself).
# A sensor's key is its state field; "_l1".."_l3" pick a phase of a list. Number steps
# come with the ranges from ``config.site.commands``. Kept as one string: on MicroPython
# a table of tuples loaded from .mpy costs about ten times the memory.
HUB = """mode|select|Charging mode||||||
distribution|select|Distribution mode||||||
allow_grid_charging|switch|Allow grid charging||||||
power_buffer_w|number|Power buffer|power|W||config||
soc_min|number|Home battery SOC min|battery|%||config|battery|
soc_target|number|Home battery SOC target|battery|%||config|battery|
grid_w|sensor|Grid power|power|W|measurement|||
grid_a_l1|sensor|Grid current L1|current|A|measurement|||
grid_a_l2|sensor|Grid current L2|current|A|measurement||l2|
grid_a_l3|sensor|Grid current L3|current|A|measurement||l3|
solar_w|sensor|Solar power|power|W|measurement|||
export_w|sensor|Export|power|W|measurement|||
surplus_w|sensor|Solar surplus|power|W|measurement|||
net_w|sensor|Site power without EV|power|W|measurement|||
battery_soc|sensor|Home battery SOC|battery|%|measurement||battery|
battery_w|sensor|Home battery power|power|W|measurement||battery|
available_a_l1|sensor|Available current L1|current|A|measurement|||
available_a_l2|sensor|Available current L2|current|A|measurement||l2|
available_a_l3|sensor|Available current L3|current|A|measurement||l3|
problem|binary_sensor|Problem|problem|||diagnostic||
status|sensor|Status||||diagnostic||
invert_grid|button|Invert the grid input seen inverted||||config||"""

CHARGER = """mode|select|Charging mode||||||p
current_a_l1|sensor|Current L1|current|A|measurement|||
current_a_l2|sensor|Current L2|current|A|measurement||l2|
current_a_l3|sensor|Current L3|current|A|measurement||l3|
power_w|sensor|Power|power|W|measurement|||
energy_kwh|sensor|Energy|energy|kWh|total_increasing|||
session_kwh|sensor|Session energy|energy|kWh||||
plugged|binary_sensor|Car plugged in|plug|||||
connected|binary_sensor|OCPP link|connectivity|||diagnostic||p
allocated_a|sensor|Allocated current|current|A|measurement|||
target_a|sensor|Target current|current|A|measurement|||
available_a|sensor|Available current|current|A|measurement|||
status|sensor|Status||||||
regulation|sensor|Regulation||||diagnostic||
min_a|number|Min current|current|A||config||p
max_a|number|Max current|current|A||config||p
priority|number|Priority||||config||p
reset|button|Reset charging profile||||config||
phase_map_suggested|sensor|Suggested phase map||||diagnostic||p
apply_phase_map|button|Apply suggested phase map||||config||p"""

_SEND_TIMEOUT_S = const(10)     # one discovery message must be written within this
_SWEEP_SETTLE_MS = const(1000)  # retained configs arrive right after SUBSCRIBE; allow this long
_SWEEP_MAX = const(32)          # leftovers remembered per connect; more are caught next time


def entities(table, phases=3, battery=True):
    """Yield the rows of ``table`` (HUB or CHARGER) that a site (or charger) like this
    has, one at a time, as lists of 9 strings (empty string: not set)."""
    for line in table.split("\n"):
        row = line.split("|")
        need = row[7]
        if (need == "battery" and not battery) or (need == "l2" and phases < 2) \
                or (need == "l3" and phases < 3):
            continue
        yield row


def safe_id(s):
    """``s`` as a discovery object/node id ([a-zA-Z0-9_-]); a changed id gets a checksum
    suffix so that two different ids can't end up the same."""
    out = ""
    for ch in s:
        out += ch if ord(ch) < 128 and (ch.isalpha() or ch.isdigit()) or ch in "_-" else "_"
    if out != s:
        out += "_%08x" % (crc32(s.encode()) & 0xFFFFFFFF)
    return out


def slug(s):
    """``s`` as Home Assistant writes an entity id's object part: lower case letters,
    digits and single underscores, none at either end ("Board-7" -> "board_7")."""
    out = ""
    for ch in s.lower():
        ok = "a" <= ch <= "z" or "0" <= ch <= "9"
        if ok or out[-1:] not in ("_", ""):
            out += ch if ok else "_"
    out = out.rstrip("_")
    return out or "x%08x" % (crc32(s.encode()) & 0xFFFFFFFF)


class Topics:
    """The discovery topics of one board, derived from its settings."""

    def __init__(self, cfg):
        self.base = cfg["base_topic"]
        self.prefix = cfg["discovery_prefix"]
        self.device = cfg["device_id"]
        self.node = "dynevse_" + safe_id(self.device)

    def object_id(self, cid, key):
        return ("hub_" if cid is None else "ch_" + safe_id(cid) + "_") + key

    def entity_id(self, cid, key):
        """The object part of the entity id Home Assistant should give the entity: the
        panel's id first, so two panels' chargers "cp1" don't collide."""
        return slug(self.device) + "_" + ("" if cid is None else slug(cid) + "_") + key

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


def _number(text):
    return float(text) if "." in text else int(text)


def config_message(topics, hub, row, charger=None):
    """(topic, JSON payload) announcing one entity (a row of HUB or CHARGER) of the hub
    or of ``charger``. ``hub``: {"name", "url"} (url "" while unknown); ``charger``:
    {"id", optional "name", and the charger's own "vendor", "model", "firmware" from its
    BootNotification, None while unknown}."""
    w = _WORDS.split()
    key, comp, name, dev_cla, unit, sta_cla, cat, _need, avail = row
    cid = None if charger is None else charger["id"]
    oid = topics.object_id(cid, key)
    base = topics.base
    hub_ident = topics.node
    d = {}
    if charger is None:
        d[w[_IDENTIFIERS]] = [hub_ident]
        d[w[_NAME]] = hub["name"]
        d[w[_MANUFACTURER]] = _MAKER
        d[w[_MODEL]] = "Panel controller"
        d[w[_SW_VERSION]] = VERSION
    else:
        d[w[_IDENTIFIERS]] = [hub_ident + "_ch_" + safe_id(cid)]
        d[w[_NAME]] = charger.get("name") or cid
        # the charger's own words; left out while unknown, so that Home Assistant keeps
        # what it was told before (a reboot of the board does not forget them there)
        for k, v in ((_MANUFACTURER, "vendor"), (_MODEL, "model"), (_SW_VERSION, "firmware")):
            if charger.get(v):
                d[w[k]] = charger[v]
        d[w[_VIA_DEVICE]] = hub_ident
    if hub.get("url"):
        d[w[_CONFIGURATION_URL]] = hub["url"]
    eid = topics.entity_id(cid, key)
    p = {w[_NAME]: name, w[_UNIQUE_ID]: hub_ident + "_" + oid, w[_OBJECT_ID]: eid,
         w[_DEFAULT_ENTITY_ID]: comp + "." + eid, w[_DEVICE]: d}
    topic = base + ("/site" if cid is None else "/charger/" + cid)
    if cid is None or avail == "p":
        p[w[_AVAILABILITY_TOPIC]] = base + "/status"
    else:
        p[w[_AVAILABILITY]] = [{w[_TOPIC]: base + "/status"}, {w[_TOPIC]: topic + "/status"}]
        p[w[_AVAILABILITY_MODE]] = w[_ALL]
    d = {w[_NAME]: _MAKER}
    d[w[_SW_VERSION]] = VERSION
    p[w[_ORIGIN]] = d
    if cat:
        p[w[_ENTITY_CATEGORY]] = cat
    if dev_cla:
        p[w[_DEVICE_CLASS]] = dev_cla
    if unit:
        p[w[_UNIT_OF_MEASUREMENT]] = unit
    if sta_cla:
        p[w[_STATE_CLASS]] = sta_cla
    r = None
    if comp != w[_SENSOR] and comp != w[_BINARY_SENSOR]:
        p[w[_COMMAND_TOPIC]] = topic + "/" + key + "/set"
        for r in commands(cid is None):
            if r[1] == key:
                break
    if comp != w[_BUTTON]:
        p[w[_STATE_TOPIC]] = topic + "/state"
        if comp == w[_SWITCH]:
            t = "{{ 'ON' if value_json.%s else 'OFF' }}" % key
        elif comp == w[_BINARY_SENSOR]:
            # null in the state: HA's "None" payload, unknown
            t = "{{ 'None' if value_json.%s is none else 'ON' if value_json.%s else 'OFF' }}" % (key, key)
        elif comp == w[_SELECT]:
            # the state has the configuration's value, HA shows the words of the options
            t = ",".join("'%s':'%s'" % (v or "default", choice_words(v)) for v in r[3].split(","))
            t = "{{ {%s}[value_json.%s] }}" % (t, key)
        elif key[-3:-1] == "_l":   # per-phase sensor: one element of the phase list
            t = "{{ value_json.%s[%d] }}" % (key[:-3], int(key[-1]) - 1)
        else:
            t = "{{ value_json.%s }}" % key
        p[w[_VALUE_TEMPLATE]] = t
    if comp == w[_NUMBER]:
        p[w[_MIN]] = _number(r[4])
        p[w[_MAX]] = _number(r[5])
        p[w[_STEP]] = _number(r[7])
        p[w[_MODE]] = w[_BOX]
    elif comp == w[_SELECT]:
        p[w[_OPTIONS]] = [choice_words(v) for v in r[3].split(",")]
    elif comp == w[_SWITCH] or comp == w[_BINARY_SENSOR]:
        p[w[_PAYLOAD_ON]] = w[_ON]
        p[w[_PAYLOAD_OFF]] = w[_OFF]
        if key == "problem":
            # the warnings' raw words as an attribute, for automations
            p[w[_JSON_ATTRIBUTES_TOPIC]] = topic + "/state"
            p[w[_JSON_ATTRIBUTES_TEMPLATE]] = "{{ {'warnings': value_json.warnings} | tojson }}"
    elif comp == w[_BUTTON]:
        p[w[_PAYLOAD_PRESS]] = w[_PRESS]
    return topics.config(comp, oid), json.dumps(p, separators=(",", ":"))


def is_expected(topics, phases, battery, chargers, component, object_id):
    """Is this discovery config one of the entities we announce now? ``chargers``: the
    registered chargers as ``Link`` keeps them (id, name, vendor, model, firmware,
    phases; id, ...)."""
    for r in entities(HUB, phases, battery):
        if r[1] == component and topics.object_id(None, r[0]) == object_id:
            return True
    for i in range(0, len(chargers), 6):
        for r in entities(CHARGER, chargers[i + 5]):
            if r[1] == component and topics.object_id(chargers[i], r[0]) == object_id:
                return True
    return False


async def announce(link):
    """Announce every entity of ``link``'s registration, one retained QoS 1 message at a
    time; then remove what is ours but no longer registered: the entities the previous
    registrations had (``link._old`` hub shapes, ``link._gone`` charger ids, whose state
    and link topics are cleared too) and any leftover retained config of our node the
    broker hands over (the sweep)."""
    cl = link.client
    t = Topics(link.cfg)
    hub = link._hub
    chs = link._chargers
    swept = []

    def sweep(topic):
        p = t.parse_config(topic)
        if p is not None and len(swept) < _SWEEP_MAX and p not in swept \
                and not is_expected(t, hub[2], hub[3], link._chargers, p[0], p[1]):
            swept.append(p)

    async def send(topic, payload, n):
        # Retained, QoS 1 (the broker confirms it has it), and one at a time: wait until
        # it is on the wire before building the next, so only one is ever in memory.
        if not cl.connected():
            raise OSError("not connected")
        cl.publish(topic, payload, True, 1)
        await wait_for(cl.flushed(), _SEND_TIMEOUT_S)
        if n is not None:
            link.n[n] += 1

    f = t.sweep_filter()
    link._sweep = sweep
    cl.subscribe(f, 0)
    try:
        h = {"name": hub[0], "url": hub[1]}
        for row in entities(HUB, hub[2], hub[3]):
            await send(*config_message(t, h, row), 2)
        for i in range(0, len(chs), 6):
            ch = {"id": chs[i], "name": chs[i + 1], "vendor": chs[i + 2], "model": chs[i + 3],
                  "firmware": chs[i + 4]}
            for row in entities(CHARGER, chs[i + 5]):
                await send(*config_message(t, h, row, ch), 2)
        await sleep_ms(_SWEEP_SETTLE_MS)
        # an empty retained config removes the entity from HA (and clears the retained one)
        now = [r[1] + r[0] for r in entities(HUB, hub[2], hub[3])]
        done = []
        for shape in link._old:
            for r in entities(HUB, shape[0], shape[1]):
                if r[1] + r[0] not in now and r[1] + r[0] not in done:
                    done.append(r[1] + r[0])
                    await send(t.config(r[1], t.object_id(None, r[0])), b"", 3)
        for cid in link._gone:
            for r in entities(CHARGER):
                await send(t.config(r[1], t.object_id(cid, r[0])), b"", 3)
            for k in ("/state", "/status"):
                await send(t.base + "/charger/" + cid + k, b"", None)
        while swept:
            await send(t.config(*swept[0]), b"", 3)
            swept.pop(0)
        link._old = link._gone = ()
    finally:
        if link._sweep is sweep:
            link._sweep = None
        cl.unsubscribe(f)
