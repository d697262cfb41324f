"""The texts of faults and rare events, by key: what ``rpc`` names a fault by
(``describe``) and the rare log lines and errors of ``central`` (``text``). A string in
``central.py`` or ``rpc.py`` would stay in the heap for as long as the board runs; here it
is loaded for the one use (``central._sync``) and forgotten.
"""

# The texts of faults and rare events, by key: ``|key:text`` (``%s`` where an argument goes).
_TEXTS = (
    # rpc: a message or a field at fault
    "|json:message is not valid JSON|array:message is not a JSON array|id:message has no unique id"
    "|type:message type id must be 2, 3 or 4|long:unique id longer than 36 characters"
    "|call:CALL must have 4 elements|action:CALL action must be a string"
    "|payload:CALL payload must be a JSON object|result:CALLRESULT must be [3, id, {payload}]"
    "|req:is required|str:must be a string|max:must be at most %s characters|int:must be an integer"
    "|min:must be at least %s|bool:must be true or false|enum:is not an allowed value"
    "|time:must be a dateTime such as 2024-05-01T12:00:00Z|list:must be a list"
    "|strs:must hold strings of at most %s characters|few:must have at least %s entries"
    "|obj:entries must be objects"
    # central: rare events
    "|internal:internal error on %s: %r|adopted:adopted running transaction %d"
    "|unusable:MeterValues: %d sampled values not usable|timeout:%s: no answer in %s s"
    "|callerror:%s: CALLERROR %s %s|nostatus:%s: answer without a valid status"
    "|unit:charger takes limits in %s|replaced:a new connection replaces the old one"
    "|silent:silent for %d s: closing the connection|error:connection error: %r"
    "|amps:amps must be a number from 0 to 1000, got %r|phases:phases_in_use must be 1, 2 or 3, got %r"
    "|resend:not following its limit: clearing its profiles and sending the limit again"
    "|nosetup:the setup after connecting could not begin (%s): tried again in %d s"
    "|refused:refused every charging profile (%s; in %s): its current is not under the board's"
    " control; tried again after a reconnect and every %d minutes"
    "|learnt:charger takes its limit as a %s|notx:TxProfile: the charger gets its limit with each"
    " transaction, and no fallback profile (if the board stops it returns to its own default)|")


def text(key, args=()):
    """The text of ``key`` in ``_TEXTS``, with its arguments."""
    i = _TEXTS.find("|" + key + ":") + len(key) + 2
    t = _TEXTS[i:_TEXTS.find("|", i)]
    return t % args if args else t


def describe(e):
    """The text of RpcError ``e``: rpc names a fault by a key (``path ~key:arg``)."""
    d = e.description
    i = d.find("~")
    if i < 0:
        return d
    key, _, arg = d[i + 1:].partition(":")
    return d[:i] + text(key, (arg,) if arg else ())
