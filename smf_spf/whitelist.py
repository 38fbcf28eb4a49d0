"""What a WhitelistPTR, WhitelistFrom or WhitelistTo pattern means, and how that differs
from smf-spf 2.x (see docs/whitelists.md).

A host name pattern (WhitelistPTR, and a WhitelistFrom/To pattern without '@') matches by
whole labels: `partner.example` is that name and every name under it, `.partner.example`
only the names under it; `evilpartner.example` is neither.  An address pattern (with an
'@' outside quotes) is read as smf_spf.mailbox.split_path reads a path, and its parts are
compared with the sender's (or recipient's) parts: `user@partner.example` that mailbox,
`@partner.example` any local part at exactly that domain, `newsletter@` that local part at
any domain, `@` every address.  Both sides are ASCII-lower-cased (as C's strtolower did);
nothing else is normalized, and the raw text of a path is never searched.

The smf-spf C milter searched the raw text instead (a pattern anywhere in the lower-cased
address, a host name pattern at the end of the client's name), so a quoted local part
(`"x@partner.example"@victim.example`) or a look-alike name (`evilpartner.example`)
satisfied a whitelist and skipped the SPF check of any domain.  `narrowed_*` give, for the
config check, a sender or host that smf-spf whitelisted and a pattern here no longer does.

The compiled matchers (pyx/_match_c.pyx) and their twins (smf_spf/_match_py.py) both read
patterns with `read_address_pattern`; `name_matches` and `address_matches` are the
definition the twins apply pattern by pattern.
"""

from typing import NamedTuple, Optional

from smf_spf.mailbox import ascii_lower, split_path


class AddressPattern(NamedTuple):
    local: Optional[str]     # ASCII-lower-cased; None: any local part
    domain: Optional[str]    # ASCII-lower-cased; None: any domain
    by_labels: bool          # no '@': `domain` is a name pattern (name_matches)


def read_address_pattern(text):
    """The AddressPattern of a WhitelistFrom/To value."""
    folded = ascii_lower(text)       # case moves no '@' or quote: fold first, once
    mailbox = split_path(folded)
    if mailbox is None:
        return AddressPattern(None, folded, True)
    return AddressPattern(mailbox.local or None, mailbox.domain or None, False)


def as_address_pattern(pattern):
    """pattern itself when it is an AddressPattern, else its reading."""
    return pattern if isinstance(pattern, AddressPattern) else read_address_pattern(pattern)


def name_matches(pattern, name):
    """Whether the host or domain name matches the name pattern (both ASCII-lower-cased):
    `.p` the names under p, any other p itself and the names under it, by whole labels."""
    if pattern.startswith('.'):
        return name.endswith(pattern)
    return name == pattern or name.endswith('.' + pattern)


def address_matches(pattern, local, domain):
    """Whether the mailbox (local part and domain, ASCII-lower-cased) matches the
    AddressPattern."""
    if pattern.by_labels:
        return name_matches(pattern.domain, domain)
    return ((pattern.local is None or pattern.local == local)
            and (pattern.domain is None or pattern.domain == domain))


def sorted_address_patterns(patterns):
    """(every address matches, local parts at any domain, {domain: True for any local part
    or the set of local parts}, name patterns, how many patterns were given): the tables
    the compiled AddressMatcher looks up.  A pattern is a value as written or its
    AddressPattern (read once by whoever also needs the reading)."""
    everything = False
    locals_at_any_domain = set()
    domains = {}
    names = []
    count = 0
    for text in patterns:
        count += 1
        pattern = as_address_pattern(text)
        if pattern.by_labels:
            names.append(pattern.domain)
        elif pattern.domain is None:
            if pattern.local is None:
                everything = True
            else:
                locals_at_any_domain.add(pattern.local)
        elif pattern.local is None:
            domains[pattern.domain] = True
        else:
            at_domain = domains.setdefault(pattern.domain, set())
            if at_domain is not True:
                at_domain.add(pattern.local)
    return (everything, frozenset(locals_at_any_domain),
            dict((domain, at if at is True else frozenset(at)) for domain, at in domains.items()),
            names, count)


# -- what smf-spf whitelisted that these patterns do not ------------------------------------

_VICTIMS = ('victim.example', 'victim.test')


def narrowed_host(pattern):
    """A client host name smf-spf's WhitelistPTR `pattern` (the end of the name) accepted
    and ours does not, or None when both read it alike (a pattern with a leading dot)."""
    folded = ascii_lower(pattern)
    example = 'evil' + folded       # ends with the pattern, never at a label's edge
    return None if name_matches(folded, example) else example


def _candidates(pattern, reading):
    """(address holding the folded `pattern`, its local part and domain when its form makes
    them plain, else None and None), the likeliest example first."""
    plain = '"' not in pattern and '\\' not in pattern
    if reading.by_labels:
        local = ('ceo' if pattern.startswith('.') else 'ceo.') + pattern   # in the local part
        for victim in _VICTIMS:
            yield ('%s@%s' % (local, victim),) + ((local, victim) if plain else (None, None))
        yield 'someone@evil' + pattern, None, None                          # a look-alike
        return
    # the pattern in a quoted local part, or with more before and after it
    local = '"%s%s"' % ('x' if pattern.startswith('@') else '', pattern)
    quoted = [('%s@%s' % (local, victim), local, victim) for victim in _VICTIMS] if plain else []
    longer = [('x%s%s%s' % (pattern, '' if reading.domain is None else '.', victim), None, None)
              for victim in _VICTIMS]
    for candidate in (longer + quoted if reading.domain is None else quoted + longer):
        yield candidate


def narrowed_address(pattern, reading=None):
    """A sender (recipient) address that holds `pattern` (so smf-spf's WhitelistFrom/To
    whitelisted it: it searched the lower-cased address text) and that ours does not
    match, or None.  reading: the pattern's AddressPattern, when already read."""
    reading = reading or read_address_pattern(pattern)
    # candidates hold the folded pattern and lower-case text only: no folding below
    for address, local, domain in _candidates(ascii_lower(pattern), reading):
        if local is None:
            mailbox = split_path(address)
            if mailbox is None:
                continue
            local, domain = mailbox
        if not address_matches(reading, local, domain):
            return address
    return None


def ptr_note(pattern):
    """The config check's note for a WhitelistPTR line that narrowed, or None."""
    host = narrowed_host(pattern)
    if host is None:
        return None
    return ('WhitelistPTR %s: matches %s and the names under it, by whole labels; smf-spf '
            'matched the end of the name, so it also accepted a client named %s'
            % (pattern, pattern.strip('.') or pattern, host))


def address_note(key, pattern, reading=None):
    """The config check's note for a WhitelistFrom/To line that narrowed, or None.
    reading: the pattern's AddressPattern, when already read."""
    reading = reading or read_address_pattern(pattern)
    address = narrowed_address(pattern, reading)
    if address is None:
        return None
    if reading.by_labels:
        what = ('the domains under %s, by whole labels' % reading.domain[1:]
                if reading.domain.startswith('.')
                else 'the domain %s and the domains under it, by whole labels' % reading.domain)
    elif reading.domain is None:
        what = 'the local part %s at any domain' % reading.local
    elif reading.local is None:
        what = 'any local part at exactly %s' % reading.domain
    else:
        what = 'exactly %s@%s' % (reading.local, reading.domain)
    return ('%s %s: matches %s, as the address is parsed; smf-spf searched the address text, '
            'so it also whitelisted <%s>' % (key, pattern, what, address))
