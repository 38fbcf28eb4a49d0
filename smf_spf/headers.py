"""Every byte the milter hands to another program: Authentication-Results (RFC 8601),
Received-SPF (RFC 7208 section 9.1), the tagged Subject, X-SPF-Original-To, and SMTP reply
texts (RFC 5321).

Values come from the SMTP client (HELO, MAIL FROM) and may hold anything the MTA lets
through, so every value is written the way the receiving grammar allows: as it is when it
already is a token, dot-atom or addr-spec (the C milter's layout), quoted otherwise, and
left out when it cannot be written at all (control characters, bytes that are not UTF-8).
"""

import base64
import re

from smf_spf.ipaddr import pton_address
from smf_spf.mailbox import is_host_name
from smf_spf.outcomes import (FAIL, NEUTRAL, PASS, PERMERROR, RECEIVED_SPF_WORD, SOFTFAIL,
                              TEMPERROR)

# -- lexical pieces (RFC 5322 section 3.2, RFC 2045 section 5.1, RFC 6376 section 3.5) ----

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_ATOM = re.compile(r'[%s]+(?:\.[%s]+)*\Z' % (_ATEXT, _ATEXT))
# RFC 2045 token: printable US-ASCII except tspecials ()<>@,;:\"/[]?=
_TOKEN = re.compile(r'[!#$%&\'*+.^_`{|}~0-9A-Za-z-]+\Z')
_QUOTED_LOCAL = re.compile(r'"(?:[^"\\]|\\.)*"\Z')
# what a quoted-string may carry: printable ASCII, space, tab, and UTF-8 beyond ASCII
# (RFC 6532); never other control characters nor undecodable bytes (surrogates)
_UNQUOTABLE = re.compile('[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]')
# Authentication-Results stays ASCII: its parsers (RFC 8601 predates RFC 8616) expect it
_ASCII_QUOTABLE = re.compile('[\t\x20-\x7e]*\\Z')
_SURROGATE = re.compile('[\ud800-\udfff]')


def representable(text):
    """True when text can be written into a header field at all."""
    return _UNQUOTABLE.search(text) is None


def quoted_string(text):
    """RFC 5322 quoted-string of text (which must be representable)."""
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def _is_dot_atom(text):
    return _DOT_ATOM.match(text) is not None


def is_address_literal(text):
    """[IPv4] or [IPv6:addr], as RFC 5321 section 4.1.3 writes an address in HELO."""
    if len(text) < 3 or text[0] != '[' or text[-1] != ']':
        return False
    inner = text[1:-1]
    if inner[:5].lower() == 'ipv6:':
        address, version = pton_address(inner[5:]), 6
    else:
        address, version = pton_address(inner), 4
    return address is not None and address.version == version


def is_helo_name(helo):
    """An ASCII host name (smf_spf.mailbox's one rule for names; Authentication-Results
    stays ASCII) or an address literal: what smtp.helo may name."""
    if _ASCII_QUOTABLE.match(helo) is not None and is_host_name(helo):
        return True
    return is_address_literal(helo)


# -- Authentication-Results (RFC 8601) ------------------------------------------

def _ar_value(text):
    """RFC 8601 `value` (token / quoted-string), or None."""
    if _TOKEN.match(text):
        return text
    if _ASCII_QUOTABLE.match(text):
        return quoted_string(text)
    return None


def _ar_mailfrom(local, domain):
    """(pvalue, must_end_resinfo) for smtp.mailfrom of the identity local@domain, or
    (None, False).

    `local@domain` as it is when it is an addr-spec; a local part that is not a dot-atom
    quoted (`"a;b"@example.com`); `@domain` (RFC 8601's form without local part) when the
    local part cannot be written in ASCII; the whole address as one quoted-string when its
    domain is no dot-atom. That last form goes at the end of the resinfo, where parsers
    that stop a quoted pvalue only at `;` (the `authres` package) read it right too."""
    sender = '%s@%s' % (local, domain)
    if _DOT_ATOM.match(domain):
        if local in ('', '""'):
            return '@' + domain, False
        if _is_dot_atom(local) or _QUOTED_LOCAL.match(local) and _ASCII_QUOTABLE.match(local):
            return sender, False
        if local and _ASCII_QUOTABLE.match(local):
            return '%s@%s' % (quoted_string(local), domain), False
        return '@' + domain, False
    if _ASCII_QUOTABLE.match(sender):
        return quoted_string(sender), True
    return None, False


def authserv_id_value(authserv_id):
    """authserv-id as a value; characters no header can carry are dropped (admin's text)."""
    return _ar_value(authserv_id) or quoted_string(
        re.sub(r'[^\t\x20-\x7e]', '', authserv_id))


def _helo_pvalue(helo):
    """smtp.helo's value: a domain name or an address literal, else None (also for
    None: no HELO)."""
    return _ar_value(helo) if helo is not None and is_helo_name(helo) else None


