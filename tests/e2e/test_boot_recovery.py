"""Boots that must not crash-loop (issue 10): a damaged or stale checked copy, a config.json
cut short, the file state a power cut between a save's steps leaves, and an exception in
start. Each boot ends in the previous good configuration or in the safe state, says
which, and the firmware keeps running (on a board an exception out of main.py would let
the watchdog reset it, again and again).

The firmware runs under the MicroPython unix port on a state directory (its filesystem).
"""
import json
import os
import shutil
import tempfile
import time

import pytest

from harness import (boot, checked_copy, checked_key, ensure_built, read, saved, wait_line, write,
                     write_checked_copy)
from host_tools.broker import free_port, start_broker
from mqtt_harness import Probe


def good(port=None, **site):
    s = {"phases": 3, "breaker_a": 25}
    s.update(site)
    return {"device": {"id": "rec"}, "web": {"port": port or free_port()}, "control": {"cycle_s": 1},
            "site": s, "chargers": [{"id": "cp1"}]}


@pytest.fixture
def state():
    ensure_built()
    d = tempfile.mkdtemp(prefix="dynevse-rec-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def stays_up(fw, seconds=2.0):
    time.sleep(seconds)
    assert fw.alive(), "\n".join(list(fw.lines)[-20:])


def first_boot(state, cfg):
    """Boot once on ``cfg`` so that the checked copy exists; returns config.json's text."""
    fw = boot(state, cfg)
    fw.stop()
    assert os.path.exists(os.path.join(state, "config.json.checked"))
    return read(state).decode()


def test_a_damaged_checked_copy_is_checked_again(state):
    text = first_boot(state, good())
    # cut short, and (key intact) one setting changed on the flash: neither reads back
    whole = read(state, "config.json.checked")
    for damaged in (whole[:len(whole) // 2], whole.replace(b'"breaker_a": 25', b'"breaker_a": 45')):
        assert damaged != whole and damaged.startswith(checked_key(text).encode())
        write(state, "config.json.checked", damaged)
        fw = boot(state)
        try:
            wait_line(fw, "configuration checked; restarting")     # checked config.json again
            assert fw.restarts == 1
            assert checked_copy(state)[1]["site"]["breaker_a"] == 25
        finally:
            fw.stop()


def test_a_stale_checked_copy_is_not_used(state):
    # the checked copy of another configuration (a 40 A breaker) under another key: the
    # boot must take config.json (25 A), not the copy
    text = first_boot(state, good(breaker_a=25))
    _key, cfg = checked_copy(state)
    cfg["site"]["breaker_a"] = 40
    write_checked_copy(state, "older-build:00000000", cfg)
    fw = boot(state)
    try:
        wait_line(fw, "configuration checked; restarting")
        key, cfg = checked_copy(state)
        assert key == checked_key(text) and cfg["site"]["breaker_a"] == 25
    finally:
        fw.stop()


def test_a_checked_copy_that_does_not_work_is_dropped(state):
    # a whole, well-keyed copy that lacks a setting the parts need (as one written by a
    # build that had no such setting would): starting from it fails, the copy is dropped
    # and config.json is checked again in the same boot, without a restart
    text = first_boot(state, good())
    _key, cfg = checked_copy(state)
    del cfg["chargers"][0]["rate_unit"]
    write_checked_copy(state, checked_key(text), cfg)
    fw = boot(state, cycles=3)
    try:
        wait_line(fw, "the checked configuration did not work")
        assert fw.restarts == 0
    finally:
        fw.stop()
    assert not os.path.exists(os.path.join(state, "config.json.checked"))
    fw = boot(state)         # the boot after that stores a good copy again
    try:
        wait_line(fw, "configuration checked; restarting")
    finally:
        fw.stop()


def test_config_cut_short_without_a_backup_is_the_safe_state(state):
    write(state, "config.json", json.dumps(good())[:40])
    fw = boot(state, cycles=0)
    try:
        line = wait_line(fw, "safe state, no charger is controlled")
        assert "not valid JSON" in line
        stays_up(fw)
    finally:
        fw.stop()


def test_config_cut_short_takes_the_previous_one(state):
    write(state, "config.json.bak", json.dumps(good(breaker_a=32)))
    write(state, "config.json", json.dumps(good(breaker_a=40))[:50])
    fw = boot(state)
    try:
        wait_line(fw, "config.json was not valid JSON; using config.json.bak")
        assert saved(state)["site"]["breaker_a"] == 32      # put back as config.json
    finally:
        fw.stop()


def test_cut_between_a_saves_write_and_rename(state):
    # what the save before this one could leave: no config.json, the complete new file as
    # .tmp, the one before as .bak; the newest complete one wins
    write(state, "config.json.tmp", json.dumps(good(breaker_a=35)))
    write(state, "config.json.bak", json.dumps(good(breaker_a=32)))
    fw = boot(state)
    try:
        wait_line(fw, "config.json was missing; using config.json.tmp")
        assert saved(state)["site"]["breaker_a"] == 35
    finally:
        fw.stop()


def test_an_exception_in_start_is_the_safe_state_and_published(state):
    broker = start_broker()
    probe = Probe(broker)
    try:
        cfg = good()
        cfg["mqtt"] = {"host": "127.0.0.1", "port": broker.port}
        fw = boot(state, cfg)            # a good first boot: the checked copy is stored
        fw.stop()
        # a fault while the parts are built (as a bug would raise one)
        inject = ("import dynevse.core.regulate as _r\n"
                  "def _boom(*a, **k):\n    raise RuntimeError('injected fault')\n"
                  "_r.Regulator.__init__ = _boom\n")
        fw = boot(state, prelude=inject, cycles=0)
        try:
            line = wait_line(fw, "safe state, no charger is controlled")
            assert "RuntimeError: injected fault" in line
            _, p, _ = probe.wait_for(lambda m: m[0] == "dynevse/rec/diagnostics"
                                     and b"injected fault" in m[1], what="the reason on diagnostics")
            assert json.loads(p)["safe_state"].startswith("safe state: starting failed")
            _, p, _ = probe.wait_for(lambda m: m[0] == "dynevse/rec/site/state" and b"safe state" in m[1],
                                     what="the reason as the hub's status")
            assert json.loads(p)["warnings"] == ["safe_state"]
            stays_up(fw)
        finally:
            fw.stop()
    finally:
        probe.close()
        broker.stop()
