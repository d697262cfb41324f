"""OCPP settings: every field's kind, default, range and unit, and their validation.

Two tables in the form of ``dynevse.core.schema``: ``OCPP_FIELDS`` for the central system
(section ``ocpp``) and ``CHARGER_OCPP_FIELDS`` for what each charger adds to its entry in
``chargers``. ``check_ocpp`` and ``check_charger_ocpp`` return the settings with defaults
filled in or raise ``ConfigError`` naming the field and what is allowed.

Used at boot only (``dynevse.settings.check_config``, or ``CentralSystem`` when it is not
given checked settings): the app forgets this module and ``core.schema`` afterwards.
"""
from dynevse.core.schema import (ConfigError, check_section, NUM, INT, BOOL, TEXT, ID, IDS,
                                 REQUIRED)
from dynevse.ocpp.rpc import one_of

# What MeterValuesSampledData asks for by default: everything session.read_meter_values reads.
DEFAULT_MEASURANDS = ("Current.Import", "Current.Offered", "Power.Active.Import",
                      "Energy.Active.Import.Register", "SoC")

OCPP_FIELDS = (
    # BootNotification.conf interval: how often an idle charger sends Heartbeat
    ("heartbeat_interval_s", INT, 300, 10, 86400, "s"),
    # the limit of the fallback profile the charger keeps when the dynamic one lapses
    ("fallback_a", NUM, 6, 0, 80, "A"),
    # chargingProfileId of the dynamic limit and of the fallback profile
    ("profile_id", INT, 11, 1, 1000000, ""),
    ("fallback_profile_id", INT, 10, 1, 1000000, ""),
    # stack level of the dynamic profile; the fallback goes one level below it
    ("stack_level", INT, 2, 1, 100, ""),
    # how long a dynamic limit stays valid on the charger without being sent again, and
    # how long before it lapses it is sent again. On the board both are regulation's
    # (60 s at least); shorter is for the standalone server's bench work and tests
    ("profile_duration_s", INT, 600, 10, 86400, "s"),
    ("refresh_before_s", INT, 60, 1, 3600, "s"),
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
    # site voltage, to express a limit in W (W = A x V x phases in use)
    ("voltage_v", NUM, 230, 100, 300, "V"),
    # lines kept in each charger's event log
    ("log_lines", INT, 20, 0, 200, ""),
)

CHARGER_OCPP_FIELDS = (
    ("id", ID, REQUIRED, None, None, ""),
    ("phases", (1, 3), 3, None, None, ""),
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
    # stack level of the dynamic profile for this charger; -1 = auto (the site's,
    # lowered to the charger's ChargeProfileMaxStackLevel)
    ("stack_level", INT, -1, -1, 100, ""),
)

_ID_TAG_MAX = 20       # IdToken is CiString20Type
_PASSWORD_MAX = 40     # AuthorizationKey: at most 20 bytes, given as up to 40 hex digits


def check_ocpp(data, strict=False):
    """Validate the ``ocpp`` section; returns a new dict with defaults filled in."""
    cfg = check_section("ocpp", data if data is not None else {}, OCPP_FIELDS, strict)
    for m in cfg["meter_measurands"]:
        if not one_of(m, "MEAS"):
            raise ConfigError("ocpp.meter_measurands", "must name OCPP 1.6 measurands such as "
                              "Current.Import or SoC, got %r" % (m,))
    for t in cfg["id_tags"]:
        if len(t) > _ID_TAG_MAX:
            raise ConfigError("ocpp.id_tags", "must be idTags of at most %d characters, got %r"
                              % (_ID_TAG_MAX, t))
    if cfg["refresh_before_s"] >= cfg["profile_duration_s"]:
        raise ConfigError("ocpp.refresh_before_s", "must be below profile_duration_s (%s s), got %s"
                          % (cfg["profile_duration_s"], cfg["refresh_before_s"]))
    if cfg["profile_id"] == cfg["fallback_profile_id"]:
        raise ConfigError("ocpp.fallback_profile_id", "must differ from profile_id (%s), got %s"
                          % (cfg["profile_id"], cfg["fallback_profile_id"]))
    return cfg


def check_charger_ocpp(path, data, strict=False):
    """Validate the OCPP options of one charger entry (other charger keys are ignored)."""
    c = check_section(path, data, CHARGER_OCPP_FIELDS, strict)
    pw = c["password"]
    if len(pw) > _PASSWORD_MAX:
        raise ConfigError(path + ".password", "must be at most %d characters, got %d"
                          % (_PASSWORD_MAX, len(pw)))
    return c


def check_chargers_ocpp(chargers, strict=False):
    """Validate the OCPP options of the charger list; ids must be unique."""
    if not isinstance(chargers, (list, tuple)):
        raise ConfigError("chargers", "must be a list, got %r" % (chargers,))
    out = []
    seen = []
    for i, ch in enumerate(chargers):
        path = "chargers[%d]" % i
        c = check_charger_ocpp(path, ch, strict)
        if c["id"] in seen:
            raise ConfigError(path + ".id", "must be unique, %r is used twice" % c["id"])
        seen.append(c["id"])
        out.append(c)
    return out
