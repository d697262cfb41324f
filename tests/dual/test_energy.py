"""The chargers' energy totals (dynevse.energy): a total that never goes backwards when a
charger's register resets or the board reboots, the session's energy, few flash writes.
Runs under pytest and MicroPython.
"""
import json

from dynevse.energy import Energy

PATH = "/state/energy.json"


class Board:
    """The HAL's file part, in memory; ``fail`` makes writes raise."""

    def __init__(self, files=None):
        self.files = files if files is not None else {}
        self.config_path = "/state/config.json"
        self.fail = False

    def read_text(self, path):
        return self.files.get(path)

    def write_atomic(self, path, text):
        if self.fail:
            raise OSError(28, "no space")
        self.files[path] = text


def feed(e, cid, values, t0=0, tx=None, start=None):
    """Readings ``values`` (Wh), one per arrival time; the totals returned."""
    out = []
    for i in range(len(values)):
        out.append(e.update(cid, (values[i], t0 + i), tx, start)[0])
    return out


def test_unknown_until_the_first_reading_then_the_register():
    e = Energy(Board(), ["cp1"])
    assert e.path == PATH           # beside config.json
    assert e.update("cp1", None) == (None, None)
    assert feed(e, "cp1", [1000, 1500]) == [1000, 1500]
    assert e.update("nobody", (5, 1)) == (None, None)


def test_a_register_reset_never_makes_the_total_go_backwards():
    e = Energy(Board(), ["cp1"])
    # 1500 Wh counted, then the charger reboots and counts from 0: the 1500 carry on
    assert feed(e, "cp1", [1000, 1500, 0, 200, 700]) == [1000, 1500, 1500, 1700, 2200]
    # a second reset adds what the register had counted since the first (700)
    assert feed(e, "cp1", [30], t0=10) == [2230]


def test_small_drops_are_noise_and_held_the_same_reading_counts_once():
    e = Energy(Board(), ["cp1"])
    # 1490 after 1500 is within the 20 Wh noise: held at 1500, not a reset (which would
    # add 1500 to the offset)
    assert feed(e, "cp1", [1500, 1490, 1510]) == [1500, 1500, 1510]
    # the same reading (same arrival time) again changes nothing
    assert e.update("cp1", (1510, 2))[0] == 1510


def test_the_total_survives_a_reboot_of_the_board():
    b = Board()
    e = Energy(b, ["cp1"])
    feed(e, "cp1", [1000, 1500, 0, 400])      # total 1900: offset 1500 + 400
    # the board reboots: until the charger's first reading the total is unknown
    e = Energy(b, ["cp1"])
    assert e.update("cp1", None) == (None, None)
    # the register went on to 450 meanwhile: 1500 + 450
    assert feed(e, "cp1", [450], t0=100) == [1950]


def test_a_register_reset_while_the_board_was_off_does_not_go_backwards():
    b = Board()
    e = Energy(b, ["cp1"])
    published = feed(e, "cp1", [1000, 1400, 1900, 1990])
    # the file may be up to 1000 Wh behind (written rarely); the board reboots, and the
    # charger too: its register says 50. The total must not fall below anything
    # published before (1990): the offset grows by the file's value plus that 1000 Wh
    e = Energy(b, ["cp1"])
    t = feed(e, "cp1", [50, 80], t0=100)
    assert t[0] >= max(published), (t, published)
    assert t[1] == t[0] + 30


def test_the_session_energy_counts_from_meter_start_and_stays_after_the_end():
    e = Energy(Board(), ["cp1"])
    assert e.update("cp1", (5000, 1), 7, 5000) == (5000, 0)
    assert e.update("cp1", (7500, 2), 7, 5000) == (7500, 2500)
    # the transaction ended: the session's 2500 Wh stay shown
    assert e.update("cp1", (7500, 3), None, None) == (7500, 2500)
    assert e.update("cp1", (7600, 4), None, None) == (7600, 2500)
    # a new one starts at its meterStart
    assert e.update("cp1", (7600, 5), 8, 7600) == (7600, 0)
    # a register reset during the session: the session keeps counting on
    assert e.update("cp1", (8100, 6), 8, 7600) == (8100, 500)
    assert e.update("cp1", (100, 7), 8, 7600) == (8200, 600)


def test_writes_are_rare():
    b = Board()
    e = Energy(b, ["cp1"])
    # 0..2000 Wh in 10 Wh steps: the file is written at the first reading and each time
    # the register is 1000 Wh past the file (at 1000 and 2000): 3 writes, not 201
    feed(e, "cp1", list(range(0, 2001, 10)))
    assert e.writes == 3, e.writes
    assert json.loads(b.files[PATH])["cp1"][1] == 2000
    # a reset is written at once (the offset must not be lost)
    feed(e, "cp1", [0], t0=1000)
    assert e.writes == 4


def test_a_damaged_file_starts_again_from_the_registers():
    for text in ("{not json", "[1, 2]", json.dumps({"cp1": [-5, 1, None, None, None]}),
                 json.dumps({"cp1": "x"})):
        b = Board({PATH: text})
        e = Energy(b, ["cp1", "cp2"])
        assert feed(e, "cp1", [300]) == [300], text
        assert feed(e, "cp2", [40]) == [40]
    # a good entry of another charger is kept while a damaged one is dropped
    good = json.dumps({"cp1": [100, 500, None, None, None], "cp2": ["bad"]})
    e = Energy(Board({PATH: good}), ["cp1", "cp2"])
    assert feed(e, "cp1", [600]) == [700]
    assert feed(e, "cp2", [40]) == [40]


def test_a_failed_write_changes_nothing_and_is_tried_again():
    b = Board()
    b.fail = True
    e = Energy(b, ["cp1"])
    assert feed(e, "cp1", [1000, 0]) == [1000, 1000]     # counted on in memory
    assert e.writes == 0 and PATH not in b.files
    b.fail = False
    feed(e, "cp1", [10], t0=10)
    assert e.writes == 1 and json.loads(b.files[PATH])["cp1"][0] == 1000
