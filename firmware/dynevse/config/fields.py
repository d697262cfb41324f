"""The configuration tables of the board's other sections (device, Wi-Fi, web server,
control, regulation, OCPP, MQTT), and ``SECTIONS``: every table, the site's too
(``config.site``), in the order a person reads them. ``config.schema`` explains a
field's form; ``config.help`` has a help text for every field.
"""
from dynevse.config.schema import BOOL, HOST, ID, IDS, INT, NUM, TEXT, TOPIC
from dynevse.config.site import BATTERY_FIELDS, CHARGER_FIELDS, GROUP_FIELDS, SITE_FIELDS

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

# What MeterValuesSampledData asks for by default: everything the central system reads.
DEFAULT_MEASURANDS = ("Current.Import", "Current.Offered", "Power.Active.Import",
                      "Energy.Active.Import.Register", "SoC")

OCPP_FIELDS = (
    # BootNotification.conf interval: how often an idle charger sends Heartbeat
    ("heartbeat_interval_s", INT, 300, 10, 86400, "s"),
    # chargingProfileId of the dynamic limit and of the fallback profile
    ("profile_id", INT, 11, 1, 1000000, ""),
    ("fallback_profile_id", INT, 10, 1, 1000000, ""),
    # stack level of the dynamic profile; the fallback goes one level below it
    ("stack_level", INT, 2, 1, 100, ""),
    # ChangeConfiguration after boot; 0 leaves the charger's own setting alone
    ("meter_sample_interval_s", INT, 10, 0, 3600, "s"),
    # MeterValuesSampledData after boot; an empty list leaves the charger's own setting alone
    ("meter_measurands", IDS, DEFAULT_MEASURANDS, None, None, ""),
    # how long the board waits for the answer to a CALL it sent
    ("call_timeout_s", NUM, 30, 1, 300, "s"),
    # largest websocket message accepted (bigger: close 1009)
    ("max_message_bytes", INT, 8192, 1024, 65536, "B"),
    # after connecting, how long to wait for BootNotification before triggering it
    ("boot_wait_s", NUM, 5, 0.1, 120, "s"),
    # the board pings a silent charger after this long and drops it after three times it; 0 = off
    ("ws_ping_interval_s", INT, 60, 0, 3600, "s"),
    # idTags: every tag is accepted (free charging) or only those in id_tags
    ("free_charging", BOOL, True, None, None, ""),
    ("id_tags", IDS, (), None, None, ""),
    # lines kept in each charger's event log
    ("log_lines", INT, 20, 0, 200, ""),
)
# The central system also takes these; they are set once, elsewhere (``check.ocpp``).
OCPP_DERIVED = (("fallback_a", "regulation"), ("profile_duration_s", "regulation"),
                ("refresh_before_s", "regulation"), ("voltage_v", "site"))

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

# (section, fields, is a list of entries), in the order a person reads them
SECTIONS = (
    ("device", DEVICE_FIELDS, False),
    ("wifi", WIFI_FIELDS, False),
    ("web", WEB_FIELDS, False),
    ("control", CONTROL_FIELDS, False),
    ("site", SITE_FIELDS, False),
    ("site.battery", BATTERY_FIELDS, False),
    ("site.groups", GROUP_FIELDS, True),
    ("chargers", CHARGER_FIELDS, True),
    ("regulation", REGULATION_FIELDS, False),
    ("ocpp", OCPP_FIELDS, False),
    ("mqtt", MQTT_FIELDS, False),
)
TOP = ("device", "wifi", "web", "control", "site", "chargers", "regulation", "ocpp", "mqtt")
# Never shown, never sent out.
SECRETS = ("wifi.password", "wifi.ap_password", "web.admin_password", "mqtt.password",
           "chargers[].password")


def field(path):
    """The field row of a path like "site.breaker_a", "site.battery.soc_min" or
    "chargers[2].min_a", or None."""
    if "[" in path:
        path = path[:path.index("[")] + path[path.index("]") + 1:]
    section, _, key = path.rpartition(".")
    for name, fields, _is_list in SECTIONS:
        if name == section:
            for f in fields:
                if f[0] == key:
                    return f
    return None


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
