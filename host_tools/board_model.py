"""The board model: MicroPython's unix port built 32-bit (i686), with ESP32-like object
sizes, so the heap the firmware uses on a PC reads as it would on the board.

    python -m host_tools board-model            # build/board-model/micropython
    python -m host_tools board-model --frozen   # ... and micropython-frozen

``micropython`` is the stock path's stand-in (the firmware loads from .mpy files);
``micropython-frozen`` has the firmware frozen in from ``boards/manifest.py`` with the
unix HAL, the stand-in for our own ESP32 image (``make image``), which cannot be built on
a machine without ESP-IDF.

The source is ``MICROPYTHON_SRC``: a MicroPython v1.29 checkout (a directory) or a
tarball of one; by default ``../shared/micropython/micropython-src.tar.gz`` beside the
repository. The build script is ``../shared/micropython/build.sh`` (``MICROPYTHON_BUILD_SH``
names another one). Each binary is built once: a stamp next to it records what it was
built from (the source, the build script and, for the frozen one, every frozen file), so a
second call rebuilds nothing and a changed firmware file rebuilds the frozen binary.
"""
import hashlib
import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "micropython")
DEFAULT_SRC = os.path.join(SHARED, "micropython-src.tar.gz")
DEFAULT_BUILD_SH = os.path.join(SHARED, "build.sh")
MODEL_DIR = os.path.join(ROOT, "build", "board-model")
MANIFEST = os.path.join(ROOT, "boards", "manifest.py")
VERSION = (1, 29)         # the MicroPython the .mpy files and the boards are made for
_HOW = ("set MICROPYTHON_SRC to a MicroPython v1.29 checkout (git clone -b v1.29.0 "
        "https://github.com/micropython/micropython, then git submodule update --init lib/axtls "
        "lib/littlefs lib/oofatfs lib/uzlib lib/re1.5 lib/crypto-algorithms)")


class ModelError(Exception):
    """The model cannot be built; the message is one line: what is missing, how to get it."""


def binary(frozen=False):
    """Where ``make board-model`` puts the binary (it may not exist yet)."""
    return os.path.join(MODEL_DIR, "micropython-frozen" if frozen else "micropython")


def built(frozen=False):
    """The model binary if it has been built, else None (tests measure heap on it)."""
    path = binary(frozen)
    return path if os.access(path, os.X_OK) else None


def heap_port():
    """The MicroPython port heap budgets are measured on: (path, word bits). The board
    model when ``make board-model`` has built it (CI always does); the 64-bit PyPI port,
    whose objects are about twice the board's, only when it has not."""
    path = built()
    if path:
        return path, 32
    return os.path.join(os.path.dirname(sys.executable), "micropython"), 64


def source():
    """The MicroPython source to build from: (path, is_tarball). ModelError if there is none."""
    src = os.environ.get("MICROPYTHON_SRC") or ""
    if not src:
        if not os.path.exists(DEFAULT_SRC):
            raise ModelError("board model: no MicroPython source (%s is absent); %s"
                             % (os.path.relpath(DEFAULT_SRC, ROOT), _HOW))
        src = DEFAULT_SRC
    src = os.path.abspath(src)
    if os.path.isfile(src):
        return src, True
    if not os.path.isdir(src):
        raise ModelError("board model: MICROPYTHON_SRC=%s does not exist; %s" % (src, _HOW))
    return src, False


def check_tree(tree):
    """A MicroPython tree of the right version with the unix port, or ModelError."""
    cfg = os.path.join(tree, "py", "mpconfig.h")
    if not os.path.exists(cfg) or not os.path.isdir(os.path.join(tree, "ports", "unix")):
        raise ModelError("board model: %s is not a MicroPython source tree (no py/mpconfig.h or "
                         "ports/unix); %s" % (tree, _HOW))
    found = {}
    with open(cfg) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1] in ("MICROPY_VERSION_MAJOR",
                                                                          "MICROPY_VERSION_MINOR"):
                found[parts[1]] = int(parts[2])
    version = (found.get("MICROPY_VERSION_MAJOR"), found.get("MICROPY_VERSION_MINOR"))
    if version != VERSION:
        raise ModelError("board model: %s is MicroPython %s.%s; the firmware is made for %d.%d: %s"
                         % (tree, version[0], version[1], VERSION[0], VERSION[1], _HOW))


