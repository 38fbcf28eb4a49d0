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


def enable(size=DEFAULT_SIZE):
    """Give the default resolver a bounded cache of `size` answers; returns the cache."""
    import dns.resolver
    resolver = dns.resolver.get_default_resolver()
    resolver.cache = dns.resolver.LRUCache(size)
    return resolver.cache
