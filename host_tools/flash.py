"""Put the firmware onto a board.

    python -m host_tools flash --port /dev/ttyUSB0 --board esp32-devkitc --firmware ESP32_GENERIC-v1.29.0.bin [--config config.json]
    python -m host_tools deploy --port /dev/ttyUSB0 --board esp32-devkitc [--config config.json]

``flash`` erases the chip, writes the MicroPython image the user downloaded (see the
board file's ``micropython_firmware``) with esptool, then does what ``deploy`` does:
builds ``build/<board>`` and copies it and the configuration with mpremote, then resets
the board. ``--dry-run`` prints the commands instead of running them.
"""
import os
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


def deploy_commands(port, board_name, config=None):
    tree = os.path.join(build.ROOT, "build", board_name)
    cmds = []
    for entry in sorted(os.listdir(tree)) if os.path.isdir(tree) else ("boot.py", "main.py", "board.json", "lib"):
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
    if not os.path.exists(args.firmware) and not args.dry_run:
        print("flash: %s not found; download the MicroPython image named in boards/%s.json"
              % (args.firmware, args.board), file=sys.stderr)
        return 2
    try:
        cmds = flash_commands(args.port, args.board, args.firmware)
        if not args.dry_run:
            build.build(args.board)
        cmds += deploy_commands(args.port, args.board, args.config)
    except build.BuildError as e:
        print("flash: %s" % e, file=sys.stderr)
        return 2
    return _run(cmds, args.dry_run)


def main_deploy(args):
    try:
        if not args.dry_run:
            build.build(args.board)
        cmds = deploy_commands(args.port, args.board, args.config)
    except build.BuildError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 2
    return _run(cmds, args.dry_run)