def authentication_results(authserv_id, result, identity, helo, trusted_forwarder_ip=None,
                           helo_check=None):
    """RFC 8601 value: one spf resinfo; temperror and permerror are written as such
    (C wrote none). `identity` is the (local part, domain) checked, as smf_spf.mailbox
    read it. `smtp.helo` only for a domain name or an address literal (helo None: the
    client gave no HELO).

    At most one property is a whole quoted-string, and it comes last; when both would be
    (an address-literal HELO and an address whose domain is no dot-atom), the one naming
    the identity checked stays: smtp.helo for an empty sender (postmaster@HELO).

    What policy beyond C adds: a `policy.trusted-forwarder` property when a
    TrustedForwarder's mail was not acted on (first when the last property is quoted,
    else last), and with helo_check, (result, HELO name), the HELO identity's own resinfo
    after MAIL FROM's (parsers that want one spf result take the first); left out for a
    HELO that is no domain name or address literal."""
    local, domain = identity
    mailfrom, mailfrom_quoted = _ar_mailfrom(local, domain)
    helo_value = _helo_pvalue(helo)
    helo_quoted = helo_value is not None and helo_value.startswith('"')
    is_helo_identity = (local, domain) == ('postmaster', helo)
    if mailfrom_quoted and (helo_quoted or is_helo_identity):
        # postmaster@<a HELO that is no domain name>: no address a reader could
        # mistake for a sender's (`x@victim.example` as HELO is no victim.example mail)
        if is_helo_identity:
            mailfrom = None
        else:
            helo_value = None
    properties = [('smtp.mailfrom', mailfrom), ('smtp.helo', helo_value)]
    if mailfrom_quoted:
        properties.reverse()
    properties = ['%s=%s' % (name, value) for name, value in properties if value is not None]
    if trusted_forwarder_ip is not None:
        forwarder = 'policy.trusted-forwarder=%s' % _ar_value(trusted_forwarder_ip)
        if properties and properties[-1].endswith('"'):
            properties.insert(0, forwarder)
        else:
            properties.append(forwarder)
    resinfos = [' '.join(['spf=%s' % result] + properties)]
    if helo_check is not None:
        helo_result, helo_name = helo_check
        checked_helo = _helo_pvalue(helo_name)
        if checked_helo is not None:
            resinfos.append('spf=%s smtp.helo=%s' % (helo_result, checked_helo))
    return '; '.join([authserv_id_value(authserv_id)] + resinfos)


_CFWS = re.compile(r'(?:[ \t\r\n]+|\((?:[^()\\]|\\.)*\))*')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TOKEN_PREFIX = re.compile(r'[^ \t\r\n()<>@,;:\\"/\[\]?=]+')


def _skip_cfws(text, position):
    """Position after comments (nested ones too) and white space."""
    while True:
        match = _CFWS.match(text, position)
        position = match.end()
        if position < len(text) and text[position] == '(':
            depth = 0
            while position < len(text):
                char = text[position]
                if char == '\\':
                    position += 1
                elif char == '(':
                    depth += 1
                elif char == ')':
                    depth -= 1
                    if depth == 0:
                        position += 1
                        break
                position += 1
            continue
        return position


def authserv_ids_claimed(value):
    """The authserv-ids an Authentication-Results value can be read as claiming: the
    RFC 8601 reading, and the looser one a consumer may make (first word up to `;`)."""
    position = _skip_cfws(value, 0)
    claimed = set()
    if value[position:position + 1] == '"':
        match = _QUOTED.match(value, position)
        if match:
            claimed.add(re.sub(r'\\(.)', r'\1', match.group(1)))
    else:
        match = _TOKEN_PREFIX.match(value, position)
        if match:
            claimed.add(match.group(0))
    loose = re.split(r'[;\s]', value[position:].lstrip(), 1)[0]
    loose = re.sub(r'\(.*', '', loose).strip('"')
    if loose:
        claimed.add(loose)
    return claimed


# -- Received-SPF (RFC 7208 section 9.1) ------------------------------------------

def _kv_value(text):
    """dot-atom / quoted-string, or None."""
    if _is_dot_atom(text):
        return text
    if representable(text):
        return quoted_string(text)
    return None


def _comment_text(text):
    """Text safe inside a comment: parentheses and backslashes become quoted-pairs,
    characters no header can carry become `?`."""
    text = _UNQUOTABLE.sub('?', text)
    return re.sub(r'([()\\])', r'\\\1', text)


