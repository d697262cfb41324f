"""The host tools from the command line, as a user runs them."""
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_config_new_validate_show(tmp_path):
    out = str(tmp_path / "config.json")
    r = tool("config", "new", "--out", out, "--charger", "cp1", "--charger", "cp2:6:32:3",
             "--set", "site.breaker_a=32", "--set", "mqtt.host=broker.lan",
             "--set", "mqtt.username=u", "--set", "mqtt.password=s3cret-pass")
    assert r.returncode == 0, r.stderr
    written = json.load(open(out))
    assert written["chargers"][1] == {"id": "cp2", "min_a": 6, "max_a": 32, "phases": 3}
    assert tool("config", "validate", out).returncode == 0
    shown = tool("config", "show", out)
    assert shown.returncode == 0
    assert "s3cret-pass" not in shown.stdout and "********" in shown.stdout
    assert 'site.breaker_a' in shown.stdout and "32" in shown.stdout
    # a second `new` does not overwrite without --force
    r = tool("config", "new", "--out", out, "--charger", "x")
    assert r.returncode == 1 and "FORCE=1" in r.stderr


def test_config_errors_name_the_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"site": {"breaker_a": 25}, "chargers": [{"id": "cp1", "min_a": 20, "max_a": 16}]}))
    r = tool("config", "validate", str(bad))
    assert r.returncode == 1 and "chargers[0].min_a" in r.stdout and "max_a (16 A)" in r.stdout
    bad.write_text("{not json")
    r = tool("config", "validate", str(bad))
    assert r.returncode == 1 and "not valid JSON" in r.stdout
    r = tool("config", "new", "--out", str(tmp_path / "n.json"), "--charger", "cp1:-5")
    assert r.returncode == 1 and "chargers[0].min_a" in r.stderr
    assert not (tmp_path / "n.json").exists()


def test_build_esp32_reports_sizes(tmp_path):
    out = str(tmp_path / "esp32")
    r = tool("build", "--board", "esp32-devkitc", "--out", out)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("build/esp32-devkitc:") and "bytes" in last
    files = set()
    for d, _dirs, names in os.walk(out):
        for n in names:
            files.add(os.path.relpath(os.path.join(d, n), out))
    # the board runs boot.py/main.py as source, everything else precompiled
    assert {"boot.py", "main.py", "board.json", "build_id.txt", "lib/dynevse/app.mpy",
            "lib/dynevse/core/engine.mpy", "lib/dynevse/ocpp/central.mpy"} <= files
    assert "lib/dynevse/hal/unix.mpy" not in files          # the ESP32 gets its own HAL only
    assert not [f for f in files if f.startswith("lib/") and f.endswith(".py")]
    total = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    assert str(total) in last


