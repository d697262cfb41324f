"""Each charger's energy, as Home Assistant's Energy dashboard needs it: a total that
never goes backwards, and the energy of the session (transaction).

Both come from the charger's own register (OCPP Energy.Active.Import.Register, and the
meterStart of StartTransaction, which is the same register). A register can start again
from 0: a charger that counts since its own boot, a replaced meter, a charger that counts
per session. A reading lower than the last one by more than ``_NOISE_WH`` is such a
reset: what the register had counted goes into an offset, and the total is
offset + register. A smaller drop is noise and held (the total stays).

The board keeps what it needs across its own reboot in one small file (``energy.json``
beside config.json, through the HAL's ``read_text``/``write_atomic``), written rarely for
the flash's sake (docs/decisions.md, "Energy totals"):

- at once when the offset changes (a reset), when a session starts or ends, and at the
  first reading of a charger never seen before;
- otherwise whenever the register has gone ``_AHEAD_WH`` past the value in the file.

So after a reboot the register can have counted less than ``_AHEAD_WH`` more than the
file says. A first reading below the file's value means the register reset while the
board was off: the offset then grows by the file's value plus ``_AHEAD_WH``, the most it
can have counted, so the total can't fall below anything published before (at worst it
counts up to ``_AHEAD_WH`` that was never delivered, once). Until a charger's first
reading after a boot its total is unknown (None), never the file's older value.
"""
import json

from dynevse import log
from dynevse.compat import const, is_number

_AHEAD_WH = const(1000)   # the register may run this far past the file unwritten
_NOISE_WH = const(20)     # a drop up to this is noise, not a reset
_MAX_CHARGERS = const(16)

# a charger's entry: the first five are what the file keeps
_OFFSET = const(0)     # Wh counted by the register before its resets
_SAVED = const(1)      # the register as the file has it (None: never written)
_TX = const(2)         # the transaction of the session counted (None: none yet)
_START = const(3)      # total at the session's start, Wh (None: unknown)
_ENDED = const(4)      # the session's energy once it ended, Wh (None: running or unknown)
_LAST = const(5)       # the register's last reading since boot (None: none yet)
_SEEN = const(6)       # arrival time (ms) of the last reading taken


def _entry(v):
    """A checked entry from the file, or None."""
    if not isinstance(v, list) or len(v) != 5:
        return None
    for x in v:
        if x is not None and not (is_number(x) and x >= 0):
            return None
    if v[_OFFSET] is None:
        return None
    return v + [None, None]


class Energy:
    """The energy totals of the chargers ``ids``, kept in ``path`` (default: energy.json
    beside the board's config.json)."""

    def __init__(self, board, ids, path=None):
        self.board = board
        if path is None:
            p = board.config_path
            path = p[:p.rfind("/") + 1] + "energy.json"
        self.path = path
        self.writes = 0
        self._dirty = False
        self._failed = False
        self._ch = {}
        data = None
        try:
            text = board.read_text(path)
            data = json.loads(text) if text else {}
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except Exception as e:
            log.warning("%s unreadable (%s): energy totals start again from the chargers' registers", path, e)
            data = {}
        for cid in ids[:_MAX_CHARGERS]:
            e = _entry(data.get(cid))
            if e is None and cid in data:
                log.warning("%s: the entry of %s is damaged; its total starts again", path, cid)
            self._ch[cid] = e or [0, None, None, None, None, None, None]

    def update(self, cid, reading, tx=None, meter_start_wh=None):
        """Take a charger's latest register reading (``(Wh, arrived_ms)`` or None), its
        running transaction (None: none) and that transaction's meterStart (Wh or None);
        returns (total Wh, session Wh), each None while unknown. Writes the file when the
        policy says so."""
        c = self._ch.get(cid)
        if c is None:
            return None, None
        if tx is not None and tx != c[_TX]:
            # a new session; its meterStart is a register reading of its own
            c[_TX] = tx
            c[_ENDED] = None
            c[_START] = None
            if is_number(meter_start_wh) and meter_start_wh >= 0:
                self._take(c, meter_start_wh)
                c[_START] = c[_OFFSET] + meter_start_wh
            self._dirty = True
        if reading is not None and reading[1] != c[_SEEN] and is_number(reading[0]) and reading[0] >= 0:
            c[_SEEN] = reading[1]
            self._take(c, reading[0])
        total = None if c[_LAST] is None else c[_OFFSET] + c[_LAST]
        if tx is None and c[_TX] is not None and c[_ENDED] is None and c[_START] is not None \
                and total is not None:
            c[_ENDED] = max(0, total - c[_START])     # the session is over: its energy stays
            self._dirty = True
        if c[_LAST] is not None and (c[_SAVED] is None or c[_LAST] >= c[_SAVED] + _AHEAD_WH):
            self._dirty = True
        if self._dirty:
            self.save()
        session = c[_ENDED]
        if session is None and c[_START] is not None and total is not None and tx == c[_TX]:
            session = max(0, total - c[_START])
        return total, session

    def _take(self, c, wh):
        last = c[_LAST]
        if last is None:
            # the first reading since boot, against the file's value
            saved = c[_SAVED]
            if saved is not None and wh < saved - _NOISE_WH:
                c[_OFFSET] += saved + _AHEAD_WH
                self._dirty = True
                log.info("a charger's energy register reset while the board was off (%d Wh, was %d Wh)",
                         wh, saved)
            elif saved is not None and wh < saved:
                wh = saved
            c[_LAST] = wh
        elif wh < last - _NOISE_WH:
            c[_OFFSET] += last
            c[_LAST] = wh
            self._dirty = True
        elif wh > last:
            c[_LAST] = wh

    def save(self):
        """Write the file now (atomically); a failure is logged and tried again on the
        next update."""
        out = {}
        for cid in self._ch:
            c = self._ch[cid]
            if c[_LAST] is not None:
                c[_SAVED] = c[_LAST]
            out[cid] = c[:5]
        try:
            self.board.write_atomic(self.path, json.dumps(out))
            self.writes += 1
            self._dirty = False
            self._failed = False
        except Exception as e:
            if not self._failed:    # said once, not every cycle until it works again
                log.error("%s: writing the energy totals failed: %s", self.path, e)
            self._failed = True