def _build_sh():
    path = os.path.abspath(os.environ.get("MICROPYTHON_BUILD_SH") or DEFAULT_BUILD_SH)
    if not os.path.isfile(path):
        raise ModelError("board model: no build script at %s (MicroPython's 32-bit unix build, "
                         "../shared/micropython/build.sh); set MICROPYTHON_BUILD_SH to it" % path)
    return path


def _digest(paths):
    h = hashlib.sha1()
    for p in paths:
        h.update(p.encode() + b"\0")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def _git_head(tree):
    r = subprocess.run(["git", "-C", tree, "rev-parse", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def _unpacked(tarball):
    """The tarball unpacked once under build/board-model/src; the tree's path."""
    stamp_id = _digest([tarball])
    where = os.path.join(MODEL_DIR, "src")
    stamp = os.path.join(where, ".unpacked-from")
    with tarfile.open(tarball) as t:
        top = t.getnames()[0].split("/")[0]
        tree = os.path.join(where, top)
        if _read(stamp) == stamp_id and os.path.isdir(tree):
            return tree
        if os.path.isdir(where):
            import shutil
            shutil.rmtree(where)
        os.makedirs(where)
        print("board model: unpacking %s" % tarball, file=sys.stderr)
        # the "data" filter (Python 3.11.4+) refuses links and paths out of the folder
        t.extractall(where, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    with open(stamp, "w") as f:
        f.write(stamp_id)
    return tree


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def frozen_files():
    """Every file the frozen binary takes in: the manifest and the firmware it lists."""
    from host_tools.build import board_lib_files
    out = [MANIFEST] + board_lib_files()
    for d, _dirs, names in os.walk(os.path.join(ROOT, "firmware", "dynevse")):
        out += [os.path.join(d, n) for n in sorted(names) if n.endswith(".py")]
    return sorted(out)


def _model_manifest():
    """The board image's list with the unix model's HAL (boards/manifest.py explains)."""
    from host_tools.build import board_libs_dir
    path = os.path.join(MODEL_DIR, "manifest-unix.py")
    text = ("# Written by host_tools.board_model: the board image's manifest, with the HAL of the\n"
            "# unix board model instead of the ESP32's.\n"
            "include(%r, hal=\"unix\", libs=%r)\n" % (MANIFEST, board_libs_dir()))
    if _read(path) != text:
        os.makedirs(MODEL_DIR, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return path


def build(frozen=False, quiet=False):
    """Build the model binary (and with ``frozen`` the one with the firmware frozen in) if
    it is not already built from the same inputs; returns its path. ModelError if the
    source or the build script is missing; RuntimeError if the build fails."""
    src, is_tarball = source()
    build_sh = _build_sh()
    tree = _unpacked(src) if is_tarball else src
    check_tree(tree)
    inputs = [build_sh] + (frozen_files() if frozen else [])
    stamp_id = "%s %s %s" % (_digest([src]) if is_tarball else tree + " " + _git_head(tree),
                             _digest(inputs), "frozen" if frozen else "plain")
    out = binary(frozen)
    stamp = out + ".stamp"
    if os.access(out, os.X_OK) and _read(stamp) == stamp_id:
        if not quiet:
            print("board model: %s is up to date" % os.path.relpath(out, ROOT), file=sys.stderr)
        return out
    env = dict(os.environ)
    env.pop("MANIFEST", None)
    if frozen:
        env["MANIFEST"] = _model_manifest()
    print("board model: building %s from %s" % (os.path.relpath(out, ROOT), src), file=sys.stderr)
    r = subprocess.run(["bash", build_sh, tree, out], env=env, stdout=sys.stderr)
    if r.returncode != 0 or not os.access(out, os.X_OK):
        raise RuntimeError("board model: %s failed (exit %d)" % (build_sh, r.returncode))
    with open(stamp, "w") as f:
        f.write(stamp_id)
    return out


def main(args):
    try:
        for frozen in (False, True) if args.frozen else (False,):
            print(build(frozen))
    except ModelError as e:
        print(e, file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    return 0
