"""Site data in: numbers from plain or JSON payloads, units, sign, timestamps, bad payloads.

Runs under pytest and MicroPython. A fake clock stands in for ticks_ms.
"""
from dynevse.config import check as C
from dynevse.mqtt import counters
from dynevse.mqtt.inputs import Inputs, parse_number

METER = b'{"ENERGY":{"Current":[1.5,2.5,3.5],"Power":"1234.5","On":true},"Time":"x"}'


def test_plain_numbers():
    for payload, want in ((b"12.5", 12.5), (b" 7 ", 7), (b"-3", -3), (b"1e3", 1000),
                          (b'"12"', 12)):
        assert parse_number(payload) == want, payload


def test_not_numbers():
    for payload in (b"", b"abc", b"12abc", b"nan", b"inf", b"-inf", b"1e400", b"true",
                    b"null", b"[1]", b'{"a":1}', b"\xff\xfe", b'"x"'):
        assert parse_number(payload) is None, payload


def test_json_paths():
    assert parse_number(METER, "ENERGY.Current.1") == 2.5
    assert parse_number(METER, "ENERGY.Power") == 1234.5          # a number sent as text
    for path in ("ENERGY.Current.3", "ENERGY.Voltage", "ENERGY.On", "Time", "ENERGY.Current",
                 "ENERGY.Current.x", "ENERGY.Current.-1", "Time.0"):
        assert parse_number(METER, path) is None, path
    assert parse_number(b"not json", "a") is None
    assert parse_number(b"12", "a") is None


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


def make(inputs, clock):
    return Inputs(C.check_mqtt({"inputs": inputs}, "b")["inputs"], clock)


def test_units_sign_and_timestamps():
    clock = Clock()
    inp = make({
        "grid_l1": {"topic": "meter", "field": "ENERGY.Current.0"},
        "grid_l3": {"topic": "meter", "field": "ENERGY.Current.2", "invert": True},
        "solar": {"topic": "pv", "unit": "kW"},
        "battery_power": {"topic": "bat/p", "invert": True},
        "battery_soc": {"topic": "bat/soc"},
    }, clock)
    # one entry per configured quantity, its topic first (what the link subscribes to)
    assert sorted(set(inp._rows[::8])) == ["bat/p", "bat/soc", "meter", "pv"] and len(inp._rows) == 5 * 8
    assert inp.handle("meter", METER) and inp.handle("pv", b"2.5")
    clock.t = 1500
    # an inverter reporting discharge as + becomes - (our battery sign: + charging)
    assert inp.handle("bat/p", b"800")
    assert not inp.handle("other/topic", b"1")
    clock.t = 2000
    r = inp.readings()
    # grid_l2 is not configured: its slot is None; grid_l3 inverted: -3.5
    assert r["grid_a"] == [1.5, None, -3.5]
    assert r["solar_w"] == 2500            # 2.5 kW
    assert r["battery_w"] == -800
    assert r["battery_soc"] is None and "voltage" not in r and "grid_w" not in r
    assert r["at_ms"]["grid_a"] == [1000, None, 1000] and r["at_ms"]["battery_w"] == 1500
    assert r["age_ms"]["solar_w"] == 1000 and r["age_ms"]["battery_w"] == 500
    assert r["age_ms"]["battery_soc"] is None
    assert inp.readings(4000)["age_ms"]["grid_a"][0] == 3000


def test_inverter_output_total_and_per_phase():
    # The inverter's AC output: a total in kW, and two of its three phases in W from one JSON
    # payload; the third phase is not configured and stays None.
    clock = Clock()
    inp = make({"inverter": {"topic": "inv", "field": "ac", "unit": "kW"},
                "inverter_l1": {"topic": "inv", "field": "l.0"},
                "inverter_l3": {"topic": "inv", "field": "l.2"}}, clock)
    assert inp.handle("inv", b'{"ac": 4.2, "l": [1500, 9, 1300]}')
    r = inp.readings()
    assert r["inverter_w"] == 4200 and r["inverter_phase_w"] == [1500, None, 1300]


