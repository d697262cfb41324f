"""Put the firmware onto a board.

    python -m host_tools flash --port /dev/ttyUSB0 --board esp32-devkitc --firmware ESP32_GENERIC-<date>-v1.29.0.bin [--config config.json]
    python -m host_tools flash --port /dev/ttyUSB0 --board esp32-devkitc --image [--config config.json]
    python -m host_tools deploy --port /dev/ttyUSB0 --board esp32-devkitc [--image] [--config config.json]

``flash`` erases the chip, writes the MicroPython image the user downloaded (the board
file's ``micropython_firmware`` names it) with esptool, then does what ``deploy`` does:
builds ``build/<board>`` and copies it and the configuration with mpremote, then resets
the board. ``--image``: our own image instead (``make image``, host_tools.image), which
has the firmware frozen in, so the board gets boot.py, main.py, board.json and the
image's build_id.txt, no ``lib/``. ``--dry-run`` (``make flash DRY_RUN=1``) builds the tree
and prints the commands instead of running them. What is missing or wrong (no port, no image,
an image of another MicroPython version, a port with no device behind it) is explained before
anything is touched.
"""
import os
import re
import shutil
import subprocess
import sys

from host_tools import build

# the download page's variant of each image for boards with PSRAM
_PSRAM_VARIANT = {"ESP32_GENERIC": "SPIRAM", "ESP32_GENERIC_S3": "SPIRAM_OCT"}


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
    build.build(board_name, tree, code=not image)
    if image:
        from host_tools import image as image_mod
        if os.path.exists(image_mod.build_id_path(board_name)):
            shutil.copy(image_mod.build_id_path(board_name), os.path.join(tree, "build_id.txt"))


def deploy_commands(port, board_name, config=None, image=False):
    """The mpremote commands that copy the built tree (build it first)."""
    tree = tree_path(board_name, image)
    cmds = []
    for entry in sorted(os.listdir(tree)):
        cmds.append(_py("mpremote", "connect", port, "fs", "cp", "-r", os.path.join(tree, entry), ":"))
    if config:
        cmds.append(_py("mpremote", "connect", port, "fs", "cp", config, ":config.json"))
    cmds.append(_py("mpremote", "connect", port, "reset"))
    return cmds


def serial_ports():
    """The serial ports connected now, as ``mpremote devs`` lists them (pyserial)."""
    from serial.tools import list_ports
    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        what = " ".join(x for x in (p.manufacturer, p.product) if x) or \
            (p.description if p.description and p.description != "n/a" else "")
        out.append(p.device + (" (%s)" % what if what else ""))
    return out


def _ports_text():
    ports = serial_ports()
    return ", ".join(ports) if ports else "none"


def image_names(board_name):
    """(MicroPython version, board image name, download page) for the board."""
    board = build.load_board(board_name)
    m = re.match(r"(\S+) v(\S+) \((\S+)\)", board.get("micropython_firmware", ""))
    if m is None:
        return build.MICROPYTHON_VERSION, None, None
    return m.group(2), m.group(1), m.group(3)


def _missing_port(tool):
    return ("%s: PORT is missing: the serial port the board is connected on. Connected serial ports: %s. "
            "A USB board shows up on Linux as /dev/ttyUSB0 or /dev/ttyACM0 (macOS: /dev/cu.usbserial-..., "
            "Windows: COM3); plug it in and look again with `.venv/bin/mpremote devs`. Then: make %s PORT=<it>"
            "%s." % (tool, _ports_text(), tool, " FIRMWARE=<image>" if tool == "flash" else ""))


def where_to_get_firmware(board_name):
    """Where the board's MicroPython image comes from and what its file is called."""
    version, name, page = image_names(board_name)
    if name is None:
        return "Use the MicroPython v%s image for %s." % (version, board_name)
    variant = _PSRAM_VARIANT.get(name)
    psram = " (a board with PSRAM: %s-%s-<date>-v%s.bin)" % (name, variant, version) if variant else ""
    return ("For %s download MicroPython v%s from %s: the .bin named %s-<date>-v%s.bin%s. The firmware's "
            ".mpy files are made for exactly v%s. Then: make flash PORT=<port> FIRMWARE=<that file> BOARD=%s."
            % (board_name, version, page, name, version, psram, version, board_name))


