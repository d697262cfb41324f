"""The MQTT side's numbers for the status page: ``client_status``, ``inputs_status``,
``link_status``. Loaded for the call and dropped after it (``client.call``); the keys
are in strings (a name in the code would stay in memory after the module is dropped).
"""
from dynevse.mqtt.inputs import QUANTITIES

# the names of Client.n and Link.n, in index order, then what status() adds
CLIENT = "connects connect_failures links_lost malformed dead_broker oversized rejected " \
    "resent rx tx callback_errors sub_refused unexpected dropped"
LINK = "commands commands_refused discovery_sent entities_removed states_sent"


def _put(d, names, values):
    names = names.split()
    for i in range(len(names)):
        d[names[i]] = values[i]
    return d


def client_status(c):
    """State ("connected", "connecting", "waiting", "stopped"), last_error, counters."""
    k = c.n[0]
    return _put({}, CLIENT + " state last_error reconnects queued inflight",
                c.n + [c.state, c.last_error, k - 1 if k > 1 else 0, len(c._q), len(c._inflight)])


def inputs_status(i):
    """Accepted, bad (not a number) and retained-ignored messages; bad ones by quantity."""
    bad = {}
    r = i._rows
    for k in range(0, len(r), 8):
        if r[k + 7]:
            # the quantity of this row: the one that feeds its reading (grid: its phase)
            for q in QUANTITIES.split("\n"):
                q = q.split(" ")
                if q[2] == r[k + 3] or q[2] == r[k + 3][:4] and int(q[3]) == r[k + 4]:
                    bad[q[0]] = r[k + 7]
                    break
    return _put({}, "input_ok input_bad input_retained_ignored input_bad_by_quantity",
                (i.ok, i.bad, i.retained_ignored, bad))


def link_status(l):
    """The client's, the link's and the inputs' numbers; the last refusal; discovery
    "off", "pending" or "done"."""
    d = _put(l.client.status(), LINK + " last_refusal discovery",
             l.n + [l.last_refusal, "off pending done".split()[0 if not l.cfg["discovery"] else 1 if l._discover else 2]])
    d.update(inputs_status(l.inputs))
    return d
