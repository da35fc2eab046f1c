"""Task priorities: what a kind may ask for, and the steps the broker keeps apart.

With the Redis broker, 0 is the highest priority: a worker always takes the most urgent
message first. Kombu's Redis transport keeps a list per step, so whoever sends and whoever
consumes must agree on the steps, or messages land in lists nobody reads.

A kind asks for URGENT or ROUTINE. PROMOTED is what a routine build becomes once it has
waited past its promotion delay (aging): ahead of every routine build, behind the urgent
ones, so waiting routine builds never starve and never crowd out the urgent ones either.
"""

URGENT, PROMOTED, ROUTINE = 0, 3, 6
PRIORITY_STEPS = [URGENT, PROMOTED, ROUTINE]
NAMES = {URGENT: "urgent", PROMOTED: "promoted", ROUTINE: "routine"}  # for operators