def check_port(port):
    """None if ``port`` can be opened now, else why not."""
    devices = [p.split(" ")[0] for p in serial_ports()]
    if port not in devices and not os.path.exists(port):
        return "no device at %s; connected serial ports: %s" % (port, _ports_text())
    if os.path.exists(port) and not os.access(port, os.R_OK | os.W_OK):
        return ("%s is there but you may not open it: add yourself to its group (Debian: sudo usermod -aG "
                "dialout $USER, then log in again)" % port)
    return None


def _run(cmds, args):
    for c in cmds:
        print("$ " + " ".join(c), flush=True)
        if not args.dry_run:
            r = subprocess.run(c)
            if r.returncode != 0:
                print("failed (exit %d)" % r.returncode, file=sys.stderr)
                return r.returncode
    if args.dry_run:
        now = check_port(args.port)
        print("(dry run: build/%s is built, nothing was sent to the board%s)"
              % (args.board, "; " + now if now else ""))
    return 0


def _image_file(args):
    from host_tools import image as image_mod
    return image_mod.image_path(args.board)


def _prepare(tool, args):
    """The reason the tool can't go on, or None."""
    try:
        build.load_board(args.board)
    except build.BuildError as e:
        return "%s: %s" % (tool, e)
    if not args.port:
        return _missing_port(tool)
    if getattr(args, "image", False):
        from host_tools import image as image_mod
        if not args.dry_run and not os.path.exists(_image_file(args)):
            return ("%s: no image built for %s yet (%s): make image BOARD=%s builds it (it needs ESP-IDF)"
                    % (tool, args.board, os.path.relpath(_image_file(args), build.ROOT), args.board))
        if not args.dry_run and not os.path.exists(image_mod.build_id_path(args.board)):
            return "%s: the image of %s has no build_id.txt: make image BOARD=%s again" % (tool, args.board, args.board)
    elif tool == "flash":
        where = where_to_get_firmware(args.board)
        if not args.firmware:
            return ("flash: FIRMWARE is missing: the MicroPython image written onto the chip before the "
                    "firmware. " + where + " Or write our own image with the firmware in it (make image "
                    "BOARD=%s, with ESP-IDF): make flash PORT=<port> IMAGE=1." % args.board)
        version = image_names(args.board)[0]
        m = re.search(r"-v(\d+\.\d+\.\d+)", os.path.basename(args.firmware))
        if m and m.group(1) != version:
            return "flash: %s is MicroPython v%s, not v%s. %s" % (args.firmware, m.group(1), version, where)
        if not args.dry_run and not os.path.exists(args.firmware):
            return "flash: no file %s. %s" % (args.firmware, where)
    if args.config and not os.path.exists(args.config):
        return "%s: no configuration at %s (make config-new writes one)" % (tool, args.config)
    if not args.dry_run:
        why = check_port(args.port)
        if why:
            return "%s: %s" % (tool, why)
    return None


def main_flash(args):
    why = _prepare("flash", args)
    if why:
        print(why, file=sys.stderr)
        return 2
    image = getattr(args, "image", False)
    try:
        cmds = flash_commands(args.port, args.board, _image_file(args) if image else args.firmware)
        build_tree(args.board, image)    # also for a dry run: the copy commands list its files
        cmds += deploy_commands(args.port, args.board, args.config, image)
    except build.BuildError as e:
        print("flash: %s" % e, file=sys.stderr)
        return 2
    return _run(cmds, args)


def main_deploy(args):
    why = _prepare("deploy", args)
    if why:
        print(why, file=sys.stderr)
        return 2
    image = getattr(args, "image", False)
    try:
        build_tree(args.board, image)
        cmds = deploy_commands(args.port, args.board, args.config, image)
    except build.BuildError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 2
    return _run(cmds, args)
