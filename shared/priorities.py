"""Task priorities: what a kind may ask for, and the steps the broker keeps apart.

With the Redis broker, 0 is the highest priority: a worker always takes the most urgent
message first. Kombu's Redis transport keeps a list per step, so whoever sends and whoever
consumes must agree on the steps, or messages land in lists nobody reads.
"""

URGENT, ROUTINE = 0, 6
PRIORITY_STEPS = [URGENT, ROUTINE]
