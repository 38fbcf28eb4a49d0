"""A DNS answer cache shared by every connection.

pyspf resolves through dnspython's default resolver, so dnspython's own bounded
LRU cache on that resolver serves every SPF check: the include chains most
sender domains share (a provider's _spf records) are fetched once per TTL, not
once per message.  dnspython honours each answer's TTL; dnspython 2 also keeps
NXDOMAIN and no-data answers for their negative TTL.
dnspython 1.16 keeps no-data answers too, as smf_spf.dnslookup asks for them.
"""

# answers (RRsets with their messages) kept; a few kilobytes each
DEFAULT_SIZE = 10000
# A cached answer is about 23 objects the cyclic garbage collector tracks, and they are
# most of the heap's long-lived ones.  CPython's full collection scans them all (about
# 0.1 s at 10,000 answers, the interpreter lock held: every session waits) and starts
# once a quarter as many again have reached the oldest generation, which each fresh
# check adds to: about 40 us per fresh check.  Full collections are considered once per
# this many collections of the middle generation (CPython's default: 10).
FULL_COLLECTION_EVERY = 1000


def enable(size=DEFAULT_SIZE):
    """Give the default resolver a bounded cache of `size` answers; returns the cache."""
    import dns.resolver
    resolver = dns.resolver.get_default_resolver()
    resolver.cache = dns.resolver.LRUCache(size)
    return resolver.cache


def collect_rarely():
    """Consider a full garbage collection only after FULL_COLLECTION_EVERY collections of
    the middle generation (process-wide: the daemon calls it once, at start)."""
    import gc
    youngest, middle, _ = gc.get_threshold()
    gc.set_threshold(youngest, middle, FULL_COLLECTION_EVERY)
