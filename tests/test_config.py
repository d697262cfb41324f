"""The whole configuration: every field has help, secrets are masked, files are checked."""
import json

import pytest

from dynevse.config import help as settings_help
from dynevse.config import fields as schema
from dynevse.config.check import check
from dynevse.config.schema import ConfigError


def test_every_field_has_help_text():
    missing = []
    for section, fields, _is_list in schema.SECTIONS:
        for f in fields:
            if not settings_help.help_for("%s.%s" % (section, f[0])):
                missing.append("%s.%s" % (section, f[0]))
    assert missing == []
    assert settings_help.help_for("mqtt.inputs")
    assert settings_help.help_for("chargers[3].min_a") == settings_help.help_for("chargers.min_a")
    assert settings_help.help_for("no.such") is None


def test_minimal_config_fills_defaults():
    cfg = check({"chargers": [{"id": "cp1"}]})
    assert cfg["device"]["id"] == "dynevse" and cfg["web"]["port"] == 80
    assert cfg["chargers"][0]["min_a"] == 6 and cfg["chargers"][0]["profile_kind"] == "relative"
    assert cfg["mqtt"]["base_topic"] == "dynevse/dynevse"
    o = cfg["ocpp"]
    # one value, one place: the OCPP side gets the regulator's fallback, duration and
    # refresh and the site's voltage (their defaults: 6 A, 180 s, 60 s, 230 V)
    assert (o["fallback_a"], o["profile_duration_s"], o["refresh_before_s"], o["voltage_v"]) == (6, 180, 60, 230)
    cfg = check({"regulation": {"profile_duration_s": 300}, "site": {"voltage_v": 240},
                 "chargers": [{"id": "cp1"}]})
    assert (cfg["ocpp"]["profile_duration_s"], cfg["ocpp"]["voltage_v"]) == (300, 240)


def test_errors_name_the_field():
    cases = [
        ({"sitee": {}}, "sitee"),
        ({"site": {"breaker_a": -1}}, "site.breaker_a"),
        ({"chargers": [{"id": "cp1", "pasword": "x"}]}, "chargers[0].pasword"),
        ({"chargers": [{"id": "cp1", "profile_kind": "weird"}]}, "chargers[0].profile_kind"),
        ({"ocpp": {"fallback_a": 10}}, "ocpp.fallback_a"),
        ({"mqtt": {"port": 0}}, "mqtt.port"),
        ({"regulation": {"pause_s": -5}}, "regulation.pause_s"),
        ({"control": {"grid_source": "psychic"}}, "control.grid_source"),
        ({"web": []}, "web"),
    ]
    for cfg, field in cases:
        with pytest.raises(ConfigError) as e:
            check(cfg)
        assert e.value.field == field, (cfg, str(e.value))


def test_fallback_must_fit_the_breaker():
    # 4 three-phase chargers x 6 A = 24 A on each phase; a 20 A breaker can't carry it.
    cfg = {"site": {"breaker_a": 20}, "chargers": [{"id": "cp%d" % i} for i in range(4)]}
    with pytest.raises(ConfigError) as e:
        check(cfg)
    assert e.value.field == "regulation.fallback_a" and "24" in str(e.value)
    # the same chargers spread as 1-phase over A, B, C, A: 12 A on A fits
    cfg["chargers"] = [{"id": "cp%d" % i, "phases": 1, "phase_map": "ABCA"[i]} for i in range(4)]
    check(cfg)


def test_secrets_are_masked_and_only_those():
    cfg = check({
        "wifi": {"ssid": "home", "password": "wifisecret"},
        "web": {"admin_password": "adminsecret"},
        "mqtt": {"host": "broker", "username": "u", "password": "mqttsecret"},
        "chargers": [{"id": "cp1", "password": "cpsecret"}, {"id": "cp2"}],
    })
    text = json.dumps(schema.masked(cfg))
    for secret in ("wifisecret", "adminsecret", "mqttsecret", "cpsecret"):
        assert secret not in text
    m = schema.masked(cfg)
    assert m["wifi"]["ssid"] == "home" and m["mqtt"]["username"] == "u"
    assert m["chargers"][1]["password"] == ""          # unset stays visibly unset
    assert cfg["wifi"]["password"] == "wifisecret"     # the original is untouched


def test_configuration_reference_is_up_to_date():
    # docs/configuration.md is generated from the schema; regenerate it with
    # `python -m host_tools config reference > docs/configuration.md`.
    import os
    from host_tools import reference
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "configuration.md")
    assert open(path).read() == reference.reference()
