"""The configuration reference (docs/configuration.md), written from the schema itself.

    python -m host_tools config reference > docs/configuration.md

A test checks that the committed page matches, so the reference can't drift from the
fields the board validates.
"""
from host_tools import FIRMWARE_PATH  # noqa: F401  (puts firmware/ on sys.path)
from dynevse.config import help as settings_help
from dynevse.config.fields import SECTIONS
from dynevse.config.schema import REQUIRED

INTRO = """# Configuration reference

A board's configuration is one JSON file, `config.json`, with the sections below. Every
field is optional unless marked required; a missing one takes its default. Write one
with `make config-new` (or `python -m host_tools config new`), check one with
`make config-validate CONFIG=...`, see one with defaults filled in and secrets masked
with `make config-show CONFIG=...`. The board validates the same way at boot: a bad value
is refused with its field's name and the allowed range, and the board stays in a safe
state until it is fixed.

This page is generated from the schema (`python -m host_tools config reference`).
"""


def _kind(kind, lo, hi, unit):
    if isinstance(kind, tuple):
        return "one of " + ", ".join("`%s`" % (k if k != "" else '""') for k in kind)
    if lo is not None:
        return "%s, %s to %s%s" % (kind, lo, hi, " " + unit if unit else "")
    return kind


def _default(d):
    if d is REQUIRED:
        return "**required**"
    if d == "" or d == ():
        return "(empty)"
    if isinstance(d, tuple):
        return ", ".join(d)
    if d is True or d is False:
        return "true" if d else "false"
    return "`%s`" % (d,)


def reference():
    out = [INTRO]
    order = []
    rows = {}
    for section, fields, is_list in SECTIONS:
        if section not in rows:
            order.append((section, is_list))
            rows[section] = []
        for key, kind, default, lo, hi, unit in fields:
            rows[section].append((key, kind, default, lo, hi, unit))
    for section, is_list in order:
        out.append("\n## `%s%s`\n" % (section, "[]" if is_list else ""))
        if is_list:
            out.append("A list; each entry has:\n")
        out.append("| field | kind | default | what it does |\n|---|---|---|---|")
        for key, kind, default, lo, hi, unit in rows[section]:
            h = settings_help.help_for("%s.%s" % (section, key)) or ""
            out.append("| `%s` | %s | %s | %s |" % (key, _kind(kind, lo, hi, unit), _default(default), h))
    out.append("\n## `mqtt.inputs`\n")
    out.append(settings_help.help_for("mqtt.inputs") + " See docs/home-assistant.md for examples.")
    return "\n".join(out) + "\n"


def main(args):
    print(reference(), end="")
    return 0
