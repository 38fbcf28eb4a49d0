"""SPF evaluation through pyspf and dnspython, inside a total time budget.

pyspf's `querytime` bounds the whole check: every DNS lookup gets at most what
is left of the budget, and a check that runs out is a temperror.  The budget
defaults below Postfix's 30 s milter_command_timeout, so a slow DNS gives a
temperror the policy can act on, never an MTA timeout.
"""

import logging
import warnings
from typing import NamedTuple, Optional

import spf

log = logging.getLogger('smf-spf')

# what C evaluates for a domain without a record (logged only, never decides)
BEST_GUESS_RECORD = 'v=spf1 a/24 mx/24 ptr ?all'


class SpfResult(NamedTuple):
    result: str                      # RFC 7208 result name
    explanation: str = ''
    best_guess: Optional[str] = None


def use_nameservers(nameservers, timeout):
    """Point dnspython's default resolver (which pyspf uses) at these servers.

    Process-wide by nature: pyspf resolves through dnspython's default resolver.
    """
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = list(nameservers)
    resolver.timeout = min(resolver.timeout, timeout)
    resolver.lifetime = timeout
    dns.resolver.default_resolver = resolver
    return resolver


def preload_dns_modules():
    """Import the record-type modules dnspython loads lazily, while they are readable
    (before the switch to the unprivileged User)."""
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    for name in ('A', 'AAAA', 'MX', 'PTR', 'TXT', 'SPF', 'CNAME', 'NS', 'SOA'):
        dns.rdata.get_rdata_class(dns.rdataclass.IN, dns.rdatatype.from_text(name))


class SpfChecker(object):
    def __init__(self, timeout, receiver='localhost', best_guess=True):
        self.timeout = timeout
        self.receiver = receiver
        self.best_guess = best_guess

    def check(self, ip, sender, helo, timeout=None):
        """SpfResult for the identity `sender` (postmaster@helo for empty senders), within
        `timeout` seconds (default: the checker's, SPFTimeout)."""
        timeout = self.timeout if timeout is None else timeout
        try:
            with warnings.catch_warnings():
                # dnspython 2 deprecates query() in favour of resolve(); 1.16 has only query()
                warnings.simplefilter('ignore', DeprecationWarning)
                query = spf.query(ip, sender, helo, receiver=self.receiver,
                                  timeout=timeout, querytime=timeout)
                result, _code, explanation = query.check()
                guess = None
                if result == 'none' and self.best_guess:
                    guess = query.best_guess(BEST_GUESS_RECORD)[0]
        except Exception as exc:  # pyspf raising on odd input must not cost a message
            log.warning('SPF check failed for ip=%s, sender=%s, helo=%s: %s: %s',
                        ip, sender, helo, type(exc).__name__, exc)
            return SpfResult('temperror', 'internal error: %s' % type(exc).__name__)
        return SpfResult(result, explanation or '', guess)


# distinct results kept for sharing: the same few results (pass with pyspf's fixed
# explanation, ...) make up nearly every cache entry
MAX_SHARED_RESULTS = 4096


class CachedChecker(object):
    """SPF results through the result cache: fresh ones are stored, temperrors never."""

    def __init__(self, checker, cache, is_cacheable):
        self.checker = checker
        self.cache = cache
        self.is_cacheable = is_cacheable
        self._shared = {}

    def _share(self, result):
        """One object for equal results, so cache entries do not each hold a copy."""
        shared = self._shared.get(result)
        if shared is not None:
            return shared
        if len(self._shared) < MAX_SHARED_RESULTS:
            self._shared.setdefault(result, result)
        return result

    def evaluate(self, key, ip, sender, helo, timeout=None):
        """(SpfResult, from_cache); a fresh check within `timeout` seconds (None: the
        checker's own)."""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit, True
        fresh = self.checker.check(ip, sender, helo, timeout=timeout)
        if self.cache is not None and self.is_cacheable(fresh.result):
            self.cache.put(key, self._share(fresh))
        return fresh, False
