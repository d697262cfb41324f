"""`make config-new` as a person meets it: on a terminal, each answer checked at once and
asked again with the reason, passwords unseen, an existing file noticed first, EOF and
Ctrl-C ending with one line; and the same answers from a file, for scripts. The MQTT
presets end to end (the firmware reading their data): tests/e2e/test_presets.py."""
import json
import os
import stat
import subprocess
import sys
import time

from config_dialog import ROOT, Dialog

PASSWORD = "hunter2-wifi-secret"


def validate(path):
    return subprocess.run([sys.executable, "-m", "host_tools", "config", "validate", path], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def after_prompt(d):
    """The lines shown after the question that was being answered."""
    return [l for l in d.rest().split("\n", 1)[-1].splitlines() if l.strip()]


def test_each_answer_is_checked_at_once_and_a_ct_configuration_is_written(tmp_path):
    out = str(tmp_path / "config.json")
    d = Dialog("--ask", "--out", out)
    d.answer([("Board name", "garage-panel"), ("PSRAM", "no"), ("Wi-Fi network", "Home"),
              ("Wi-Fi password", PASSWORD), ("Phases", "3"), ("Phase voltage", "")])
    # 3 A is a breaker the schema allows (1-1000 A), but no car could ever charge behind it
    # (a car needs 6 A): asked again with the reason, before anything else is asked
    d.answer([("Main breaker", "3")])
    assert "less than the 6 A a car charges at" in d.expect("Main breaker")
    d.send("abc")
    assert "must be a number from 1 to 1000 A, got 'abc'" in d.expect("Main breaker")
    d.send("25")
    d.answer([("Amps to keep free", "22")])            # 25 - 22 = 3 A left: the same rule
    assert "leaves 3 A for the chargers" in d.expect("Amps to keep free")
    d.send("2")
    d.answer([("grid current", "1"),                   # 1) CT clamps on the board
              ("MQTT broker", ""), ("Charging mode", "eco"), ("Charger ids", "")])
    assert "give at least one charger id, or none" in d.expect("Charger ids")
    d.send("cp1 cp1")
    assert "must be unique" in d.expect("Charger ids")
    d.send("cp1 cp2")
    d.answer([("cp1: the most", "100")])
    assert "must be a number from 1 to 80 A, got 100" in d.expect("cp1: the most")
    d.send("16")
    d.answer([("cp1: phases", "2")])
    assert "must be one of 1, 3" in d.expect("cp1: phases")
    d.send("3")
    d.answer([("cp2: the most", "32"), ("cp2: phases", "1")])
    assert d.wait() == 0, d.out
    assert PASSWORD not in d.out                       # not echoed, not in the summary
    assert "wrote %s (2 charger(s))" % out in d.out and "grid: the board's CT clamps" in d.out
    assert "board: plain ESP32 without PSRAM" in d.out
    cfg = json.load(open(out))
    assert cfg["control"]["grid_source"] == "ct" and cfg["site"]["breaker_a"] == 25
    assert cfg["site"]["breaker_margin_a"] == 2 and cfg["site"]["mode"] == "eco"
    assert cfg["wifi"] == {"ssid": "Home", "password": PASSWORD}
    assert cfg["chargers"] == [{"id": "cp1", "max_a": 16, "phases": 3}, {"id": "cp2", "max_a": 32, "phases": 1}]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # it holds the Wi-Fi password
    r = validate(out)
    assert r.returncode == 0 and "ok (2 charger(s), mode eco" in r.stdout, r.stdout


def test_an_existing_file_is_noticed_before_the_first_question(tmp_path):
    out = tmp_path / "config.json"
    out.write_text('{"device": {"id": "keep-me"}}')
    d = Dialog("--ask", "--out", str(out))
    assert d.wait() == 1
    assert "config.json exists; `make config-new FORCE=1` (or --force) replaces it" in d.out
    assert "Board name" not in d.out
    # with --force the questions start; Ctrl-D there ends it with one line, nothing written
    d = Dialog("--ask", "--out", str(out), "--force")
    d.expect("Board name")
    d.key(b"\x04")
    assert d.wait() == 1
    assert after_prompt(d) == ["config new: stopped (end of input); nothing written"], d.out
    assert json.loads(out.read_text()) == {"device": {"id": "keep-me"}}


def test_ctrl_c_ends_with_one_line(tmp_path):
    out = tmp_path / "config.json"
    d = Dialog("--ask", "--out", str(out))
    d.answer([("Board name", ""), ("PSRAM", "")])
    d.expect("Wi-Fi network")
    # a person presses the key after the question is shown, not within microseconds of
    # it: a SIGINT between input() writing its prompt and blocking in its read is only
    # noted, and the read waits (CPython; ~1 run in 3 on a busy machine)
    time.sleep(0.3)
    d.key(b"\x03")
    assert d.wait() == 130
    assert after_prompt(d) == ["config new: stopped (interrupted); nothing written"], d.out
    assert "Traceback" not in d.out and not out.exists()


def test_no_chargers_yet_is_a_clear_choice(tmp_path):
    out = str(tmp_path / "config.json")
    d = Dialog("--ask", "--out", out)
    d.answer([("Board name", ""), ("PSRAM", "yes"), ("Wi-Fi network", "")])
    # an empty network: the board stays off the network, and the wizard says so
    assert "no Wi-Fi: the board stays off the network until wifi.ssid is set" in d.expect("Phases")
    d.send("1")
    d.answer([("Phase voltage", "120"), ("Main breaker", "40"), ("Amps to keep free", ""), ("grid current", "none"),
              ("MQTT broker", ""), ("Charging mode", ""), ("Charger ids", "none")])
    assert d.wait() == 0, d.out
    assert "no chargers yet: the board controls nothing until chargers are added" in d.out
    assert "board: with PSRAM: flash MicroPython's SPIRAM build" in d.out
    cfg = json.load(open(out))
    assert cfg["chargers"] == [] and cfg["control"]["grid_source"] == "none"
    assert cfg["site"]["phases"] == 1 and cfg["site"]["voltage_v"] == 120
    assert validate(out).returncode == 0


def _new(*args):
    return subprocess.run([sys.executable, "-m", "host_tools", "config", "new"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


VICTRON = {"device_id": "boat-house", "phases": 3, "breaker_a": 32, "grid_source": "mqtt",
           "mqtt_host": "venus.lan", "grid_preset": "victron", "victron.portal_id": "c0619ab1e2f3",
           "solar_preset": "victron", "battery_preset": "victron", "chargers": ["cp1"]}


def test_answers_from_a_file_for_scripts(tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(VICTRON))
    out = str(tmp_path / "config.json")
    r = _new("--answers", str(answers), "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = json.load(open(out))
    inputs = cfg["mqtt"]["inputs"]
    # Venus OS's system service: N/<portal id>/system/0/<D-Bus path>, {"value": x} payloads
    assert inputs["grid_l2"] == {"topic": "N/c0619ab1e2f3/system/0/Ac/Grid/L2/Power", "field": "value", "unit": "W"}
    assert inputs["battery_soc"]["topic"] == "N/c0619ab1e2f3/system/0/Dc/Battery/Soc"
    assert sorted(inputs) == ["battery_power", "battery_soc", "grid_l1", "grid_l2", "grid_l3", "solar"]
    assert cfg["site"]["battery"] == {} and cfg["chargers"] == [{"id": "cp1", "max_a": 16, "phases": 3}]
    assert validate(out).returncode == 0
    # a refused answer names its key and writes nothing; so does an answer no question asked for
    for bad, why in (({"breaker_a": 3}, "breaker_a: leaves 3 A for the chargers"),
                     ({"mqtt_host": "venus lan"}, "mqtt_host: must be a host name or IPv4 address"),
                     ({"mqtt_host": ""}, "mqtt_host: the grid data comes over MQTT: give the broker's host"),
                     ({"grid_preset": "sma"}, "grid_preset: must be one of shelly_pro_3em"),
                     ({"battery_preset": "none", "victron.portal": "x"}, "answers to no question asked: victron.portal")):
        answers.write_text(json.dumps(dict(VICTRON, **bad)))
        r = _new("--answers", str(answers), "--out", str(tmp_path / "n.json"))
        assert r.returncode == 1 and why in r.stderr and "nothing written" in r.stderr, (bad, r.stderr)
        assert not (tmp_path / "n.json").exists()
