"""pyspf's DNS hook (spf.DNSLookup) answered by dnspython's default resolver, the short way.

pyspf's own hook goes through the module-level dns.resolver.query(), which dnspython 2
deprecates (a warning raised and filtered on every lookup), has a no-data answer raised as
NoAnswer only to catch it again, and hands a relative name to the resolver, so a resolver
configured from /etc/resolv.conf tries its search domains after an NXDOMAIN.  This hook
asks the same resolver (its nameservers, retries, per-try timeouts, TCP fallback and the
answer cache smf_spf.dnscache gives it) for the absolute name, takes a no-data answer as
an empty one, and returns what pyspf's hook returns: ((name, qtype), value) pairs with
the values pyspf's mechanisms expect, [] for NXDOMAIN and no data, TempError for a
timeout or no usable nameserver.
"""

import inspect

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf

# dnspython 1.16 (EL7) has only Resolver.query(), which dnspython 2 deprecates for resolve()
_ASK = 'resolve' if hasattr(dns.resolver.Resolver, 'resolve') else 'query'
# pyspf's own hook teaches dnspython the SPF type when it lacks it; asked as a number
# here, so the name is never needed
_RDTYPES = {'A': dns.rdatatype.A, 'AAAA': dns.rdatatype.AAAA, 'MX': dns.rdatatype.MX,
            'PTR': dns.rdatatype.PTR, 'TXT': dns.rdatatype.TXT, 'SPF': 99}


def _address(rdata):
    return rdata.address


def _exchange(rdata):
    return (rdata.preference, rdata.exchange)


def _target(rdata):
    return rdata.target.to_text(True)


def _strings(rdata):
    return rdata.strings


_VALUE = {'A': _address, 'AAAA': _address, 'MX': _exchange, 'PTR': _target,
          'TXT': _strings, 'SPF': _strings}


def lookup(name, qtype, strict=True, timeout=30):
    """spf.DNSLookup: the records of type `qtype` at `name` (CNAMEs followed), as
    [((name, qtype), value)], within `timeout` seconds.  `strict` is pyspf's and unused."""
    value = _VALUE.get(qtype)
    if value is None:          # pyspf asks for nothing else; its own hook answers [] too
        return []
    resolver = dns.resolver.get_default_resolver()
    try:
        qname = dns.name.from_text(name)     # absolute, read as pyspf's hook reads it
        answer = getattr(resolver, _ASK)(qname, _RDTYPES[qtype], lifetime=timeout,
                                         raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise spf.TempError('DNS ' + str(exc))
    rrset = answer.rrset
    if rrset is None:
        return []
    key = (name, qtype)
    return [(key, value(rdata)) for rdata in rrset]


def install():
    """Make pyspf resolve through `lookup` (process-wide: pyspf has one hook), where
    dnspython can bound a lookup by a lifetime.  dnspython 1.15 (el8) cannot: there pyspf
    keeps the distribution's own hook (EPEL 8 patches pyspf for 1.15)."""
    asks = inspect.signature(getattr(dns.resolver.Resolver, _ASK)).parameters
    if 'lifetime' in asks and 'raise_on_no_answer' in asks:
        spf.DNSLookup = lookup
