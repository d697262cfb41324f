"""Checks of what ``Link.register`` is given when it does not come from the board's
checked configuration (tests, the standalone runner): loaded for the call only."""
from dynevse.config.schema import ID, TEXT, ConfigError, check_value

# what Link keeps of each registered charger, in this order (Link._chargers, flat)
CHARGER_INFO = ("id", "name", "vendor", "model", "firmware")


def register(link, name, phases, battery, chargers, url):
    """Validate a registration and store it in ``link``; raises ConfigError and leaves
    ``link`` as it was on bad input."""
    name = check_value("hub.name", name, TEXT, None, None, "")
    phases = check_value("site.phases", phases, (1, 3), None, None, "")
    if type(battery) is not bool:
        raise ConfigError("site.battery", "must be true or false, got %r" % (battery,))
    if url and not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError("hub.url", "must start with http:// or https://, got %r" % (url,))
    if not isinstance(chargers, (list, tuple)) or len(chargers) > 16:
        raise ConfigError("chargers", "must be a list of at most 16 chargers")
    ids = []
    chs = []        # flat: id, name, vendor, model, firmware (None: not given) per charger
    for i in range(len(chargers)):
        c = chargers[i]
        if not isinstance(c, dict):
            c = {"id": c}
        cid = check_value("chargers[%d].id" % i, c.get("id"), ID, None, None, "")
        if cid in ids:
            raise ConfigError("chargers[%d].id" % i, "must be unique, %r is used twice" % cid)
        ids.append(cid)
        chs.append(cid)
        for k in CHARGER_INFO[1:]:
            v = c.get(k)
            chs.append(check_value("chargers[%d].%s" % (i, k), v, TEXT, None, None, "") if v else None)
    link.store_registration(name, url, phases, battery, ids, chs)
