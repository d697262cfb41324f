"""Distribution of current between chargers under shared constraints.

All amounts are integers: currents in mA, capacities in the unit of their constraint
(mA for a phase or circuit group, mW for a power limit or a mode's power pool), so the
result is the same on every runtime.

A constraint k has a remaining capacity ``caps[k]``. A charger *consumes* a constraint
with a coefficient (1 for a phase it draws on, the sum of its phase voltages for a power
constraint) and may or may not be *limited* by it: the breaker, circuit groups and the
import limit limit every charger that consumes them; a mode's power pool is consumed by
every charger (any car's draw uses up the surplus) but limits only the chargers in that
mode. A "soft" pool does not stop a charger from getting its minimum (Eco's floor); a
charger with ``hold`` set treats every pool as soft (a Solar session riding through a
cloud at its minimum, while the physical limits allow).
"""


class Allocation:
    """Amounts given so far and the capacity left in each constraint."""

    def __init__(self, n, caps, soft, pool):
        self.caps = caps            # remaining capacity per constraint
        self.soft = soft            # per constraint: True if it does not gate the minimum
        self.pool = pool            # per constraint: True for a mode's power pool
        self.hold = [False] * n     # per charger: every pool is soft for its minimum
        self.limits = [[] for _ in range(n)]    # per charger: flat [k, coef, k, coef, ...]
        self.uses = [[] for _ in range(n)]
        self.mins = [0] * n
        self.maxs = [0] * n
        self.amt = [0] * n

    def link(self, c, k, coef, limits=True):
        """Charger c consumes constraint k at ``coef`` units per mA (and is limited by it)."""
        self.uses[c] += (k, coef)
        if limits:
            self.limits[c] += (k, coef)

    def headroom(self, c, for_min=False, only=None):
        """How many more mA charger c could take now (never negative).

        ``for_min`` ignores soft constraints; ``only`` restricts the check to the
        constraints whose index is in it (used to ask what the mode alone allows).
        """
        h = self.maxs[c] - self.amt[c]
        lim = self.limits[c]
        caps = self.caps
        for i in range(0, len(lim), 2):
            k = lim[i]
            if only is not None and k not in only:
                continue
            if for_min and (self.soft[k] or (self.hold[c] and self.pool[k])):
                continue
            q = caps[k] // lim[i + 1]
            if q < h:
                h = q
        return h if h > 0 else 0

    def give(self, c, ma):
        """Add ``ma`` (may be negative) to charger c and use up its constraints."""
        if ma == 0:
            return
        self.amt[c] += ma
        use = self.uses[c]
        caps = self.caps
        for i in range(0, len(use), 2):
            caps[use[i]] -= ma * use[i + 1]

    def grant_min(self, c):
        """Give charger c its minimum if it fits; True if it has it now."""
        need = self.mins[c] - self.amt[c]
        if need <= 0:
            return True
        if self.headroom(c, True) >= need:
            self.give(c, need)
            return True
        return False

    def fill(self, c):
        """Give charger c all it can take."""
        self.give(c, self.headroom(c))

    def waterfill(self, group):
        """Raise every charger of ``group`` by equal steps until each is blocked (max-min fair)."""
        caps = self.caps
        rate = [0] * len(caps)
        live = [c for c in group if self.headroom(c) > 0]
        while live:
            step = None
            for c in live:
                room = self.maxs[c] - self.amt[c]
                if step is None or room < step:
                    step = room
            for k in range(len(rate)):
                rate[k] = 0
            for c in live:
                use = self.uses[c]
                for i in range(0, len(use), 2):
                    rate[use[i]] += use[i + 1]
            blocking = []
            for c in live:
                lim = self.limits[c]
                for i in range(0, len(lim), 2):
                    k = lim[i]
                    q = caps[k] // rate[k] if caps[k] > 0 else 0
                    if q < step:
                        step = q
                    if q == 0:
                        blocking.append(c)
            if step > 0:
                for c in live:
                    self.give(c, step)
                live = [c for c in live if self.headroom(c) > 0]
            else:
                # Nothing fits an equal step any more: those blocked are done, the rest go on.
                live = [c for c in live if c not in blocking and self.maxs[c] > self.amt[c]]


def _urgency_groups(order, urgency):
    groups = []
    last = None
    for c in order:
        if urgency[c] != last:
            groups.append([])
            last = urgency[c]
        groups[-1].append(c)
    return groups


def shared(a, order, urgency):
    """Minimums first in order; then the rest split equally within each urgency group."""
    got = [c for c in order if a.grant_min(c)]
    for group in _urgency_groups(got, urgency):
        a.waterfill(group)


def priority(a, order, urgency):
    """Minimums first in order; then each in order takes all it can."""
    got = [c for c in order if a.grant_min(c)]
    for c in got:
        a.fill(c)


def sequential_strict(a, order, urgency, own):
    """In order, each is filled to what it wants before the next gets anything.

    ``own(c)`` is the list of constraints that express charger c's own wishes (its mode's
    pool). A charger stopped by those or by its max is satisfied; one stopped by a shared
    limit (breaker, circuit group, import limit) ends the round.
    """
    for c in order:
        if a.grant_min(c):
            a.fill(c)
        mine = own(c)
        if a.amt[c] > 0:
            satisfied = a.headroom(c, False, mine) == 0
        else:
            # Nothing given: satisfied only if its own mode would not reach its minimum.
            satisfied = a.headroom(c, True, mine) < max(a.mins[c], 1)
        if not satisfied:
            break


def sequential_optimized(a, order, urgency):
    """In order, each takes what it can; a higher one gives up only what a lower one
    needs to reach its minimum, and never goes below its own minimum to do so."""
    for i in range(len(order)):
        c = order[i]
        if a.grant_min(c):
            a.fill(c)
            continue
        taken = []
        j = i - 1
        while j >= 0 and a.headroom(c, True) < a.mins[c]:
            d = order[j]
            spare = a.amt[d] - a.mins[d]
            if a.amt[d] > 0 and spare > 0:
                a.give(d, -spare)
                taken.append((d, spare))
            j -= 1
        if a.grant_min(c):
            # Donors take back, highest first, whatever the new minimum left over.
            for k in range(len(taken) - 1, -1, -1):
                d, spare = taken[k]
                back = a.headroom(d)
                a.give(d, spare if back > spare else back)
        else:
            for d, spare in taken:
                a.give(d, spare)


def run(policy, a, order, urgency, own):
    """Distribute with the named policy (one of config.site.DISTRIBUTIONS)."""
    if policy == "shared":
        shared(a, order, urgency)
    elif policy == "priority":
        priority(a, order, urgency)
    elif policy == "sequential_strict":
        sequential_strict(a, order, urgency, own)
    else:
        sequential_optimized(a, order, urgency)
