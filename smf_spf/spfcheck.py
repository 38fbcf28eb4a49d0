"""SPF evaluation through pyspf and dnspython, inside a total time budget.

Every check has a deadline (now + SPFTimeout): each DNS lookup gets what is left
of it and a check that runs out is a temperror.  The budget defaults below
Postfix's 30 s milter_command_timeout, so a slow DNS gives a temperror the
policy can act on, never an MTA timeout; Sendmail's T=R: must be raised to match
(config.mta_timeout_rule, which -t and the start-up log state).
"""

import logging
import re
import time
from typing import NamedTuple

import spf

from smf_spf.config import DEFAULT_VOID_LIMIT
from smf_spf.mailbox import POSTMASTER, identity_text, malformed_domain
from smf_spf.outcomes import FAIL, NONE, TEMPERROR
from smf_spf.c_rules import shown

log = logging.getLogger('smf-spf')

# macros on data the result cache key (client IP, sender domain) does not hold
_UNKEYED_MACRO = re.compile(r'%\{[lsh]', re.IGNORECASE)
# dnspython 2 sleeps 0.1 s after a round of unanswered tries before it notices that
# the lookup's lifetime is over: each lookup ends this much before the deadline
DNS_BACKOFF_ROOM = 0.1


class SpfResult(NamedTuple):
    result: str                      # RFC 7208 result name
    explanation: str = ''
    # the record expanded %{l}, %{s} or %{h}: the result holds only for this
    # local part and HELO, not for every sender of the domain at this IP
    uses_sender_details: bool = False


def use_nameservers(nameservers, timeout):
    """Point dnspython's default resolver (which pyspf uses) at these servers, or
    at /etc/resolv.conf's when there are none, with tries that may use the budget.

    A try waits for its share of the budget, not dnspython's 2 s, so a slow but
    working resolver is answered within SPFTimeout.  Process-wide by nature:
    pyspf resolves through dnspython's default resolver, by smf_spf.dnslookup's hook.
    """
    import dns.resolver
    from smf_spf import dnslookup
    dnslookup.install()
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
    else:
        try:
            resolver = dns.resolver.Resolver()
        except Exception as exc:  # no resolv.conf: keep dnspython's own default
            log.warning('cannot read the system resolver configuration: %s', exc)
            return dns.resolver.default_resolver
    resolver.timeout = float(timeout) / max(1, len(resolver.nameservers))
    resolver.lifetime = timeout
    dns.resolver.default_resolver = resolver
    return resolver


def preload_dns_modules():
    """Import what dnspython and the codecs load lazily, while it is readable
    (before the switch to the unprivileged User): the module of every record type
    dnspython knows (an answer may carry any: a DNAME before a CNAME, an RRSIG) and
    the IDNA/punycode codecs a non-ASCII domain needs."""
    import codecs
    import encodings.idna
    import encodings.punycode
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    if hasattr(dns.rdata, 'load_all_types'):
        # and a type it does not know is read as generic data, with no import tried
        dns.rdata.load_all_types(disable_dynamic_load=True)
    else:                       # dnspython 1.x: every type it has a name for
        for rdtype in sorted(dns.rdatatype._by_value):
            dns.rdata.get_rdata_class(dns.rdataclass.IN, rdtype)
    for codec in ('idna', 'punycode', 'ascii', 'utf-8'):
        codecs.lookup(codec)
    dns.name.from_text(u'b\u00fccher.example').to_text()
    dns.name.from_text(u'xn--bcher-kva.example').to_unicode()
    malformed_domain(u'b\u00fccher.example')
    _dns_errors()


