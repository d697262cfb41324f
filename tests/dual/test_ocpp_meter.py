"""MeterValues into per-phase current, offered current, power, energy and SoC.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
from dualtest import close
from dynevse.ocpp.central import read_meter_values

TS = "2024-05-01T12:00:00Z"


def sv(value, measurand=None, phase=None, unit=None, **kw):
    s = {"value": value}
    if measurand:
        s["measurand"] = measurand
    if phase:
        s["phase"] = phase
    if unit:
        s["unit"] = unit
    s.update(kw)
    return s


def read(samples, phases=3, entries=None):
    mv = entries if entries is not None else [{"timestamp": TS, "sampledValue": samples}]
    return read_meter_values(mv, phases)


def test_per_phase_current_in_both_phase_spellings():
    r, ignored = read([sv("16.1", "Current.Import", "L1", "A"), sv("15.9", "Current.Import", "L2-N", "A"),
                       sv("7", "Current.Import", "L3")])
    assert r["current_a"] == [16.1, 15.9, 7.0] and ignored == 0


def test_current_without_phase_counts_for_each_phase_of_the_charger():
    r, _ = read([sv("10.5", "Current.Import", unit="A")], phases=3)
    assert r["current_a"] == [10.5, 10.5, 10.5]
    r, _ = read([sv("10.5", "Current.Import")], phases=1)
    assert r["current_a"] == [10.5, None, None]
    # with phase values too, the phase values win
    r, _ = read([sv("30", "Current.Import"), sv("9", "Current.Import", "L1")], phases=3)
    assert r["current_a"] == [9.0, None, None]


def test_neutral_and_line_to_line_are_not_phase_currents():
    r, _ = read([sv("3", "Current.Import", "N"), sv("400", "Voltage", "L1-L2", "V"),
                 sv("8", "Current.Import", "L2")])
    assert r["current_a"] == [None, 8.0, None]


def test_offered_power_energy_soc_and_their_units():
    r, ignored = read([sv("16", "Current.Offered", unit="A"), sv("11.04", "Power.Active.Import", unit="kW"),
                       sv("12.5", "Energy.Active.Import.Register", unit="kWh"), sv("57", "SoC", unit="Percent",
                                                                                location="EV")])
    assert close(r["offered_a"], 16) and close(r["power_w"], 11040) and close(r["energy_wh"], 12500)
    assert r["soc_pct"] == 57 and ignored == 0
    r, _ = read([sv("3680", "Power.Active.Import", unit="W"), sv("900", "Energy.Active.Import.Register", unit="Wh")])
    assert close(r["power_w"], 3680) and close(r["energy_wh"], 900)


def test_measurand_defaults_to_the_energy_register_in_wh():
    # OCPP 1.6: measurand defaults to Energy.Active.Import.Register, unit to Wh
    r, _ = read([sv("1234")])
    assert close(r["energy_wh"], 1234)


def test_power_and_energy_by_phase_are_summed():
    r, _ = read([sv("1000", "Power.Active.Import", "L1", "W"), sv("1.5", "Power.Active.Import", "L2", "kW"),
                 sv("500", "Power.Active.Import", "L3", "W")])
    assert close(r["power_w"], 3000)
    # a total beside the phases is the value
    r, _ = read([sv("1000", "Power.Active.Import", "L1", "W"), sv("2900", "Power.Active.Import", unit="W")])
    assert close(r["power_w"], 2900)


def test_unusable_values_are_ignored_and_counted():
    r, ignored = read([sv("abc", "Current.Import", "L1"), sv("nan", "Current.Import", "L2"),
                       sv("16", "Current.Import", "L3", "kW"), sv("120", "SoC"),
                       sv("5", "Current.Import", "L1", format="SignedData")])
    # bad number, not finite, wrong unit for a current, SoC over 100, signed data
    assert ignored == 5 and "current_a" not in r and "soc_pct" not in r
    # measurands the controller does not use are skipped, not counted
    r, ignored = read([sv("230", "Voltage", "L1", "V"), sv("50", "Frequency")])
    assert r == {} and ignored == 0


def test_latest_entry_wins_and_work_is_bounded():
    entries = [{"timestamp": TS, "sampledValue": [sv(str(i), "Current.Offered")]} for i in range(20)]
    r, _ = read(None, entries=entries)
    assert r["offered_a"] == 19.0
    many = [sv("1", "Current.Import", "L1")] * 60 + [sv("32", "Current.Offered")]
    r, ignored = read(many)
    # only the first 48 samples of an entry are read: the offered current at #61 is not
    assert "offered_a" not in r and ignored == 13
