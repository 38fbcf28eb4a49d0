"""The one reading of an SMTP path and of the SPF identities taken from it.

RFC 5321 section 4.1.2: `<[@route,@route:]local-part@domain>`, where the local part is a
dot-string or a quoted-string (which may hold '@'), and the domain follows the last '@'
outside quotes.  A source route is dropped (RFC 5321 section 3.3 and appendix C: ignore
it).  Everything that picks a domain out of an address (the identity pyspf evaluates, the
result cache key, headers, logs, whitelists) uses `split_path`, so no two parts of the
milter can disagree on which domain a sender claims.

`malformed_domain` is the one rule for "can this be checked as a domain name" (RFC 7208
section 4.3 for MAIL FROM, section 2.3 for HELO): whatever fails it is never asked of DNS
and never stands in a cache key.
"""

import re
from typing import NamedTuple

# 255 octets on the wire are 253 characters of dotted text (without the root dot)
MAX_DNS_NAME = 253
MAX_LABEL = 63
POSTMASTER = 'postmaster'
# a source route: one or more at-domains, comma-separated, ended by ':'
_SOURCE_ROUTE = re.compile(r'@[^@:,"<>\s]*(?:,@[^@:,"<>\s]*)*:')
# ASCII no label holds: a label has letters, digits, '-' and '_' (found in real host and
# service names); quotes, '@', '\\', '[', space, controls ... make no domain name. Beyond
# ASCII, the IDNA codec judges (an internationalized name).
_NOT_IN_A_LABEL = re.compile('[\x00-\x2c/:-@[-^`{-\x7f]')


class Mailbox(NamedTuple):
    local: str        # as written: a dot-string or a quoted-string with its quotes; '' if none
    domain: str       # as written, after the last '@' outside quotes


def split_path(address):
    """Mailbox of the text between the angle brackets of an SMTP path, or None when no
    '@' stands outside a quoted-string (no domain at all).  A source route is dropped.
    The domain is what follows the last '@' outside quotes; the C milter (libspf2) took the
    last '@' of all, which is the same for every path whose quotes are closed."""
    route = _SOURCE_ROUTE.match(address) if address[:1] == '@' else None
    if route is not None:
        address = address[route.end():]
    if '"' not in address:      # no quoted-string: the last '@' of all (the loop's answer)
        last_at = address.rfind('@')
        return None if last_at < 0 else Mailbox(address[:last_at], address[last_at + 1:])
    last_at = -1
    quoted = escaped = False
    for position, char in enumerate(address):
        if escaped:
            escaped = False
        elif quoted and char == '\\':
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == '@' and not quoted:
            last_at = position
    if quoted:      # a quote never closed: no quoted-string at all; the last '@', as C read it
        last_at = address.rfind('@')
    if last_at < 0:
        return None
    return Mailbox(address[:last_at], address[last_at + 1:])


def ascii_lower(text):
    """Lower-case A-Z only, as C's strtolower does; other characters stay as they are.
    bytes.lower() folds ASCII only, and surrogatepass carries every code point (a
    surrogate-escaped byte too) there and back unchanged: nine times str.translate's speed."""
    return text.encode('utf-8', 'surrogatepass').lower().decode('utf-8', 'surrogatepass')


def mailfrom_identity(address):
    """(local part, domain) of the MAIL FROM identity for `address` (the text between the
    angle brackets), both ASCII-lower-cased; None when there is no domain."""
    mailbox = split_path(address)
    if mailbox is None:
        return None
    return ascii_lower(mailbox.local), ascii_lower(mailbox.domain)


def helo_identity(helo):
    """(local part, domain) of the HELO identity: `postmaster` at the HELO name as given
    (RFC 7208 section 2.3); whether that name can be checked is malformed_domain's call."""
    return POSTMASTER, ascii_lower(helo)


def domain_key(domain):
    """`domain` as two spellings of one DNS name compare: A-Z lower-cased, without a final
    dot, an internationalized name in its A-label (xn--) form, as DNS is asked for it; a
    name the IDNA codec refuses stays as it is (SPF checks it as `none`)."""
    name = ascii_lower(domain[:-1] if domain.endswith('.') else domain)
    try:
        name.encode('ascii')
    except UnicodeError:
        try:
            return ascii_lower(name.encode('idna').decode('ascii'))
        except UnicodeError:
            return name
    return name


def identity_text(local, domain):
    """The identity as one address, `local@domain` (RFC 7208's <sender>)."""
    return '%s@%s' % (local, domain)


def malformed_domain(domain):
    """Why `domain` cannot be a DNS domain name to check (RFC 7208 section 4.3: a label
    over 63 octets, an empty label, not multi-label, a numeric top label, characters no
    host name holds or a '-' at a label's edge, invalid IDNA, over 255 octets), or None
    when it can."""
    name = domain[:-1] if domain.endswith('.') else domain
    labels = name.split('.')
    if len(labels) < 2:
        return 'not a multi-label domain name'
    return _name_problem(name, labels, numeric_top_label=False)


def is_host_name(name, numeric_top_label=True):
    """A host name as a HELO may give it: one label or more, each as malformed_domain
    reads labels, and an optional final dot. smtp.helo may name it (RFC 8601); SPF
    checks it only where malformed_domain finds nothing wrong.  `numeric_top_label`
    False: a last label of digits alone (what an IPv4 address ends in) is not one."""
    name = name[:-1] if name.endswith('.') else name
    return _name_problem(name, name.split('.'), numeric_top_label) is None


def _name_problem(name, labels, numeric_top_label):
    if not all(labels):
        return 'empty label'
    if any(len(label) > MAX_LABEL for label in labels):
        return 'label longer than 63 octets'
    bad = _NOT_IN_A_LABEL.search(name)
    if bad is not None:
        return 'not a domain name (%r in a label)' % bad.group()
    if any(label[0] == '-' or label[-1] == '-' for label in labels):
        return 'not a domain name (a label starts or ends with \'-\')'
    if labels[-1].isdigit() and not numeric_top_label:
        return 'not a domain name (numeric top label)'
    try:
        name.encode('ascii')
    except UnicodeError:
        try:
            encoded = [label.encode('idna').decode('ascii') for label in labels]
        except UnicodeError as exc:
            return 'not a valid internationalized domain name (%s)' % exc
        # nameprep maps some characters to ASCII no label may hold (U+00A0 to a space)
        if any(_NOT_IN_A_LABEL.search(label) for label in encoded):
            return 'not a valid internationalized domain name (maps to %r)' % '.'.join(encoded)
        octets = [len(label) for label in encoded]
    else:
        octets = [len(label) for label in labels]   # the idna codec is slow, and a no-op here
    if max(octets) > MAX_LABEL:
        return 'label longer than 63 octets'
    if sum(octets) + len(octets) - 1 > MAX_DNS_NAME:
        return 'longer than 255 octets'
    return None
