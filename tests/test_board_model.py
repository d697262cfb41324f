"""The board model (host_tools.board_model), the board image's manifest, and the image and
flash commands, as a user runs them.

The model is built from ../shared/micropython when it is there (``.ci/run`` builds it
first, so these tests find it built); without MicroPython's source the model tests fail
with the one line the tool prints, they are not skipped.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from host_tools import board_model, build  # noqa: E402


def tool(*args, env=None):
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, **(env or {})))


def _model(frozen=False):
    try:
        return board_model.build(frozen, quiet=True)
    except board_model.ModelError as e:       # no source here: say so, as the tool does
        raise AssertionError(str(e))


# ---- without the source: one line, what is missing and how to get it -----------------

def test_without_source_says_what_is_missing(tmp_path):
    r = tool("board-model", env={"MICROPYTHON_SRC": str(tmp_path / "nowhere")})
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "MICROPYTHON_SRC=%s does not exist" % (tmp_path / "nowhere") in lines[0]
    assert "git clone -b v1.29.0 https://github.com/micropython/micropython" in lines[0]
    # a directory that is not a MicroPython tree, and one of another version
    r = tool("board-model", env={"MICROPYTHON_SRC": str(tmp_path)})
    assert r.returncode == 2 and "is not a MicroPython source tree" in r.stderr
    (tmp_path / "py").mkdir()
    (tmp_path / "ports" / "unix").mkdir(parents=True)
    (tmp_path / "py" / "mpconfig.h").write_text("#define MICROPY_VERSION_MAJOR 1\n#define MICROPY_VERSION_MINOR 22\n")
    r = tool("board-model", env={"MICROPYTHON_SRC": str(tmp_path)})
    assert r.returncode == 2 and "is MicroPython 1.22; the firmware is made for 1.29" in r.stderr


def test_no_default_source_names_the_tarball(monkeypatch, tmp_path):
    monkeypatch.delenv("MICROPYTHON_SRC", raising=False)
    monkeypatch.setattr(board_model, "DEFAULT_SRC", str(tmp_path / "micropython-src.tar.gz"))
    try:
        board_model.source()
    except board_model.ModelError as e:
        assert "no MicroPython source" in str(e) and "micropython-src.tar.gz is absent" in str(e)
        assert "MICROPYTHON_SRC" in str(e) and "\n" not in str(e)
    else:
        raise AssertionError("no error without a source")


def test_sim_and_mem_on_the_model_without_source_say_so(tmp_path):
    env = {"MICROPYTHON_SRC": str(tmp_path / "nowhere")}
    r = tool("sim", "--model", "esp32", "--duration", "5", env=env)
    assert r.returncode == 2 and "MICROPYTHON_SRC=" in r.stderr and r.stdout == ""
    r = subprocess.run([sys.executable, "tests/bench/mem_report.py", "--model", "esp32"], cwd=ROOT,
                       capture_output=True, text=True, env=dict(os.environ, **env), timeout=60)
    assert r.returncode == 2 and "MICROPYTHON_SRC=" in r.stderr
    r = tool("sim", "--frozen", "--duration", "5")
    assert r.returncode == 2 and "--frozen needs --model esp32" in r.stderr


# ---- the model -----------------------------------------------------------------------

def test_second_build_rebuilds_nothing():
    plain = _model()
    before = os.stat(plain).st_mtime_ns
    r = tool("board-model")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == plain
    assert "is up to date" in r.stderr and "building" not in r.stderr
    assert os.stat(plain).st_mtime_ns == before


def test_the_model_is_32_bit_and_has_what_the_firmware_needs():
    r = subprocess.run([_model(), "-c", "import sys, vfs, hashlib, socket, select, asyncio\n"
                        "print(sys.maxsize, hasattr(vfs, 'VfsRom'), 1.0 + 2 ** -30 == 1.0)"],
                       capture_output=True, text=True, timeout=30)
    # 2**31 - 1: 32-bit words as on the ESP32; single-precision floats as on the ESP32
    # (1 + 2**-30 rounds to 1 with a 24-bit mantissa, not with a 53-bit one)
    assert r.stdout.split() == ["2147483647", "True", "True"], r.stdout + r.stderr


def test_frozen_model_runs_the_firmware_from_the_image(tmp_path):
    """Nothing on the path but the frozen modules: the firmware imports, with the unix HAL
    and not the ESP32's, and an imported module costs the heap less than from .mpy."""
    frozen = _model(frozen=True)
    probe = ("import gc\n"
             "gc.collect(); a = gc.mem_alloc()\n"
             "import dynevse.core.engine as e\n"
             "gc.collect(); print(e.__file__, gc.mem_alloc() - a)\n"
             "import dynevse.hal.unix\n"
             "try:\n"
             "    import dynevse.hal.esp32\n"
             "    print('esp32 hal frozen')\n"
             "except ImportError:\n"
             "    print('no esp32 hal')\n")
    r = subprocess.run([frozen, "-c", probe], cwd=str(tmp_path), env=dict(os.environ, MICROPYPATH=".frozen"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    first, hal = r.stdout.splitlines()
    where, cost = first.split()
    assert where == "dynevse/core/engine.py" and hal == "no esp32 hal", r.stdout
    tree = str(tmp_path / "tree")
    build.build("unix-sim", tree)
    r = subprocess.run([_model(), "-c", probe.split("import dynevse.hal.unix")[0]], cwd=tree,
                       env=dict(os.environ, MICROPYPATH=".frozen:lib"), capture_output=True, text=True, timeout=30)
    mpy_where, mpy_cost = r.stdout.split()
    assert mpy_where == "lib/dynevse/core/engine.mpy", r.stdout + r.stderr
    # frozen, the engine's bytecode and strings stay in the image: the heap holds its
    # function objects and globals only (measured 0.8 KB against 9.2 KB from the file)
    assert int(cost) * 4 < int(mpy_cost), (cost, mpy_cost)
    # the plain model has no firmware in it
    r = subprocess.run([_model(), "-c", "import dynevse"], cwd=str(tmp_path),
                       env=dict(os.environ, MICROPYPATH=".frozen"), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "no module named 'dynevse'" in r.stdout + r.stderr


# ---- the manifest --------------------------------------------------------------------

def _manifest_files(hal):
    """What boards/manifest.py freezes for ``hal``, read by MicroPython's own manifest tool."""
    _model()        # unpacks the source the tool comes from
    src, is_tarball = board_model.source()
    tree = board_model._unpacked(src) if is_tarball else src
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import manifestfile\n"
            "m = manifestfile.ManifestFile(manifestfile.MODE_FREEZE, {'MPY_DIR': %r})\n"
            "m.include(%r, hal=%r, libs=%r)\n"
            "print('\\n'.join(sorted(r.target_path for r in m.files())))\n"
            % (os.path.join(tree, "tools"), tree, board_model.MANIFEST, hal, build.board_libs_dir()))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_manifest_freezes_what_the_board_tree_holds(tmp_path):
    for board, hal in (("esp32-devkitc", "esp32"), ("unix-sim", "unix")):
        frozen = _manifest_files(hal)
        tree = [f[len("lib/"):-len(".mpy")] + ".py" for f, _n in build.build(board, str(tmp_path / board))
                if f.startswith("lib/")]
        # the image and the .mpy tree hold the same modules: one board, one firmware
        assert frozen == sorted(tree), (board, sorted(set(frozen) ^ set(tree)))
        assert "dynevse/hal/%s.py" % hal in frozen
        other = "unix" if hal == "esp32" else "esp32"
        assert "dynevse/hal/%s.py" % other not in frozen
        # boot.py and main.py stay files on the board (boards/manifest.py says why)
        assert "boot.py" not in frozen and "main.py" not in frozen


# ---- the image and flashing it -------------------------------------------------------

def test_image_says_exactly_what_is_missing(tmp_path):
    env = {"IDF_PATH": "", "MICROPYTHON_SRC": ""}
    r = tool("image", "--board", "esp32-devkitc", env=env)
    assert r.returncode == 2 and r.stdout == ""
    text = r.stderr.strip()
    assert len(text.splitlines()) == 1, text               # one paragraph
    assert "MICROPYTHON_SRC is not set" in text and "IDF_PATH is not set" in text
    assert "make sim MODEL=esp32 FROZEN=1" in text           # the stand-in, named
    # the shipped (trimmed) tree has no ports/esp32; an IDF_PATH without idf.py on PATH
    idf = tmp_path / "esp-idf"
    idf.mkdir()
    src, is_tarball = board_model.source()
    tree = board_model._unpacked(src) if is_tarball else src
    r = tool("image", "--board", "esp32-s3-devkitc",
             env={"IDF_PATH": str(idf), "MICROPYTHON_SRC": tree, "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"})
    assert r.returncode == 2, r.stderr
    assert "is a tree without ports/esp32" in r.stderr and "trimmed to the unix port" in r.stderr
    assert "idf.py is not on PATH: source %s/export.sh" % idf in r.stderr
    r = tool("image", "--board", "unix-sim")
    assert r.returncode == 2 and "not an ESP32 board" in r.stderr


def test_image_dry_run_commands():
    r = tool("image", "--board", "esp32-s3-devkitc", "--dry-run", env={"MICROPYTHON_SRC": "/src/mp"})
    assert r.returncode == 0, r.stderr
    cmds = [l[2:] for l in r.stdout.splitlines() if l.startswith("$ ")]
    assert cmds[0] == "make -C /src/mp/mpy-cross"
    assert cmds[1].endswith("BOARD=ESP32_GENERIC_S3 BUILD=build-dynevse-esp32-s3-devkitc submodules")
    # the port's build with our manifest (which includes the port's own first)
    assert cmds[2].startswith("make -C /src/mp/ports/esp32 BOARD=ESP32_GENERIC_S3 ")
    assert "FROZEN_MANIFEST=" + os.path.join(ROOT, "build", "image", "esp32-s3-devkitc", "manifest.py") in cmds[2]
    assert cmds[3].endswith(os.path.join("build", "image", "esp32-s3-devkitc", "firmware.bin"))
    # a dry run still says what this machine lacks
    assert "still needs" in r.stderr


def test_image_manifest_includes_the_port_then_ours():
    from host_tools import image
    text = image.manifest_text(build.load_board("esp32-devkitc"))
    lines = [l for l in text.splitlines() if not l.startswith("#")]
    assert lines == ['include("$(PORT_DIR)/boards/manifest.py")',
                     "include(%r, hal='esp32', libs=%r)" % (board_model.MANIFEST, build.board_libs_dir())]


def test_flash_image_dry_run_writes_it_at_the_board_offset():
    for board, chip, offset in (("esp32-devkitc", "esp32", "0x1000"), ("esp32-s3-devkitc", "esp32s3", "0x0")):
        r = tool("flash", "--port", "/dev/ttyUSB3", "--board", board, "--image", "--dry-run")
        assert r.returncode == 0, r.stderr
        lines = [l for l in r.stdout.splitlines() if l.startswith("$ ")]
        assert "esptool --chip %s --port /dev/ttyUSB3 erase-flash" % chip in lines[0]
        image = os.path.join(ROOT, "build", "image", board, "firmware.bin")
        assert lines[1].endswith("write-flash -z %s %s" % (offset, image)), lines[1]
        copied = [l.split()[-2] for l in lines if " fs cp " in l]
        # the image holds the code: boot.py, main.py and the board files go on, no lib/
        assert sorted(os.path.basename(p) for p in copied) == ["board.json", "boot.py", "build_id.txt", "main.py"]
        assert lines[-1].endswith("mpremote connect /dev/ttyUSB3 reset")


def test_flash_image_without_an_image_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    import argparse
    from host_tools import flash, image
    monkeypatch.setattr(image, "IMAGE_DIR", str(tmp_path))      # no image built there
    args = argparse.Namespace(port="/dev/ttyUSB3", board="esp32-devkitc", image=True, firmware=None,
                              config=None, dry_run=False)
    # flash and deploy say the same: which image is missing, where, and how to get it
    for main in (flash.main_flash, flash.main_deploy):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "no image built for esp32-devkitc yet (" in err and "esp32-devkitc/firmware.bin)" in err, err
        assert "make image BOARD=esp32-devkitc builds it (it needs ESP-IDF)" in err, err
    args.image = False
    assert flash.main_flash(args) == 2
    assert "IMAGE=1" in capsys.readouterr().err
