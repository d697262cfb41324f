"""OCPP settings (``config.check.check_central``, the central system on its own):
defaults, ranges, errors naming the field; ISO 8601 time text.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
from dualtest import raises
from dynevse.config.schema import ConfigError
from dynevse.config.check import check_central


def check_ocpp(data):
    return check_central(data, [])[0]


def check_chargers_ocpp(chargers):
    return check_central({}, chargers)[1]

from dynevse.ocpp.central import iso8601, hhmmss


def test_defaults():
    c = check_ocpp(None)
    assert c["heartbeat_interval_s"] == 300 and c["fallback_a"] == 6
    assert (c["profile_id"], c["fallback_profile_id"], c["stack_level"]) == (11, 10, 2)
    assert c["free_charging"] is True and c["id_tags"] == []
    assert "Current.Import" in c["meter_measurands"] and "SoC" in c["meter_measurands"]
    ch = check_chargers_ocpp([{"id": "CP1", "min_a": 6}])[0]
    assert (ch["phases"], ch["password"], ch["profile_kind"], ch["connector_id"]) == (3, "", "relative", 0)
    assert (ch["stop_method"], ch["rate_unit"], ch["stack_level"]) == ("limit", "auto", -1)


def test_out_of_range_names_field_and_range():
    e = raises(ConfigError, check_ocpp, {"heartbeat_interval_s": 5})
    assert e.field == "ocpp.heartbeat_interval_s" and "10 to 86400 s" in str(e)
    e = raises(ConfigError, check_ocpp, {"max_message_bytes": 10 ** 6})
    assert e.field == "ocpp.max_message_bytes"
    e = raises(ConfigError, check_ocpp, {"free_charging": 1})
    assert e.field == "ocpp.free_charging"
    # the fallback current is the regulation's setting: a standalone central system may
    # be given it, and it is checked (and named) as that setting
    e = raises(ConfigError, check_ocpp, {"fallback_a": float("nan")})
    assert e.field == "regulation.fallback_a"


def test_profile_ids_must_differ():
    e = raises(ConfigError, check_ocpp, {"profile_id": 7, "fallback_profile_id": 7})
    assert e.field == "ocpp.fallback_profile_id"


def test_measurands_and_id_tags():
    e = raises(ConfigError, check_ocpp, {"meter_measurands": ["Current.Import", "Amps"]})
    assert e.field == "ocpp.meter_measurands" and "Amps" in str(e)
    e = raises(ConfigError, check_ocpp, {"id_tags": ["A" * 21]})
    assert e.field == "ocpp.id_tags"
    assert check_ocpp({"meter_measurands": []})["meter_measurands"] == []


def test_charger_options():
    e = raises(ConfigError, check_chargers_ocpp, [{"id": "CP1", "profile_kind": "recurring"}])
    assert e.field == "chargers[0].profile_kind" and "absolute" in str(e)
    e = raises(ConfigError, check_chargers_ocpp, [{"id": "CP1"}, {"id": "CP2", "connector_id": 2}])
    assert e.field == "chargers[1].connector_id"
    e = raises(ConfigError, check_chargers_ocpp, [{"id": "CP1", "rate_unit": "kW"}])
    assert e.field == "chargers[0].rate_unit"
    e = raises(ConfigError, check_chargers_ocpp, [{"id": "CP1", "password": "p" * 41}])
    assert e.field == "chargers[0].password"
    e = raises(ConfigError, check_chargers_ocpp, [{"id": "CP1"}, {"id": "CP1"}])
    assert e.field == "chargers[1].id"
    e = raises(ConfigError, check_chargers_ocpp, [{"id": "bad id"}])
    assert e.field == "chargers[0].id"
    e = raises(ConfigError, check_chargers_ocpp, "CP1")
    assert e.field == "chargers"


def test_iso8601():
    # reference points worked out by hand: 86400 s a day, 2000 was a leap year
    assert iso8601(0) == "1970-01-01T00:00:00Z"
    assert iso8601(951782400) == "2000-02-29T00:00:00Z"      # 11016 days after 1970-01-01
    assert iso8601(1714564800.9) == "2024-05-01T12:00:00Z"   # fractions are dropped
    assert iso8601(1735689599) == "2024-12-31T23:59:59Z"
    assert hhmmss(1714564800 + 3 * 3600 + 4 * 60 + 5) == "15:04:05"