def test_romfs_image_runs_the_firmware_from_rom(tmp_path):
    """The measurement path of ``--code-in-rom``: the image mounts, the firmware imports from
    /rom and not from lib/, and bytecode run in place leaves less in the heap than .mpy files."""
    sys.path.insert(0, ROOT)
    from host_tools import build
    from host_tools.run import rom_prelude
    tree = str(tmp_path / "unix-sim")
    build.build("unix-sim", out=tree)
    image = build.romfs_image(tree)
    assert image == tree + ".romfs"
    measure = ("import gc\n"
               "gc.collect(); a = gc.mem_alloc()\n"
               "import dynevse.core.engine as e\n"
               "gc.collect(); print(e.__file__, gc.mem_alloc() - a)\n")
    mp = os.path.join(os.path.dirname(sys.executable), "micropython")
    outs = []
    for code in (rom_prelude(image) + measure, measure):
        r = subprocess.run([mp, "-c", code], cwd=tree, env=dict(os.environ, MICROPYPATH=".frozen:lib"),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        outs.append(r.stdout.splitlines())
    # the prelude says what the image holds in the heap: at least the image's own bytes
    said = outs[0].pop(0)
    assert said.startswith("romfs: the code image holds ")
    assert int(said.split()[5]) >= os.path.getsize(image)
    outs = [o[-1].split() for o in outs]
    assert outs[0][0] == "/rom/dynevse/core/engine.mpy"
    assert outs[1][0] == "lib/dynevse/core/engine.mpy"
    # in place, the bytecode and its string constants stay in the image
    assert int(outs[0][1]) < int(outs[1][1])


def test_unknown_board():
    r = tool("build", "--board", "esp8266-nope")
    assert r.returncode == 2 and "esp32-devkitc" in r.stderr


def test_flash_dry_run_commands(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text("{}")
    r = tool("flash", "--port", "/dev/ttyUSB7", "--board", "esp32-s3-devkitc", "--firmware", "fw.bin",
             "--config", str(cfg), "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("$ ")]
    # ESP32-S3 images go at 0x0 (the classic ESP32 at 0x1000), after an erase
    assert "esptool --chip esp32s3 --port /dev/ttyUSB7 erase-flash" in lines[0]
    assert "write-flash -z 0x0 fw.bin" in lines[1]
    assert any(":config.json" in l and str(cfg) in l for l in lines)
    assert lines[-1].endswith("mpremote connect /dev/ttyUSB7 reset")
    r = tool("deploy", "--port", "/dev/ttyUSB7", "--dry-run")
    assert r.returncode == 0 and "esptool" not in r.stdout


def _ports():
    """The connected serial ports as pyserial (and so `mpremote devs`) sees them."""
    from serial.tools import list_ports
    return sorted(p.device for p in list_ports.comports())


def test_flash_and_deploy_say_what_is_missing_before_touching_anything(tmp_path):
    r = tool("flash")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "usage:" not in r.stderr
    assert "PORT is missing: the serial port the board is connected on" in r.stderr
    assert all(p in r.stderr for p in _ports()) and "make flash PORT=<it> FIRMWARE=<image>" in r.stderr
    assert "PORT is missing" in tool("deploy").stderr
    r = tool("flash", "--port", "/dev/ttyUSB0")
    # what FIRMWARE is, where the board's image comes from and what its file is called
    assert r.returncode == 2 and "FIRMWARE is missing" in r.stderr
    assert "https://micropython.org/download/ESP32_GENERIC/" in r.stderr
    assert "ESP32_GENERIC-<date>-v1.29.0.bin" in r.stderr and "ESP32_GENERIC-SPIRAM-<date>-v1.29.0.bin" in r.stderr
    r = tool("flash", "--port", "/dev/ttyUSB0", "--board", "esp32-s3-devkitc")
    assert "https://micropython.org/download/ESP32_GENERIC_S3/" in r.stderr
    assert "ESP32_GENERIC_S3-<date>-v1.29.0.bin" in r.stderr
    # an image of another MicroPython version: its .mpy files would not load
    r = tool("flash", "--port", "/dev/ttyUSB0", "--firmware", "ESP32_GENERIC-20240602-v1.23.0.bin")
    assert r.returncode == 2 and "is MicroPython v1.23.0, not v1.29.0" in r.stderr


def test_a_port_without_a_device_is_named_with_the_ports_there_are(tmp_path):
    image = tmp_path / "ESP32_GENERIC-20250415-v1.29.0.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    missing = "/dev/ttyUSB-not-plugged-in"
    ports = ", ".join(_ports()) or "none"
    for args in (("deploy", "--port", missing), ("flash", "--port", missing, "--firmware", str(image))):
        r = tool(*args)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip() == "%s: no device at %s; connected serial ports: %s" % (args[0], missing, ports)
        assert "$ " not in r.stdout                      # nothing was run


def make(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-s", "--no-print-directory"] + list(args), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_make_passes_dry_run_and_explains_a_missing_port():
    r = make("flash", "DRY_RUN=1", "PORT=/dev/ttyUSB7", "FIRMWARE=ESP32_GENERIC-20250415-v1.29.0.bin",
             "CONFIG=/nonexistent.json")
    assert r.returncode == 0, r.stdout + r.stderr
    cmds = [l for l in r.stdout.splitlines() if l.startswith("$ ")]
    assert "esptool --chip esp32 --port /dev/ttyUSB7 erase-flash" in cmds[0]
    assert "write-flash -z 0x1000 ESP32_GENERIC-20250415-v1.29.0.bin" in cmds[1]
    # the copy commands name what the build really holds, build_id.txt included
    assert any(c.endswith("/build/esp32-devkitc/build_id.txt :") for c in cmds)
    assert "nothing was sent to the board" in r.stdout
    r = make("deploy", "DRY_RUN=1", "PORT=/dev/ttyUSB7", "CONFIG=/nonexistent.json")
    assert r.returncode == 0 and "esptool" not in r.stdout and "mpremote connect /dev/ttyUSB7 reset" in r.stdout
    r = make("deploy", "CONFIG=/nonexistent.json")
    assert r.returncode != 0 and "deploy: PORT is missing" in r.stderr and "usage:" not in r.stderr


def test_run_with_a_broken_config_stays_up_and_says_why(tmp_path):
    # A board with a broken configuration must not crash-loop: it stays up, says why.
    sys.path.insert(0, ROOT)
    from host_tools.run import start_firmware
    fw = start_firmware({"site": {"breaker_a": -3}}, heap_kb=256)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not any("safe state" in l for l in list(fw.lines)):
            time.sleep(0.2)
        text = "\n".join(fw.lines)
        assert "safe state" in text and "site.breaker_a" in text, text
        assert fw.alive()
    finally:
        fw.stop()


def test_a_broker_left_running_is_stopped_at_exit():
    # A test whose set-up fails between start_broker() and its stop() (the firmware does
    # not start, say) ends its process with the broker never stopped; mosquitto runs in
    # its own session, so only the exit hook can take it down with us.
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from host_tools.broker import start_broker\n"
            "b = start_broker('mosquitto'); print(b.proc.pid, flush=True)\n"
            "raise SystemExit(3)\n" % ROOT)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    pid = int(r.stdout.split()[0])
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("mosquitto %d still running after its parent exited" % pid)
