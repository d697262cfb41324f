"""The board's configuration, and the one place that loads, checks, changes and stores it.

- ``schema``: the kinds of field, ``ConfigError``, ``check_value``
- ``site`` and ``fields``: every field of every section (kind, default, range, unit); the
  settings Home Assistant may change (``site.commands``), derived from the tables
- ``check``: ``check(raw)``, the whole configuration with every rule between fields
- ``change``: ``change(board, cfg, [(path, value)])`` for commands and web forms
- ``store``: config.json, its atomic saves, recovery and the checked copy
- ``help``: a help text for every field

Nothing else writes config.json or changes a configuration in place: the running
firmware holds a checked configuration and swaps in the new one a change returns.
Importing this package loads nothing; import the module you need.
"""
