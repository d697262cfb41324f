"""MQTT presets for common meters and inverters: the ``mqtt.inputs`` a product needs.

``config new`` offers them for the grid, solar and home-battery data. A preset knows
the product's topic layout, payload fields, units and signs; it asks only for the part
that differs per installation (a topic prefix, a serial number, a portal id) through
the ``ask`` it is given::

    ask(key, question, default, makes=None, choices=None) -> the answer

``makes(answer)`` gives the inputs that answer produces, so the answer can be checked by
the board's own rules at once (the wizard does that). Each preset's ``inputs(ask, role,
phases)`` returns ``{quantity: mapping}`` for ``role`` ("grid", "solar" or "battery")
on a site with ``phases`` phases. Where each layout comes from is written down in
docs/home-assistant.md (Presets).
"""

ROLES = ("grid", "solar", "battery")
GRID_PHASES = ("grid_l1", "grid_l2", "grid_l3")


def _grid_w(topic, fields, phases, unit="W"):
    """Per-phase grid inputs from one topic's JSON ``fields`` (one per phase)."""
    return {GRID_PHASES[p]: {"topic": topic, "field": fields[p], "unit": unit} for p in range(phases)}


class Preset:
    """A product: ``key`` (used in answer files), ``label``, the ``roles`` it can serve,
    ``note`` (said when it is chosen), ``inputs(ask, role, phases)``; ``total_grid_only``:
    it reports the grid as one total, which is one phase's worth only on a 1-phase site."""

    def __init__(self, key, label, roles, inputs, note="", total_grid_only=False):
        self.key = key
        self.label = label
        self.roles = roles
        self.inputs = inputs
        self.note = note
        self.total_grid_only = total_grid_only

    def serves(self, role, phases):
        if role not in self.roles:
            return False
        return not (role == "grid" and self.total_grid_only and phases != 1)


# ---- Shelly Pro 3EM ------------------------------------------------------------------

def _shelly(ask, role, phases):
    fields = ("a_act_power", "b_act_power", "c_act_power")
    prefix = ask("topic_prefix", "Shelly's MQTT topic prefix (its web page: Settings > MQTT; by default "
                 "shellypro3em-<its MAC address>)", None,
                 makes=lambda v: _grid_w(v + "/status/em:0", fields, phases))
    return _grid_w(prefix + "/status/em:0", fields, phases)


# ---- Tasmota with an SML reader --------------------------------------------------------

def _tasmota(ask, role, phases):
    topic = ask("topic", "Tasmota's topic (Configuration > MQTT > Topic, e.g. tasmota_5A3F2C); it "
                "publishes tele/<topic>/SENSOR", None,
                makes=lambda v: {"grid_l1": {"topic": "tele/%s/SENSOR" % v}})
    sensor = "tele/%s/SENSOR" % topic
    group = ask("group", "The meter's name in the SML script (the last part of its '+1,...' line)", "SML",
                makes=lambda v: {"grid_l1": {"topic": sensor, "field": v}})
    if phases == 1:
        name = ask("power", "The name of the signed power value in the script", "Power_curr",
                   makes=lambda v: _grid_w(sensor, (group + "." + v,), 1))
        return _grid_w(sensor, (group + "." + name,), 1)

    def per_phase(text):
        names = str(text).split()
        if len(names) != 3:
            raise ValueError("give three names, one per phase, got %d" % len(names))
        return _grid_w(sensor, [group + "." + n for n in names], 3)
    names = ask("phase_powers", "The names of the signed power of L1, L2 and L3 in the script, separated "
                "by spaces", "power_l1 power_l2 power_l3", makes=per_phase)
    return per_phase(names)


# ---- Home Assistant mqtt_statestream -----------------------------------------------------

