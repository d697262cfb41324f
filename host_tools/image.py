"""Our own ESP32 firmware image: MicroPython v1.29 with the firmware frozen in.

    python -m host_tools image --board esp32-devkitc [--dry-run]

For a plain ESP32 (no PSRAM): the firmware's bytecode, strings and names then live in
flash and the heap holds only data (docs/decisions.md, "Memory"). What is frozen is
``boards/manifest.py`` with the board's HAL, after the esp32 port's own manifest
(``_boot.py``, asyncio, ...). The image goes to ``build/image/<board>/firmware.bin``
(bootloader, partition table and application in one file, written at the board's
``flash_offset``), with the ``build_id.txt`` of the code inside it; ``make flash IMAGE=1``
writes both.

It needs what MicroPython's esp32 port needs: ESP-IDF (``IDF_PATH`` set and its
``export.sh`` sourced, so ``idf.py`` is on PATH) and ``MICROPYTHON_SRC`` naming a full
MicroPython v1.29 checkout with ``ports/esp32`` (the tarball in ../shared/micropython is
trimmed to the unix port). Where something is missing, one paragraph says what; the
frozen board model (``make board-model FROZEN=1``, ``make sim MODEL=esp32 FROZEN=1``) is
the image's stand-in on a machine without ESP-IDF.
"""
import os
import shutil
import subprocess
import sys

from host_tools import board_model, build

IMAGE_DIR = os.path.join(build.ROOT, "build", "image")


def image_path(board_name):
    return os.path.join(IMAGE_DIR, board_name, "firmware.bin")


def build_id_path(board_name):
    return os.path.join(IMAGE_DIR, board_name, "build_id.txt")


def missing(board):
    """What this machine lacks to build the image for ``board`` (a list of sentences)."""
    out = []
    src = os.environ.get("MICROPYTHON_SRC") or ""
    if not src:
        out.append("MICROPYTHON_SRC is not set: it must name a MicroPython v1.29 checkout with "
                   "ports/esp32 (git clone -b v1.29.0 https://github.com/micropython/micropython; "
                   "the tarball in ../shared/micropython is trimmed to the unix port)")
    elif not os.path.isdir(os.path.join(src, "ports", "esp32")):
        what = "a file" if os.path.isfile(src) else ("a tree without ports/esp32" if os.path.isdir(src)
                                                     else "absent")
        out.append("MICROPYTHON_SRC=%s is %s: it must be a full MicroPython v1.29 checkout with "
                   "ports/esp32 (the tarball in ../shared/micropython is trimmed to the unix port)"
                   % (src, what))
    else:
        try:
            board_model.check_tree(src)
        except board_model.ModelError as e:
            out.append(str(e).replace("board model: ", "", 1))
    idf = os.environ.get("IDF_PATH") or ""
    if not idf:
        out.append("IDF_PATH is not set: install ESP-IDF (the version MicroPython v1.29's "
                   "ports/esp32/README.md names) and source its export.sh")
    elif not os.path.isdir(idf):
        out.append("IDF_PATH=%s does not exist" % idf)
    elif shutil.which("idf.py") is None:
        out.append("idf.py is not on PATH: source %s/export.sh first" % idf)
    return out


def manifest_text(board):
    """The image's manifest: the port's own, then ours with the board's HAL."""
    return ("# Written by host_tools.image: the esp32 port's frozen modules (_boot.py, asyncio, ...),\n"
            "# then the firmware (boards/manifest.py) with the %s HAL.\n"
            "include(\"$(PORT_DIR)/boards/manifest.py\")\n"
            "include(%r, hal=%r, libs=%r)\n" % (board["hal"], board_model.MANIFEST, board["hal"],
                                                build.board_libs_dir()))


def commands(board_name, board, src):
    """The commands that build the image, as lists of arguments."""
    work = os.path.join(IMAGE_DIR, board_name)
    port = os.path.join(src, "ports", "esp32")
    mp_board = board["micropython_board"]
    common = ["make", "-C", port, "BOARD=" + mp_board, "BUILD=build-dynevse-" + board_name]
    return [
        ["make", "-C", os.path.join(src, "mpy-cross")],
        common + ["submodules"],
        common + ["FROZEN_MANIFEST=" + os.path.join(work, "manifest.py")],
        ["cp", os.path.join(port, "build-dynevse-" + board_name, "firmware.bin"), image_path(board_name)],
    ]


def main(args):
    try:
        board = build.load_board(args.board)
    except build.BuildError as e:
        print("image: %s" % e, file=sys.stderr)
        return 2
    if not board.get("micropython_board"):
        print("image: board %s is not an ESP32 board (its boards/%s.json names no micropython_board)"
              % (args.board, args.board), file=sys.stderr)
        return 2
    lacking = missing(board)
    src = os.environ.get("MICROPYTHON_SRC") or "$MICROPYTHON_SRC"
    cmds = commands(args.board, board, src)
    if args.dry_run:
        for c in cmds:
            print("$ " + " ".join(c))
        if lacking:
            print("image: (dry run) to run these, this machine still needs: %s." % "; ".join(lacking),
                  file=sys.stderr)
        return 0
    if lacking:
        print("image: can't build the ESP32 image for %s here: %s. Until then the frozen board model "
              "(make board-model FROZEN=1; make sim MODEL=esp32 FROZEN=1) stands in for it: the same "
              "manifest frozen into the 32-bit unix port." % (args.board, "; ".join(lacking)),
              file=sys.stderr)
        return 2
    work = os.path.join(IMAGE_DIR, args.board)
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "manifest.py"), "w") as f:
        f.write(manifest_text(board))
    for c in cmds:
        print("$ " + " ".join(c), flush=True)
        r = subprocess.run(c)
        if r.returncode != 0:
            print("image: failed (exit %d)" % r.returncode, file=sys.stderr)
            return 1
    with open(build_id_path(args.board), "w") as f:
        f.write(build.build_id(args.board) + "\n")
    size = os.path.getsize(image_path(args.board))
    print("%s: %d bytes; make flash IMAGE=1 BOARD=%s PORT=... writes it"
          % (os.path.relpath(image_path(args.board), build.ROOT), size, args.board))
    return 0
