"""The app's side of the detection (both runtimes): applying a learnt phase map goes
through the configuration's owner (stored, checked whole, swapped in), a press with
nothing learnt is refused and changes nothing. How the steps are learnt is
test_detect's; here the detector is told its votes directly (a unit test of the app)."""
import json

from dualtest import fresh_board, raises
from dynevse import app as app_module
from dynevse.app import App
from dynevse.config.check import check
from dynevse.config.schema import ConfigError

RAW = {
    "site": {"phases": 3, "breaker_a": 25},
    "chargers": [{"id": "cp1", "phases": 1, "phase_map": "A"}, {"id": "cp2"}],
}


def command(a, target, key):
    """``a.on_command`` without the app's unloading of the configuration's modules after
    it: the other tests in this process hold their classes (ConfigError)."""
    forget = app_module.forget
    app_module.forget = lambda names: None
    try:
        a.on_command(target, key, None)
    finally:
        app_module.forget = forget


def app():
    b = fresh_board("app-detect", RAW)
    a = App(b, check(json.loads(b.read_text(b.config_path))), None, None, None)
    # the detector has seen both chargers once (their states exist)
    a.detector.observe(0, [], 0, [("cp1", "A", [0], 0), ("cp2", "ABC", [0, 0, 0], 0)])
    return b, a


def test_a_learnt_phase_map_is_applied_through_the_configuration():
    b, a = app()
    a.detector.chargers["cp1"].votes[0] = [1, 1, 1]     # three steps showed cp1's L1 on B
    assert a.detector.found(a.cfg["chargers"]) == ([("cp1", "B", "A")], "")
    command(a, "cp1", "apply_phase_map")
    assert json.loads(b.read_text(b.config_path))["chargers"][0]["phase_map"] == "B"
    assert a.cfg["chargers"][0]["phase_map"] == "B"
    # the next cycle's view of cp1 is under its new map: learnt again from nothing
    a.detector.observe(1, [], 1, [("cp1", "B", [0], 1), ("cp2", "ABC", [0, 0, 0], 1)])
    assert a.detector.learnt_map("cp1") is None


def test_a_three_phase_chargers_map_is_swapped_whole():
    b, a = app()
    # cp2's L1 (configured A) was seen on C: L1 takes C, L3 (which had C) takes A
    a.detector.chargers["cp2"].votes[0] = [2, 2, 2]
    command(a, "cp2", "apply_phase_map")
    assert json.loads(b.read_text(b.config_path))["chargers"][1]["phase_map"] == "CBA"


def test_nothing_learnt_is_refused_and_nothing_changes():
    b, a = app()
    before = b.read_text(b.config_path)
    e = raises(ConfigError, command, a, "cp1", "apply_phase_map")
    assert e.field == "chargers[cp1].phase_map" and "nothing to apply" in e.message
    # the grid-sign button without a finding (and without MQTT inputs at all)
    e = raises(ConfigError, command, a, "site", "invert_grid")
    assert e.field == "mqtt.inputs" and "no grid input has been seen inverted" in e.message
    assert b.read_text(b.config_path) == before
