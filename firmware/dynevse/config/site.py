"""The site's configuration tables: the supply, its home battery, circuit groups and the
chargers (``config.schema`` explains a field's form), and the settings of these Home
Assistant may change (``commands``), derived from the tables.

Kept apart from the other sections' tables (``config.fields``) so that the MQTT discovery
announcement and a command load only these.
"""
from dynevse.compat import const
from dynevse.config.schema import BOOL, ID, IDS, INT, NUM, PHASE_MAP, REQUIRED, TEXT

MODES = ("standard", "eco", "solar", "excess")
DISTRIBUTIONS = ("shared", "priority", "sequential_optimized", "sequential_strict")
PHASE_NAMES = "ABC"
MAX_CHARGERS = const(16)
MAX_GROUPS = const(16)

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
    # the PV/hybrid inverter and the meter (docs/modes.md, "Inverter, meter, off-grid")
    ("off_grid", BOOL, False, None, None, ""),
    ("meter_netting", ("sum", "per_phase"), "sum", None, None, ""),
    ("inverter_output", ("symmetric", "asymmetric"), "symmetric", None, None, ""),
    ("inverter_max_w", NUM, 0, 0, 1000000, "W"),
    ("inverter_max_phase_w", NUM, 0, 0, 1000000, "W"),
)

BATTERY_FIELDS = (
    ("soc_min", NUM, 20, 0, 100, "%"),
    ("soc_target", NUM, 80, 0, 100, "%"),
    ("soc_hysteresis", NUM, 3, 0, 20, "%"),
    ("max_charge_w", NUM, 5000, 0, 100000, "W"),
    ("max_discharge_w", NUM, 5000, 0, 100000, "W"),
    ("coupling", ("series", "parallel"), "series", None, None, ""),
)

GROUP_FIELDS = (
    ("id", ID, REQUIRED, None, None, ""),
    ("limit_a", NUM, REQUIRED, 1, 1000, "A"),
    ("chargers", IDS, (), None, None, ""),
)

# What the distribution needs of a charger, then its name and its OCPP options.
CHARGER_FIELDS = (
    ("id", ID, REQUIRED, None, None, ""),
    ("min_a", NUM, 6, 0, 80, "A"),
    ("max_a", NUM, 16, 1, 80, "A"),
    ("phases", (1, 3), 3, None, None, ""),
    ("phase_map", PHASE_MAP, "", None, None, ""),
    ("priority", INT, 1, 1, 10, ""),
    ("mode", ("",) + MODES, "", None, None, ""),
    ("name", TEXT, "", None, None, ""),
    # OCPP security profile 1: HTTP Basic auth with the charger id as user; "" = no password
    ("password", TEXT, "", None, None, ""),
    # Relative, or Absolute with a start a minute in the past
    ("profile_kind", ("relative", "absolute"), "relative", None, None, ""),
    # connector the profiles go to: 0 = the whole charger, 1 = its first connector
    ("connector_id", (0, 1), 0, None, None, ""),
    # how a limit of 0 is carried out: a 0 A profile, or RemoteStopTransaction
    ("stop_method", ("limit", "remote_stop"), "limit", None, None, ""),
    # A or W, or auto: from ChargingScheduleAllowedChargingRateUnit, retried in the other on rejection
    ("rate_unit", ("auto", "A", "W"), "auto", None, None, ""),
    # -1 = auto: the site's (ocpp.stack_level), lowered to the charger's ChargeProfileMaxStackLevel
    ("stack_level", INT, -1, -1, 100, ""),
)


# The settings Home Assistant can change: where ("s" site, "b" site.battery, "c" each
# charger) and key; the keys of ``_BUTTONS`` are buttons (no setting of their own: a
# charger's profile reset, applying what the detection found). Platforms, options and
# ranges come from the field tables, in this order (the order refusals list the keys in).
_COMMANDS = ("s mode", "s distribution", "s allow_grid_charging", "s power_buffer_w", "s invert_grid",
             "b soc_min", "b soc_target", "c mode", "c min_a", "c max_a", "c priority", "c reset",
             "c apply_phase_map")
_BUTTONS = ("reset", "invert_grid", "apply_phase_map")
# The step a number takes over MQTT, by its unit: limits go to the chargers in tenths of
# an amp; watts and percent in whole units. A whole number (INT) steps by 1.
_STEPS = {"A": "0.1", "W": "1", "%": "1"}


def choice_words(value):
    """The words a person reads for a choice of the tables (Home Assistant's select
    options): "sequential_optimized" is "Sequential – optimized"; a charger's ""
    follows the site."""
    if value == "":
        return "Same as the site"
    return value[:1].upper() + value[1:].replace("_", " – ")


def commands(site, battery=True):
    """Yield, for the site (``site``) or a charger, one row per command as a list of
    strings: where, key, platform, then for a select its options (the field's values)
    joined by ","; for a number "n" (number) or "i" (whole number), lo, hi, unit ("" for
    none) and step."""
    for c in _COMMANDS:
        where, key = c.split(" ")
        if (where == "c") == site or (where == "b" and not battery):
            continue
        if key in _BUTTONS:
            yield [where, key, "button"]
            continue
        for f in (SITE_FIELDS if where == "s" else BATTERY_FIELDS if where == "b" else CHARGER_FIELDS):
            if f[0] == key:
                break
        kind = f[1]
        if isinstance(kind, tuple):
            yield [where, key, "select", ",".join(kind)]
        elif kind == BOOL:
            yield [where, key, "switch"]
        else:
            yield [where, key, "number", "i" if kind == INT else "n", str(f[3]), str(f[4]), f[5],
                   "1" if kind == INT else _STEPS[f[5]]]
