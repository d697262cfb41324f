"""Site readings from CT clamps and MQTT, with ages (both runtimes)."""
from dynevse.meter import site_readings


def test_mqtt_grid_and_ages_in_seconds():
    mqtt = {"grid_a": [5.0, 6.0, None], "solar_w": 1200, "battery_soc": None,
            "age_ms": {"grid_a": 2500, "solar_w": 40000}}
    r, ages = site_readings("mqtt", [9, 9, 9], 0, mqtt)
    # the CT is not the grid source here: MQTT's grid goes through, partial list kept
    assert r == {"grid_a": [5.0, 6.0, None], "solar_w": 1200}
    assert ages == {"grid_a": 2.5, "solar_w": 40.0}


def test_ct_source_ignores_mqtt_grid():
    mqtt = {"grid_a": [5.0, 6.0, 7.0], "grid_total_w": 4000, "solar_w": 0, "age_ms": {}}
    r, ages = site_readings("ct", [1.5, 2.5, 3.5], 1.0, mqtt)
    assert r == {"grid_a": [1.5, 2.5, 3.5], "solar_w": 0}
    assert ages == {"grid_a": 1.0}


def test_no_source():
    r, ages = site_readings("none", None, None, {"grid_a": [1, 2, 3], "age_ms": {}})
    assert r == {} and ages == {}
    # a list with only unknowns is no reading at all
    r, ages = site_readings("mqtt", None, None, {"grid_a": [None, None, None]})
    assert r == {} and ages == {}


def test_per_phase_ages_count_the_oldest_phase():
    # The MQTT inputs give a grid age per phase; the reading is as stale as its oldest phase.
    mqtt = {"grid_a": [5.0, 6.0, 7.0], "age_ms": {"grid_a": [1000, 16000, None]}}
    r, ages = site_readings("mqtt", None, None, mqtt)
    assert ages == {"grid_a": 16.0}


def test_inverter_readings_pass_on_whatever_the_grid_source():
    # An off-grid site has no grid source; the inverter's output still reaches the engine,
    # per phase as old as its oldest phase.
    mqtt = {"inverter_w": 3000, "inverter_phase_w": [1000, 1200, 800],
            "age_ms": {"inverter_w": 2000, "inverter_phase_w": [2000, 3000, 1000]}}
    r, ages = site_readings("none", None, None, mqtt)
    assert r == {"inverter_w": 3000, "inverter_phase_w": [1000, 1200, 800]}
    assert ages == {"inverter_w": 2.0, "inverter_phase_w": 3.0}