_STATESTREAM_QUANTITIES = {
    "grid": (("grid_l1", "grid L1 (or the grid, on a 1-phase site)"), ("grid_l2", "grid L2"),
             ("grid_l3", "grid L3")),
    "solar": (("solar", "solar production"),),
    "battery": (("battery_soc", "home battery state of charge"), ("battery_power", "home battery power")),
}
_UNITS = {"grid_l1": ("W", "kW", "A"), "grid_l2": ("W", "kW", "A"), "grid_l3": ("W", "kW", "A"),
          "solar": ("W", "kW"), "battery_soc": ("%",), "battery_power": ("W", "kW")}


def _statestream(ask, role, phases):
    base = ask("base_topic", "mqtt_statestream's base_topic (in Home Assistant's configuration.yaml)",
               "homeassistant", makes=lambda v: {"solar": {"topic": v}})

    def topic(entity):
        domain, _, obj = str(entity).partition(".")
        if not domain or not obj:
            raise ValueError("must be an entity id like sensor.grid_power, got %r" % (entity,))
        return "%s/%s/%s/state" % (base, domain, obj)
    out = {}
    rows = _STATESTREAM_QUANTITIES[role][:phases] if role == "grid" else _STATESTREAM_QUANTITIES[role]
    for q, what in rows:
        entity = ask(q + "_entity", "Entity id of the %s, e.g. sensor.%s" % (what, q), None,
                     makes=lambda v, q=q: {q: {"topic": topic(v)}})
        unit = _UNITS[q][0]
        if len(_UNITS[q]) > 1:
            unit = ask(q + "_unit", "Its unit (%s)" % ", ".join(_UNITS[q]), _UNITS[q][0], choices=_UNITS[q],
                       makes=lambda v, q=q, t=topic(entity): {q: {"topic": t, "unit": v}})
        out[q] = {"topic": topic(entity), "unit": unit}
        if q != "solar" and q != "battery_soc":
            _sign(ask, q + "_invert", "Is it", q, out[q])
    return out


def _sign(ask, key, what, q, mapping):
    """Ask whether the device counts ``q`` the other way round; set ``invert`` if so."""
    while_ = "the battery charges" if q == "battery_power" else "importing from the grid"
    if ask(key, "%s negative while %s? (yes: the board flips its sign)" % (what, while_), "no",
           choices=("no", "yes")) == "yes":
        mapping["invert"] = True


# ---- Solar Assistant -----------------------------------------------------------------

def _solar_assistant(ask, role, phases):
    inverter = ask("inverter", "Solar Assistant's inverter topic level (inverter_1 for the first inverter)",
                   "inverter_1", makes=lambda v: {"solar": {"topic": "solar_assistant/%s/pv_power/state" % v}})
    pre = "solar_assistant/" + inverter + "/"
    # its signs are not documented where we looked: the person checks them on its page
    if role == "grid":
        m = {"topic": pre + "grid_power/state", "unit": "W"}
        _sign(ask, "grid_invert", "Is Solar Assistant's grid power", "grid_l1", m)
        return {"grid_l1": m}
    if role == "solar":
        return {"solar": {"topic": pre + "pv_power/state", "unit": "W"}}
    m = {"topic": "solar_assistant/total/battery_power/state", "unit": "W"}
    _sign(ask, "battery_invert", "Is Solar Assistant's battery power", "battery_power", m)
    return {"battery_soc": {"topic": "solar_assistant/total/battery_state_of_charge/state", "unit": "%"},
            "battery_power": m}


# ---- Victron Venus OS (dbus-mqtt / dbus-flashmq) ---------------------------------------

def _victron(ask, role, phases):
    portal = ask("portal_id", "The GX device's VRM portal id (Settings > VRM online portal > VRM Portal ID)",
                 None, makes=lambda v: {"solar": {"topic": "N/%s/system/0/Dc/Pv/Power" % v, "field": "value"}})
    system = "N/%s/system/0/" % portal
    if role == "grid":
        return {GRID_PHASES[p]: {"topic": system + "Ac/Grid/L%d/Power" % (p + 1), "field": "value", "unit": "W"}
                for p in range(phases)}
    if role == "solar":
        return {"solar": {"topic": system + "Dc/Pv/Power", "field": "value", "unit": "W"}}
    return {"battery_soc": {"topic": system + "Dc/Battery/Soc", "field": "value", "unit": "%"},
            "battery_power": {"topic": system + "Dc/Battery/Power", "field": "value", "unit": "W"}}


