"""MeterValues into the readings the controller uses.

``read_meter_values`` takes the (already checked) ``meterValue`` list of a MeterValues.req
and returns what it says about the charger, each in one unit:

- ``current_a``: [L1, L2, L3] in A from Current.Import (phase L1 or L1-N, ...). A value
  without a phase is the current of each of the charger's phases (a 1-phase charger:
  [x, None, None]). Phases not reported are None.
- ``offered_a``: Current.Offered in A (without a phase; else the highest phase)
- ``power_w``: Power.Active.Import in W (W or kW; without a phase, else the sum of phases)
- ``energy_wh``: Energy.Active.Import.Register in Wh (Wh or kWh; the measurand a sampled
  value without one has, by the spec)
- ``soc_pct``: SoC in %

Keys a message does not carry are absent. Only the last few entries and the first
samples of each are read, so a huge message costs bounded work.
"""
from dynevse.compat import const

_MAX_ENTRIES = const(4)      # meterValue entries read (the latest)
_MAX_SAMPLES = const(48)     # sampledValue entries read per entry: 3 phases x 16 measurands

_PHASE_INDEX = {"L1": 0, "L1-N": 0, "L2": 1, "L2-N": 1, "L3": 2, "L3-N": 2}
_ENERGY = "Energy.Active.Import.Register"
# unit -> factor to the reading's unit; None (unit absent) is the measurand's usual unit
_A_UNITS = {None: 1, "A": 1}
_W_UNITS = {None: 1, "W": 1, "kW": 1000}
_WH_UNITS = {None: 1, "Wh": 1, "kWh": 1000}
_PCT_UNITS = {None: 1, "Percent": 1}


def _number(text):
    try:
        v = float(text)
    except (ValueError, TypeError):
        return None
    return v if v - v == 0 else None   # nan and inf are not readings


def read_meter_values(meter_values, phases):
    """Readings in ``meter_values`` for a charger wired with ``phases`` (1 or 3).

    Returns ``(readings, ignored)``: a dict as described in the module docstring and the
    number of sampled values that could not be used (unknown unit, not a number...).
    """
    out = {}
    ignored = 0
    start = len(meter_values) - _MAX_ENTRIES
    for entry in meter_values[start if start > 0 else 0:]:
        # one entry is one instant: its phase values are summed or combined together
        phase_a = [None, None, None]
        sums = {}        # measurand -> [unphased value, sum over phases, highest phase]
        samples = entry["sampledValue"]
        for n in range(len(samples)):
            if n >= _MAX_SAMPLES:
                ignored += len(samples) - n
                break
            sv = samples[n]
            if sv.get("format") == "SignedData":
                ignored += 1
                continue
            measurand = sv.get("measurand") or _ENERGY
            unit = sv.get("unit")
            if measurand == "Current.Import" or measurand == "Current.Offered":
                factor = _A_UNITS.get(unit)
            elif measurand == "Power.Active.Import":
                factor = _W_UNITS.get(unit)
            elif measurand == _ENERGY:
                factor = _WH_UNITS.get(unit)
            elif measurand == "SoC":
                factor = _PCT_UNITS.get(unit)
            else:
                continue   # a measurand the controller does not use
            v = _number(sv["value"])
            if factor is None or v is None:
                ignored += 1
                continue
            v *= factor
            phase = sv.get("phase")
            if phase is None:
                idx = -1
            else:
                idx = _PHASE_INDEX.get(phase)
                if idx is None:
                    continue    # N or line-to-line: not a phase current or power
            if measurand == "Current.Import" and idx >= 0:
                phase_a[idx] = v
                continue
            acc = sums.get(measurand)
            if acc is None:
                acc = sums[measurand] = [None, 0.0, None]
            if idx < 0:
                acc[0] = v
            else:
                acc[1] += v
                acc[2] = v if acc[2] is None or v > acc[2] else acc[2]
        if phase_a[0] is not None or phase_a[1] is not None or phase_a[2] is not None:
            out["current_a"] = phase_a
        else:
            acc = sums.get("Current.Import")
            if acc is not None:
                out["current_a"] = [acc[0], acc[0] if phases == 3 else None,
                                    acc[0] if phases == 3 else None]
        acc = sums.get("Current.Offered")
        if acc is not None:
            out["offered_a"] = acc[0] if acc[0] is not None else acc[2]
        acc = sums.get("Power.Active.Import")
        if acc is not None:
            out["power_w"] = acc[0] if acc[0] is not None else acc[1]
        acc = sums.get(_ENERGY)
        if acc is not None:
            out["energy_wh"] = acc[0] if acc[0] is not None else acc[1]
        acc = sums.get("SoC")
        if acc is not None:
            soc = acc[0] if acc[0] is not None else acc[2]
            if 0 <= soc <= 100:
                out["soc_pct"] = soc
            else:
                ignored += 1
    return out, ignored