class _DeadlineQuery(spf.query):
    """pyspf's query, held to a wall-clock deadline, with the RFC 7208 readings
    pyspf does not make for us:

    - every DNS lookup gets what is left until the deadline (pyspf only counts the
      time spent inside lookups, so a check could run over);
    - `exp=` is fetched only with `fetch_exp` (a RejectReason that shows %{exp}), and
      then only once the result is a fail, as RFC 7208 section 6.2 has it, from the
      record that decided (pyspf fetches it while it reads each record, so an
      unanswered exp= lookup would cost every result its budget);
    - a DNS error on the PTR lookup fails ptr, on one name's address lookup skips
      that name (5.5);
    - a name dnspython cannot resolve at all (too long, bad IDNA, CNAME chain
      too long) is a void lookup, as pyspf treats bad labels, not a crash;
    - the void lookup limit (RFC 7208 section 4.6.4) is this query's `void_limit`
      (SPFVoidLimit), counted where pyspf counts, without pyspf's module-wide
      MAX_VOID_LOOKUPS;
    - macro expansion of %{l}, %{s}, %{h} is noted for the result cache.
    """

    def __init__(self, ip, identity, helo, deadline, void_limit=DEFAULT_VOID_LIMIT,
                 fetch_exp=False, **kwargs):
        spf.query.__init__(self, ip, identity_text(*identity), helo, **kwargs)
        # the identity as smf_spf.mailbox read it: pyspf would split at the first '@'
        self.l = identity.local or POSTMASTER    # RFC 7208 section 4.3
        self.o = self.d = identity.domain
        self.deadline = deadline
        self.void_limit = void_limit
        self.fetch_exp = fetch_exp
        self.uses_sender_details = False
        self._depth = None       # include depth of the record being read
        self._exp = None         # (domain-spec, domain) of the exp= that counts

    def check(self, record=None):
        result, code, explanation = spf.query.check(self, record)
        if result == FAIL and self._exp is not None:
            explanation = self._explanation(*self._exp) or explanation
        return result, code, explanation

    def check1(self, record, domain, recursion):
        outer, self._depth = self._depth, recursion
        if recursion == 0:
            self._exp = None    # the top record, or a redirect's target: forget exp= before
        try:
            return spf.query.check1(self, record, domain, recursion)
        finally:
            self._depth = outer

    def expand(self, s, stripdot=True):
        if _UNKEYED_MACRO.search(s):
            self.uses_sender_details = True
        return spf.query.expand(self, s, stripdot)

    def get_explanation(self, spec):
        """Called by pyspf as it reads an exp= modifier: only noted (an include's does
        not count, RFC 7208 section 6.2); fetched by check() once the result is known."""
        if self.fetch_exp and self._depth == 0:
            self._exp = (spec, self.d)
        return None

    def _explanation(self, spec, domain):
        """The explanation string at `spec`, its macros expanded for the record of
        `domain`, in what is left of the deadline; None when there is none (no answer,
        not one TXT record, not ASCII, a bad macro: RFC 7208 section 6.2)."""
        outer, self.d = self.d, domain
        try:
            return spf.query.get_explanation(self, spec)
        except (spf.TempError, spf.PermError):
            return None
        finally:
            self.d = outer

    def validated_ptrs(self):
        try:
            names = self.dns_ptr(self.i)[:spf.MAX_PTR if self.strict else spf.MAX_PTR * 4]
        except spf.TempError:
            return []    # 5.5: an error on the PTR lookup itself: ptr does not match
        validated = []
        for name in names:
            try:
                addresses = self.dns_a(name, self.A)
            except spf.TempError:
                continue
            if self.cidrmatch(addresses, self.cidrmax):
                validated.append(name)
        return validated

    def dns(self, name, qtype, cnames=None, ignore_void=False):
        remaining = self.deadline - time.monotonic() - DNS_BACKOFF_ROOM
        if remaining <= 0:
            raise spf.TempError('DNS Error: exceeded max query lookup time')
        self.querytime = self.timeout = remaining
        bad_name, chain_too_long = _dns_errors()
        try:
            # pyspf's own count (against its module-wide limit) is left out: ours follows
            result = spf.query.dns(self, name, qtype, cnames, ignore_void=True)
        except chain_too_long:
            # a CNAME loop: what a recursive resolver answers with SERVFAIL
            raise spf.TempError('DNS CNAME chain too long or looping at %s' % name)
        except bad_name as exc:
            log.debug('DNS %s %s cannot be asked (%s): no data', name, qtype, exc)
            result = []
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > self.void_limit:
                raise spf.PermError('Void lookup limit of %d exceeded' % self.void_limit)
        return result