# ---- OpenDTU ---------------------------------------------------------------------------

def _opendtu(ask, role, phases):
    base = ask("base_topic", "OpenDTU's base topic (Settings > MQTT), without the trailing /", "solar",
               makes=lambda v: {"solar": {"topic": v + "/ac/power"}})
    return {"solar": {"topic": base + "/ac/power", "unit": "W"}}


# ---- any topic -------------------------------------------------------------------------

_CUSTOM = {"grid": GRID_PHASES, "solar": ("solar",), "battery": ("battery_soc", "battery_power")}


def _custom(ask, role, phases):
    out = {}
    quantities = _CUSTOM[role][:phases] if role == "grid" else _CUSTOM[role]
    for q in quantities:
        t = ask(q + ".topic", "%s: topic" % q, None, makes=lambda v, q=q: {q: {"topic": v}})
        f = ask(q + ".field", "%s: JSON field path, e.g. ENERGY.Power.0 (empty: the payload is a plain number)"
                % q, "", makes=lambda v, q=q, t=t: {q: {"topic": t, "field": v}})
        m = {"topic": t, "field": f}
        if len(_UNITS[q]) > 1:
            m["unit"] = ask(q + ".unit", "%s: unit (%s)" % (q, ", ".join(_UNITS[q])), _UNITS[q][0],
                            choices=_UNITS[q], makes=lambda v, q=q, m=m: {q: dict(m, unit=v)})
        if q != "battery_soc" and ask(q + ".invert", "%s: flip its sign? (ours: grid + import, battery + "
                                      "charging)" % q, "no", choices=("no", "yes")) == "yes":
            m["invert"] = True
        out[q] = m
    return out


PRESETS = (
    Preset("shelly_pro_3em", "Shelly Pro 3EM", ("grid",), _shelly,
           "Turn on 'Generic status update over MQTT' in the Shelly's MQTT settings: it then publishes "
           "<prefix>/status/em:0 with each phase's signed active power."),
    Preset("tasmota_sml", "Tasmota with a smart-meter (SML) reader", ("grid",), _tasmota,
           "Tasmota publishes tele/<topic>/SENSOR every TelePeriod (default 300 s): set TelePeriod 10 "
           "in its console, the board counts grid data older than regulation.grid_max_age_s (15 s) as stale."),
    Preset("ha_statestream", "Home Assistant mqtt_statestream (any sensor Home Assistant has)",
           ROLES, _statestream,
           "mqtt_statestream publishes a sensor when its state changes: a value that stays the same for "
           "longer than regulation.grid_max_age_s (15 s) counts as stale."),
    Preset("solar_assistant", "Solar Assistant", ROLES, _solar_assistant, total_grid_only=True),
    Preset("victron", "Victron Venus OS (GX device, MQTT on LAN)", ROLES, _victron,
           "Venus OS publishes only while some client sends a keep-alive to R/<portal id>/keepalive at "
           "least every 60 s; the board does not send one (docs/home-assistant.md shows a Home Assistant "
           "automation that does)."),
    Preset("opendtu", "OpenDTU (Hoymiles microinverters)", ("solar",), _opendtu),
    Preset("custom", "another device: type the topics", ROLES, _custom),
)


def find(key):
    """The preset named ``key``, or None."""
    for p in PRESETS:
        if p.key == key:
            return p
    return None


def offered(role, phases):
    """The presets that can give ``role`` on a site with ``phases`` phases."""
    return [p for p in PRESETS if p.serves(role, phases)]