def test_a_flipped_invert_is_taken_at_once_with_the_value_held():
    # the grid-sign button flips grid_l1's invert (kW: factor 1000); the value held turns
    # with it (-2.5 kW read as +2.5 kW) and keeps its time; the next message is read the
    # new way; grid_l2, unchanged, stays as it was
    clock = Clock()
    inp = make({"grid_l1": {"topic": "m1", "unit": "kW"}, "grid_l2": {"topic": "m2"}}, clock)
    inp.handle("m1", b"-2.5")
    inp.handle("m2", b"4")
    flipped = C.check_mqtt({"inputs": {"grid_l1": {"topic": "m1", "unit": "kW", "invert": True},
                                       "grid_l2": {"topic": "m2"}}}, "b")["inputs"]
    assert inp.signs(flipped) is True
    r = inp.readings()
    assert r["grid_w"] == [2500] and r["grid_a"] == [None, 4] and r["at_ms"]["grid_w"] == [1000]
    inp.handle("m1", b"-1")
    assert inp.readings()["grid_w"] == [1000]
    assert inp.signs(flipped) is False          # nothing changed the second time


def test_grid_in_watts_goes_to_grid_w():
    inp = make({"grid_l2": {"topic": "p2", "unit": "kW"}, "grid_total": {"topic": "t", "unit": "kW"}},
               Clock())
    inp.handle("p2", b"-1.2")
    inp.handle("t", b"0.5")
    r = inp.readings()
    assert r["grid_w"] == [None, -1200] and "grid_a" not in r
    assert r["grid_total_w"] == 500


def test_bad_payload_is_counted_and_keeps_the_old_value_and_time():
    clock = Clock()
    inp = make({"solar": {"topic": "pv"}, "battery_soc": {"topic": "soc", "field": "soc"}}, clock)
    inp.handle("pv", b"1000")
    clock.t = 5000
    for junk in (b"offline", b"", b"nan", b"\x00\xff"):
        assert inp.handle("pv", junk)
    inp.handle("soc", b'{"voltage": 50}')
    r = inp.readings()
    # the last good value stays with its own (old) time, so it ages out as it should
    assert r["solar_w"] == 1000 and r["at_ms"]["solar_w"] == 1000 and r["age_ms"]["solar_w"] == 4000
    assert r["battery_soc"] is None
    c = counters.inputs_status(inp)
    assert c["input_bad"] == 5 and c["input_ok"] == 1
    assert c["input_bad_by_quantity"] == {"solar": 4, "battery_soc": 1}


def test_retained_values_are_not_taken_as_fresh():
    inp = make({"solar": {"topic": "pv"}}, Clock())
    assert inp.handle("pv", b"3000", True)
    assert inp.readings()["solar_w"] is None
    assert counters.inputs_status(inp)["input_retained_ignored"] == 1
    inp.handle("pv", b"3000", False)
    assert inp.readings()["solar_w"] == 3000


def test_a_grid_value_over_its_limit_is_flagged_as_an_overload():
    # watch(23 A, 230 V, 3 phases): per phase 23 A, in W 23 x 230 = 5290 W, the total
    # 3 x 5290 = 15870 W. Only grid values count; at the limit is not over it.
    clock = Clock()
    inp = make({"grid_l1": {"topic": "l1"}, "grid_l2": {"topic": "l2", "unit": "W"},
                "grid_total": {"topic": "tot", "unit": "kW"}, "solar": {"topic": "pv"},
                "grid_l3": {"topic": "l3", "invert": True}}, clock)
    assert inp.handle("l1", b"30") and not inp.over            # nothing watched yet
    inp.watch(23, 230, 3)
    for topic, payload in (("l1", b"23"), ("l2", b"5290"), ("tot", b"15.87"), ("pv", b"99999"),
                           ("l3", b"30"), ("l1", b"nan"), ("l1", b"-1e9")):
        assert inp.handle(topic, payload) and not inp.over, (topic, payload)
    for topic, payload in (("l1", b"23.1"), ("l2", b"5291"), ("tot", b"15.9"), ("l3", b"-23.5"),
                           ("l1", b"1e9")):
        inp.over = False
        assert inp.handle(topic, payload) and inp.over, (topic, payload)
    inp.over = False
    assert inp.handle("l1", b"30", retained=True) and not inp.over    # retained: ignored