_DNS_ERRORS = []


def _dns_errors():
    """(no such name can be asked, the answer's CNAME chain is too long) as dnspython
    classifies them; dnspython 1.16 has no ChainTooLong (it answers NoAnswer)."""
    if not _DNS_ERRORS:
        import dns.message
        import dns.name
        bad_name = (UnicodeError, dns.name.NameTooLong, dns.name.LabelTooLong,
                    dns.name.EmptyLabel, dns.name.IDNAException, dns.name.BadEscape)
        _DNS_ERRORS.append((bad_name, getattr(dns.message, 'ChainTooLong', ())))
    return _DNS_ERRORS[0]


class SpfChecker(object):
    query_class = _DeadlineQuery

    def __init__(self, timeout, receiver='localhost', void_limit=DEFAULT_VOID_LIMIT,
                 fetch_exp=False):
        self.timeout = timeout
        self.receiver = receiver
        self.void_limit = void_limit
        self.fetch_exp = fetch_exp

    def check(self, ip, identity, helo, timeout=None):
        """SpfResult for `identity`, a smf_spf.mailbox.Mailbox (postmaster@helo for empty
        senders), within `timeout` seconds (default: the checker's, SPFTimeout).  A domain
        that cannot be a DNS name is `none` without any lookup (RFC 7208 section 4.3)."""
        timeout = self.timeout if timeout is None else timeout
        try:
            problem = malformed_domain(identity.domain)
            if problem is not None:
                return SpfResult(NONE, 'malformed domain: %s' % problem)
            query = self.query_class(ip, identity, helo, time.monotonic() + timeout,
                                     void_limit=self.void_limit, fetch_exp=self.fetch_exp,
                                     receiver=self.receiver,
                                     timeout=timeout, querytime=timeout)
            result, _code, explanation = query.check()
        except Exception as exc:  # pyspf raising on odd input must not cost a message
            log.warning('SPF check failed for ip=%s, sender=%s, helo=%s: %s: %s',
                        ip, shown(identity_text(*identity)), shown(helo), type(exc).__name__,
                        shown(str(exc)))
            return SpfResult(TEMPERROR, 'internal error: %s' % type(exc).__name__)
        return SpfResult(result, explanation or '', query.uses_sender_details)


# distinct results kept for sharing: the same few results (pass with pyspf's fixed
# explanation, ...) make up nearly every cache entry
MAX_SHARED_RESULTS = 4096


class CachedChecker(object):
    """SPF results through the result cache: fresh ones are stored, temperrors never.

    `key` names what most results depend on (client IP, sender domain).  A result
    whose record expanded %{l}, %{s} or %{h} is stored under `detailed_key` (which
    adds sender and HELO) and its entry under `key` only says so; without a
    `detailed_key` such a result is not stored at all.
    """

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

    def evaluate(self, key, ip, identity, helo, detailed_key=None, timeout=None):
        """(SpfResult, from_cache) for `identity` (a smf_spf.mailbox.Mailbox); a fresh
        check within `timeout` seconds (None: the checker's own)."""
        cache = self.cache
        if cache is not None:
            hit = cache.get(key)
            if hit is not None and hit.uses_sender_details:
                hit = cache.get(detailed_key) if detailed_key is not None else None
            if hit is not None:
                return hit, True
        fresh = self.checker.check(ip, identity, helo, timeout=timeout)
        if cache is not None and self.is_cacheable(fresh.result):
            fresh = self._share(fresh)
            if not fresh.uses_sender_details:
                cache.put(key, fresh)
            elif detailed_key is not None:
                cache.put(key, fresh)
                cache.put(detailed_key, fresh)
        return fresh, False