def _comment(result, receiver, sender, ip):
    receiver, sender, ip = _comment_text(receiver), _comment_text(sender), _comment_text(ip)
    if result == PASS:
        return '%s: domain of %s\n\tdesignates %s as permitted sender' % (receiver, sender, ip)
    if result == FAIL:
        return '%s: domain of %s\n\tdoes not designate %s as permitted sender' % (
            receiver, sender, ip)
    if result == SOFTFAIL:
        return '%s: transitioning domain of %s\n\tdoes not designate %s as permitted sender' % (
            receiver, sender, ip)
    if result == NEUTRAL:
        return '%s: %s is neither permitted\n\tnor denied by domain of %s' % (receiver, ip, sender)
    if result == TEMPERROR:
        return '%s: error in processing during lookup of %s' % (receiver, sender)
    if result == PERMERROR:
        return '%s: permanent error in processing domain of %s' % (receiver, sender)
    return '%s: domain of %s\n\tdoes not designate permitted sender hosts' % (receiver, sender)


def angle_bracketed(raw):
    """What stands between the first `<` and the last `>` of an SMTP path argument (empty
    for `<>`), or None without such a pair: the C milter's reading of MAIL FROM and RCPT TO."""
    start = raw.find('<')
    stop = raw.rfind('>')
    if start < 0 or stop < start:
        return None
    return raw[start + 1:stop]


def envelope_from(raw_from):
    """The address MAIL FROM gave, without its angle brackets (empty for `<>`)."""
    address = angle_bracketed(raw_from)
    return raw_from if address is None else address


def received_spf(result, receiver, sender, ip, identity, raw_from, helo):
    """Received-SPF value in the C milter's folded layout. envelope-from is a
    quoted-string (C turned `<` `>` into `"`, which OpenDMARC parses); a key whose value
    cannot be written is left out, and helo when it is None (no HELO)."""
    pairs = [('receiver', _kv_value(receiver)), ('client-ip', _kv_value(ip)),
             ('identity', _kv_value(identity))]
    address = envelope_from(raw_from)
    second = [('envelope-from', quoted_string(address) if representable(address) else None),
              ('helo', _kv_value(helo) if helo is not None else None)]
    line1 = ' '.join('%s=%s;' % pair for pair in pairs if pair[1] is not None)
    line2 = ' '.join('%s=%s;' % pair for pair in second if pair[1] is not None)
    return '%s (%s)\n\t%s\n\t%s' % (RECEIVED_SPF_WORD.get(result, 'None'),
                                    _comment(result, receiver, sender, ip), line1, line2)


# -- Subject tag ------------------------------------------------------------------

_ENCODED_WORD_OCTETS = 42     # 56 base64 characters: with its 19 others, 75 at most


def _unknown_8bit_words(text):
    """RFC 2047 encoded-words (charset `unknown-8bit`, RFC 1428) carrying text's bytes,
    surrogate-escaped ones included, folded one word a line."""
    raw = text.encode('utf-8', 'surrogateescape')
    return '\n\t'.join('=?unknown-8bit?b?%s?=' % base64.b64encode(
        raw[i:i + _ENCODED_WORD_OCTETS]).decode('ascii')
        for i in range(0, len(raw), _ENCODED_WORD_OCTETS))


def tagged_subject(tag, subject):
    """`<tag> <subject>`. A Subject with bytes that are not UTF-8 (surrogate-escaped, as
    pymilter decodes it) cannot be handed back as they are, so its bytes travel as
    encoded-words: nothing is lost."""
    if _SURROGATE.search(subject) is None:
        return '%s %s' % (tag, subject)
    return '%s %s' % (tag, _unknown_8bit_words(subject))


def original_recipient(rcpt):
    """X-SPF-Original-To value: the RCPT TO as given, or its bytes as encoded-words when
    it holds anything a header cannot carry."""
    return rcpt if representable(rcpt) else _unknown_8bit_words(rcpt)


# -- SMTP replies (RFC 5321 sections 4.2 and 4.5.3.1.5) ---------------------------

MAX_REPLY_LINE = 512          # octets, code and CRLF included
_NOT_TEXTSTRING = re.compile('[^\x20-\x7e]')

# what a client learns about a temperror; the detail goes to the log
TEMPERROR_REASONS = ('DNS timeout', 'DNS lookup failed', 'internal error')


def temperror_reason(explanation):
    lowered = (explanation or '').lower()
    if 'internal error' in lowered:
        return 'internal error'
    if 'timeout' in lowered or 'timed out' in lowered:
        return 'DNS timeout'
    return 'DNS lookup failed'


def reply_text(code, xcode, text):
    """Text libmilter's setreply accepts and the MTA sends as one RFC 5321 reply line:
    printable ASCII only, the whole line within 512 octets, `%` doubled for libmilter."""
    text = _NOT_TEXTSTRING.sub('?', text.replace('\t', ' ').replace('\r', ' ')
                               .replace('\n', ' '))
    room = MAX_REPLY_LINE - len('%s %s \r\n' % (code, xcode or ''))
    return text[:room].replace('%', '%%')
