"""Put the firmware onto a board.

    python -m host_tools flash --port /dev/ttyUSB0 --board esp32-devkitc --firmware ESP32_GENERIC-v1.29.0.bin [--config config.json]
    python -m host_tools flash --port /dev/ttyUSB0 --board esp32-devkitc --image [--config config.json]
    python -m host_tools deploy --port /dev/ttyUSB0 --board esp32-devkitc [--image] [--config config.json]

``flash`` erases the chip, writes the MicroPython image the user downloaded (see the
board file's ``micropython_firmware``) with esptool, then does what ``deploy`` does:
builds ``build/<board>`` and copies it and the configuration with mpremote, then resets
the board. ``--image``: our own image instead (``make image``, host_tools.image), which
has the firmware frozen in, so the board gets boot.py, main.py, board.json and the
image's build_id.txt, no ``lib/``. ``--dry-run`` prints the commands instead of running them.
"""
import os
import shutil
import subprocess
import sys

from host_tools import build


def _py(module, *args):
    return [sys.executable, "-m", module] + list(args)


def flash_commands(port, board_name, firmware):
    board = build.load_board(board_name)
    chip = board.get("chip")
    if chip is None:
        raise build.BuildError("board %r is not flashable" % board_name)
    return [
        _py("esptool", "--chip", chip, "--port", port, "erase-flash"),
        _py("esptool", "--chip", chip, "--port", port, "--baud", "460800", "write-flash", "-z",
            board["flash_offset"], firmware),
    ]


def tree_path(board_name, image=False):
    """The tree that goes onto the board's filesystem: with ``image``, the one without lib/."""
    return os.path.join(build.ROOT, "build", board_name + ("-image" if image else ""))


def build_tree(board_name, image=False):
    """Build the tree; for an image board with the build id of the code in the image."""
    tree = tree_path(board_name, image)
    if image:
        from host_tools import image as image_mod
        if not os.path.exists(image_mod.build_id_path(board_name)):
            raise build.BuildError("no image built for %s yet: make image BOARD=%s" % (board_name, board_name))
    build.build(board_name, tree, code=not image)
    if image:
        shutil.copy(image_mod.build_id_path(board_name), os.path.join(tree, "build_id.txt"))


def deploy_commands(port, board_name, config=None, image=False):
    tree = tree_path(board_name, image)
    cmds = []
    default = ("boot.py", "main.py", "board.json", "build_id.txt") + (() if image else ("lib",))
    for entry in sorted(os.listdir(tree)) if os.path.isdir(tree) else default:
        cmds.append(_py("mpremote", "connect", port, "fs", "cp", "-r", os.path.join(tree, entry), ":"))
    if config:
        cmds.append(_py("mpremote", "connect", port, "fs", "cp", config, ":config.json"))
    cmds.append(_py("mpremote", "connect", port, "reset"))
    return cmds


def _run(cmds, dry_run):
    for c in cmds:
        print("$ " + " ".join(c), flush=True)
        if not dry_run:
            r = subprocess.run(c)
            if r.returncode != 0:
                print("failed (exit %d)" % r.returncode, file=sys.stderr)
                return r.returncode
    return 0


def main_flash(args):
    image = getattr(args, "image", False)
    firmware = args.firmware
    if image:
        from host_tools import image as image_mod
        firmware = image_mod.image_path(args.board)
        if not os.path.exists(firmware) and not args.dry_run:
            print("flash: %s not found; make image BOARD=%s builds it (it needs ESP-IDF)"
                  % (os.path.relpath(firmware, build.ROOT), args.board), file=sys.stderr)
            return 2
    elif firmware is None:
        print("flash: name the MicroPython image (FIRMWARE=..., --firmware) or use our own (IMAGE=1, --image)",
              file=sys.stderr)
        return 2
    elif not os.path.exists(firmware) and not args.dry_run:
        print("flash: %s not found; download the MicroPython image named in boards/%s.json"
              % (firmware, args.board), file=sys.stderr)
        return 2
    try:
        cmds = flash_commands(args.port, args.board, firmware)
        if not args.dry_run:
            build_tree(args.board, image)
        cmds += deploy_commands(args.port, args.board, args.config, image)
    except build.BuildError as e:
        print("flash: %s" % e, file=sys.stderr)
        return 2
    return _run(cmds, args.dry_run)


def main_deploy(args):
    image = getattr(args, "image", False)
    try:
        if not args.dry_run:
            build_tree(args.board, image)
        cmds = deploy_commands(args.port, args.board, args.config, image)
    except build.BuildError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 2
    return _run(cmds, args.dry_run)
