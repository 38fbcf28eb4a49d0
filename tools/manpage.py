"""The key sections of man/smf-spf.conf.5, written from the code's key table.

    python tools/manpage.py            rewrite them in man/smf-spf.conf.5
    python tools/manpage.py --check    exit 1 when the committed page differs

The keys, their Config fields, parsers, the redvw fork's keys read as them and what a
reload does with them come from smf_spf.config's key table (KEY_TABLE), each default
from Config(), the fork's ignored keys from smf_spf.dialect; only the words per key are
written here (KEY_TEXT).  Everything between the page's BEGIN and END marker lines is
this script's; the rest of the page is written by hand.  Run it after changing a key,
its default or its words, and commit the page: the build needs nothing but the page,
and tests/test_manpages.py fails while the two differ.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from smf_spf import config as configuration, dialect  # noqa: E402

PAGE = os.path.join(ROOT, 'man', 'smf-spf.conf.5')
BEGIN = '.\\" BEGIN KEYS: written by tools/manpage.py from smf_spf/config.py; do not edit'
END = '.\\" END KEYS'

# -- the words per key ---------------------------------------------------------------
# value: what the key takes (*word* is a placeholder; booleans get theirs from the
#   parser); text: what it does; c: how the C smf-spf 2.x read it (None: as here);
#   none: what an unset key means, where its default is no value; reload: what a
#   reload does with it, where smf_spf.reload does more than apply it.
# `literal` is set in bold.
OURS = 'ours'

SECTIONS = (
    ('Who is not checked', (
        'WhitelistIP', 'WhitelistPTR', 'WhitelistFrom', 'WhitelistTo', 'SkipNDR', 'SkipAuth',
        'TrustedForwarder')),
    ('Which address is checked', ('FixedClientIP', 'ClientIPNAT')),
    ('What a result does', (
        'RefuseFail', 'SoftFail', 'AcceptTempError', 'RefuseSPFNone', 'RefuseSPFNoneHelo',
        'SPFBestGuess', 'RefuseSoftFail', 'RejectPermError', 'CheckHelo', 'RefuseHeloFail',
        'RefuseNotPass', 'RefuseFailEmptySender', 'AcceptPostmaster', 'DryRun',
        'RejectReason', 'RelaxedLocalPart')),
    ('Headers and quarantine', (
        'AddHeader', 'AuthservID', 'AuthservIDAlias', 'RemoveForgedAuthResults',
        'AddReceivedHeader', 'TagSubject', 'Tag', 'Quarantine', 'QuarantineBox')),
    ('Cache and DNS', ('TTL', 'CacheSize', 'Nameservers', 'SPFTimeout', 'SPFVoidLimit')),
    ('The process', ('Socket', 'User', 'Daemonize', 'Syslog', 'LogTo', 'MetricsListen')),
)

# the parsers of keys whose whole value is text: C up to 2.5.0 read only its first word
TEXT_PARSERS = configuration.TEXT_PARSERS
FIRST_WORD = ('smf-spf up to 2.5.0 (2.0.4 included) used only the first word of the '
              'value; 2.5.1 and later the whole value, as here.')

KEY_TEXT = {
    'WhitelistIP': dict(
        value='*address*[/*mask*]',
        text='A client whose address lies in the network is accepted unchecked, at connect. '
             'IPv4 or IPv6; no mask means the one host. Repeatable, any number of lines. '
             'The shipped smf-spf.conf lists 127.0.0.0/8, ::1 and the RFC 1918 networks.',
        c='IPv4 only, at most 10,000 lines. The address is the first word of the line '
          '(2.5.1 and later ignored a line with more words; here it counts again, as in '
          '2.0.x); the mask is read as `atoi` reads it and clamped to 32, so `/abc` is '
          '/0, every IPv4 address; an octet with a leading 0 is octal (`inet_addr`). '
          'Such lines are read the same way here, with a warning.'),
    'WhitelistPTR': dict(
        value='*name*',
        text='A client whose host name (as the MTA names it) is the name or one under it, '
             'by whole labels and in any case, is accepted unchecked, at connect: '
             '`partner.example` matches `partner.example` and `mx.partner.example`, never '
             '`evilpartner.example`; `.partner.example` only the names under it. '
             'Repeatable.',
        c='The value matched the end of the host name, so `partner.example` also accepted '
          '`evilpartner.example`; `smf-spf -t` lists such lines.'),
    'WhitelistFrom': dict(
        value='*address* | *name*',
        text='A message whose envelope sender matches is not checked. The sender is read as '
             'an SMTP path (the domain after the last `@` outside quotes, a source route '
             'dropped) and compared part by part, in any case: `user@partner.example` that '
             'mailbox, `@partner.example` any local part at exactly that domain, `user@` '
             'that local part at any domain; a value without `@` is a domain, matched with '
             'the domains under it by whole labels (`.partner.example`: only those under '
             'it). Repeatable.',
        c='The value matched anywhere in the address text, so `@partner.example` also '
          'whitelisted `<"x@partner.example"@victim.example>`; `smf-spf -t` lists such '
          'lines.'),
    'WhitelistTo': dict(
        value='*address* | *name*',
        text='A recipient that matches, as WhitelistFrom matches a sender, is never refused. '
             'With any WhitelistTo line, an SPF fail is refused per recipient at RCPT TO (550 '
             '5.1.1) instead of at MAIL FROM. Repeatable.',
        c='A matching recipient accepted the whole message, for every later recipient too. '
          'The value matched anywhere in the address text (see WhitelistFrom).'),
    'SkipNDR': dict(
        text='on: an empty sender (`MAIL FROM:<>`) is not checked.'),
    'SkipAuth': dict(
        text='on: a client that authenticated (SMTP AUTH) is not checked.'),
    'TrustedForwarder': dict(
        value='*network* | *name*',
        text='A forwarder or backup MX whose mail fails SPF for reasons that are not the '
             'sender\'s: its mail is checked and reported, but never refused, tagged or '
             'quarantined for SPF; the log says `SPF not refused: client ip=... is a '
             'TrustedForwarder`, and Authentication-Results carries '
             '`policy.trusted-forwarder=`*address*. A network is CIDR, IPv4 or IPv6; a '
             'name is the MTA\'s name for the client: `mx2.example.net` matches it and the '
             'names under it, whole labels only, as in WhitelistPTR; a leading dot changes '
             'nothing here (`.example.net` is example.net and every name under it). '
             'Repeatable.',
        c=OURS),
    'FixedClientIP': dict(
        value='*address*',
        text='Evaluate SPF as if every client had this address (a relay that sends '
             'outbound mail).',
        none='none (the client\'s own address)',
        c='IPv4 only, the first word of the line, read as `inet_addr` reads it (an octet '
          'with a leading 0 is octal), as here.'),
    'ClientIPNAT': dict(
        value='*src*:*dst* | [*src6*]:[*dst6*]',
        text='Evaluate a client that connects from *src* as if it came from *dst*; the log '
             'says `Found  NAT IP address`. IPv6 addresses in brackets. Repeatable; for a '
             'source given twice the last line counts.',
        c='IPv4 only, the first word of the line, octets read as `inet_addr` reads them; '
          'some bad lines were logged as `[CONFIG ERROR]` without a line number.'),
    'RefuseFail': dict(
        text='on: SPF fail is refused, 550 5.7.23 with the RejectReason text.'),
    'SoftFail': dict(
        text='on: the refusals that use the RejectReason text (RefuseFail, RefuseSoftFail, '
             'RejectPermError, RefuseHeloFail, RefuseNotPass) and those of a MAIL FROM or '
             'RCPT TO that is '
             'no address are temporary: 450 4.x.x in place of 550 5.x.x. RefuseSPFNone and '
             'RefuseSPFNoneHelo stay 550.'),
    'AcceptTempError': dict(
        text='off: SPF temperror (a DNS error or timeout, or SPFTimeout used up) is answered '
             '451 4.4.3, with a short fixed reason; on: the message goes on.',
        c='A SERVFAIL or timeout on the sender\'s domain was `none`, which RefuseSPFNone '
          'then refused for good.'),
    'RefuseSPFNone': dict(
        text='on: a sender whose domain has no SPF record is refused, 550 5.7.1; only with '
             '`SPFBestGuess off`.',
        c='smf-spf 2.5.x (no best guess) refused; with SPFBestGuess, on by default, it never '
          'did, as here. `smf-spf -t` lists such a line.'),
    'RefuseSPFNoneHelo': dict(
        text='on: an empty sender whose HELO name has no SPF record is refused, 550 5.7.1; '
             'only with `SPFBestGuess off`.',
        c='As RefuseSPFNone.'),
    'SPFBestGuess': dict(
        text='While on, RefuseSPFNone and RefuseSPFNoneHelo have no effect, as in C, where '
             'the best guess stood in for `none` before they were looked at. No guess is '
             'evaluated: decisions and headers say `none`.',
        c='For a domain without a record C evaluated `v=spf1 a/24 mx/24 ptr ?all` (A, MX '
          'and PTR lookups) and logged that result.'),
    'RefuseSoftFail': dict(
        text='on: SPF softfail is refused, 550 5.7.1 with the RejectReason text.',
        c=OURS),
    'RejectPermError': dict(
        text='on: SPF permerror (a broken record) is refused, 550 5.7.24 with the '
             'RejectReason text.',
        c='The redvw fork\'s key; it answered 550 5.5.2. The jcbf line does not know it.'),
    'CheckHelo': dict(
        text='on: the HELO name is checked as an SPF identity of its own (RFC 7208 section '
             '2.3), as `postmaster@`*helo*, through the same cache, for every message, in '
             'what the MAIL FROM check left of SPFTimeout; its result is a second `spf=` in '
             'Authentication-Results, after MAIL FROM\'s, and its log line starts `SPF helo`. '
             'A HELO that is no domain name of two labels or more is not checked.',
        c=OURS),
    'RefuseHeloFail': dict(
        text='on: a HELO identity that fails is refused, 550 5.7.23 with the RejectReason '
             'text for `postmaster@`*helo*. Implies CheckHelo.',
        c=OURS),
    'RefuseNotPass': dict(
        value='*domain*[ *domain*...]',
        text='Domains whose mail must get SPF pass: a MAIL FROM in a listed domain or a name '
             'below it (whole labels: `example.com` holds `mail.example.com`, not '
             '`badexample.com`) that gets any other result is refused, 550 5.7.23 with the '
             'RejectReason text, logged and counted `by RefuseNotPass`. A temperror is '
             'answered as AcceptTempError says. Whitelists, SkipAuth and TrustedForwarder '
             'come first. The HELO identity is held to it too when it is checked '
             '(CheckHelo); an empty sender\'s identity is its HELO name. Names compare in '
             'any case, without a final dot, an internationalized one as its xn-- form. '
             'Several per line, space or comma separated; repeatable.',
        c=OURS),
    'RefuseFailEmptySender': dict(
        value='`refuse` | `tempfail` | `tag`',
        text='What an SPF refusal of an empty sender (a bounce, checked through its HELO '
             'name) becomes, whichever key refuses it (RefuseFail, RefuseSoftFail, '
             'RejectPermError, RefuseHeloFail, RefuseNotPass): `refuse` as any other '
             'sender; `tempfail` 450 4.x.x, so the sending MTA keeps the report and tries '
             'again; `tag` goes on with the headers and Subject tag of mail not refused, '
             'logged `SPF not refused: empty sender, would be ...`. RefuseSPFNoneHelo and '
             'AcceptTempError off are not changed.',
        c=OURS),
    'AcceptPostmaster': dict(
        text='on: mail to `postmaster` (`<postmaster>`, `<postmaster@`*any.domain*`>`) is '
             'never refused (RFC 5321 section 4.5.1): an SPF refusal is decided at MAIL FROM '
             'and made at RCPT TO, for each other recipient, with the same code and text. '
             'off: refused at MAIL FROM, as C did.',
        c=OURS),
    'DryRun': dict(
        text='on: every decision is made and logged, no message is refused: each refusal '
             'is logged as `SPF would refuse (DryRun):` or `SPF would tempfail (DryRun):`, '
             'and headers, Subject tag and quarantine are as for a message that goes on. '
             'The option `-n` is the same and outlasts a reload.',
        c=OURS),
    'RejectReason': dict(
        value='*text*',
        text='The text of a refusal for an SPF result. Each `%s` takes the next of the '
             'sender, the client address and the MTA\'s name; `%1$s`, `%2$s` and `%3$s` name '
             'them; so do `%{sender}`, `%{ip}` and `%{mta}`, beside `%{local}` and '
             '`%{domain}` (the identity\'s parts), `%{helo}`, `%{result}` (the SPF '
             'result) and `%{exp}`: a fail\'s explanation from its record\'s exp= '
             'modifier (RFC 7208 section 6.2; fetched, within SPFTimeout, only when the text '
             'shows it), else the result\'s default words. A name in any case; an unknown '
             'one is an error. `%%` is a percent sign. The reply is printable ASCII '
             '(anything else becomes `?`), at most 512 octets, one line whatever the fields '
             'hold.',
        reload='Starting or stopping to show `%{exp}` empties the result cache.',
        c='It sent `%{...}` as written.'),
    'RelaxedLocalPart': dict(
        text='on: a local part over 64 octets is taken; off: such a MAIL FROM is refused '
             'as no address (550 5.1.7).'),
    'AddHeader': dict(
        text='on: an `Authentication-Results:` field is inserted first, e.g. '
             '`mx.example.net; spf=pass smtp.mailfrom=a@example.org smtp.helo=mx.example.org`, '
             'with temperror and permerror named as RFC 8601 names them.',
        c='2.5.x wrote the same layout, but `none` for temperror and permerror; 2.0.4 '
          'wrote `smtp.mailfrom=<`*user@domain*`>`, with angle brackets.'),
    'AuthservID': dict(
        value='*name*',
        text='The authserv-id of Authentication-Results, and the one RemoveForgedAuthResults '
             'looks for.',
        none='the MTA\'s name (macro `{j}`), else `localhost`'),
    'AuthservIDAlias': dict(
        value='*name*[,*name*...]',
        text='More authserv-ids to treat as ours, e.g. the other MX hosts of the site when '
             'they share one authserv-id namespace. Comma or space separated, repeatable.',
        c=OURS),
    'RemoveForgedAuthResults': dict(
        text='on: at the end of the message every incoming `Authentication-Results:` field '
             'whose authserv-id is ours (AuthservID, or the MTA\'s name or `localhost` when '
             'unset, or an AuthservIDAlias; any case) is deleted (RFC 8601 section 5), one '
             'log line each. Senders that WhitelistFrom, SkipAuth, SkipNDR or a verified '
             'TLS client certificate let through unchecked are then followed to the end of '
             'the message; clients skipped at connect (WhitelistIP, WhitelistPTR, no client '
             'address) keep their fields. off: as C.',
        c=OURS),
    'AddReceivedHeader': dict(
        text='on: a `Received-SPF:` field is appended; with a HELO identity checked beside '
             'MAIL FROM (CheckHelo) a second one, `identity=helo`, after it (RFC 7208 '
             'section 9.1: one per identity).'),
    'TagSubject': dict(
        text='on: the Subject of a message that fails or softfails (and is not refused) is '
             'prefixed with Tag; a Subject that is not UTF-8 is tagged in `unknown-8bit` '
             'encoded-words.'),
    'Tag': dict(
        value='*text*',
        text='The prefix TagSubject puts before the Subject.'),
    'Quarantine': dict(
        text='on: a message that fails or softfails (and is not refused) goes to '
             'QuarantineBox in place of its recipients, each named in an '
             '`X-SPF-Original-To:` field.'),
    'QuarantineBox': dict(
        value='*address*',
        text='Where Quarantine sends mail.'),
    'TTL': dict(
        value='*n* | *n*`s` | *n*`m` | *n*`h` | *n*`d`',
        text='How long an SPF result stays in the cache: *n* seconds, minutes, hours or '
             'days, the letter in any case; 0 turns the cache off. A temperror is never '
             'cached.'),
    'CacheSize': dict(
        value='*entries*',
        text='The most SPF results kept in the cache, the oldest evicted first; about 200 '
             'bytes each. 0 turns the cache off.',
        c=OURS),
    'Nameservers': dict(
        value='*address*[,*address*...]',
        text='The DNS servers to ask, comma or space separated.',
        none='none (the servers of /etc/resolv.conf)',
        reload='A change also applies to checks already under way.',
        c=OURS),
    'SPFTimeout': dict(
        value='*seconds*',
        text='The time one SPF check may take in all, above 0 and up to 300; a check that '
             'runs out is a temperror. MAIL FROM is answered within SPFTimeout and 0.1 s: the '
             'MTA must wait 5 s longer (Sendmail\'s default `T=R:10s` does not), and '
             '`smf-spf -t` says what to set for Postfix and Sendmail. A value that leaves '
             'less than 5 s before Postfix\'s 30 s milter timeout is warned about.',
        c=OURS),
    'SPFVoidLimit': dict(
        value='*n*',
        text='How many DNS lookups without an answer (no such name, no record of the type '
             'asked) one SPF check may make; one more is a permerror (RFC 7208 section '
             '4.6.4 says 2). An `mx` whose hosts have no AAAA records, asked for an IPv6 '
             'client, can run into 2. Lookups for exp= do not count.',
        c=OURS),
    'Socket': dict(
        value='[`unix:`|`local:`]*path* | `inet:`*port*[`@`*host*] | `inet6:`*port*[`@`*host*]',
        text='Where the milter listens, in every form libmilter takes: *port* a number or a '
             'service name, *host* a name, an address or [*address*]. No *host* means every '
             'interface, which is warned about, as is a host beyond loopback. Fatal only '
             'when it cannot be parsed or bound. /var/run is /run on el7, el8 and el9.'),
    'User': dict(
        value='*user*',
        text='The user the milter switches to when started as root; then fatal when it '
             'does not exist.'),
    'Daemonize': dict(
        text='off: stay in the foreground, as with `-f`.'),
    'Syslog': dict(
        value='`none` | `daemon` | `mail` | `local0` ... `local7`',
        text='The syslog facility; `none`: no syslog.',
        reload='A reload may change the facility; switching syslog on or off waits for a '
               'restart.'),
    'LogTo': dict(
        value='*file*',
        text='Log the same lines to this file too (`/dev/stdout` and `/dev/stderr` allowed), '
             'created 0640; fatal when it cannot be opened at start.',
        none='none (syslog only)',
        reload='A reload opens the file again (logrotate needs nothing else) and may name '
               'another file; switching it on or off, or to a standard stream, waits for a '
               'restart.'),
    'MetricsListen': dict(
        value='*address*:*port* | [*IPv6*]:*port*',
        text='Serve Prometheus metrics on http://*address*:*port*/metrics, through the '
             'Python package prometheus_client; without it, or with the port taken, the '
             'log says so and mail flows without metrics. An address beyond loopback is '
             'warned about: whoever reaches it sees the mail statistics.',
        none='none (no metrics)',
        c=OURS),
}

# how the redvw fork's keys are spelt, and what each of them means here
SPELLING = {'whitelistip6': 'WhitelistIP6', 'rejecttemperror': 'RejectTempError',
            'addauthresultheader': 'AddAuthResultHeader', 'delaychecks': 'DelayChecks',
            'addsignatureheader': 'AddSignatureHeader', 'wrapheader': 'WrapHeader',
            'headerwidth': 'HeaderWidth'}
ALIAS_TEXT = {
    'whitelistip6': 'is read as WhitelistIP, which takes IPv4 and IPv6 alike',
    'rejecttemperror': 'is read the other way round: `RejectTempError on` is '
                       '`AcceptTempError off`',
    'addauthresultheader': 'is read as AddHeader, `verbose` as `on`',
}
_FORK_BOOLEANS = (dialect.boolean, dialect.inverse_boolean, dialect.auth_result_header)
_ON_OFF = (configuration._boolean,) + _FORK_BOOLEANS


# -- roff ----------------------------------------------------------------------------

def _escape(text):
    """Text as roff prints it: a backslash is \\e, a line never starts with a control
    character (every paragraph here is one line)."""
    if any(ord(c) > 126 or (ord(c) < 32) for c in text):
        raise ValueError('not printable ASCII: %r' % text)
    return text.replace('\\', '\\e')


def _literal(text):
    # a hyphen in something to type is a minus sign, so that copying it works
    return _escape(text).replace('-', '\\-')


def roff(text):
    """`literal` in bold, *placeholder* in italics, the rest as it stands."""
    out = []
    for index, part in enumerate(re.split(r'(`[^`]*`|\*[^*\s][^*]*\*)', text)):
        if index % 2 == 0:
            out.append(_escape(part))
        elif part.startswith('`'):
            out.append('\\fB%s\\fR' % _literal(part[1:-1]))
        else:
            out.append('\\fI%s\\fR' % _escape(part[1:-1]))
    line = ''.join(out)
    return '\\&' + line if line[:1] in ('.', "'") else line


def syntax(value):
    """A key's value: placeholders in italics, what is typed as it stands in bold, the
    brackets and bars that only describe it in roman."""
    out = []
    for index, part in enumerate(re.split(r'(\*[^*]+\*)', value)):
        if index % 2:
            out.append('\\fI%s\\fR' % _escape(part[1:-1]))
            continue
        for piece in re.split(r'(\s*\|\s*|\[|\]|\.\.\.|`)', part):
            if piece == '`' or not piece:
                continue
            if re.match(r'\s*\|\s*\Z|\[\Z|\]\Z|\.\.\.\Z', piece):
                out.append(_escape(piece))
            else:
                out.append('\\fB%s\\fR' % _literal(piece))
    return ''.join(out)


# -- from the code -------------------------------------------------------------------

_DEFAULTS = configuration.Config()
_LIST_KEYS = {configuration.FIELD_KEYS[field] for field in configuration._LIST_FIELDS.values()}


def field_of(key):
    return configuration._KEY_FIELDS[key.lower()]


def parser_of(key):
    entry = configuration._SCALARS.get(key.lower())
    return entry[1] if entry else None


def default_text(key):
    """The default as roff: a value in bold, or what no value means in roman."""
    words = KEY_TEXT[key]
    if key in _LIST_KEYS:
        return 'none'
    value = getattr(_DEFAULTS, field_of(key))
    if value is None or value == ():
        return roff(words['none'])
    if isinstance(value, bool):
        value = 'on' if value else 'off'
    elif isinstance(value, float) and value == int(value):
        value = int(value)
    value = getattr(value, 'text', value)
    return '\\fB%s\\fR' % _literal(str(value))


def reload_text(key):
    field = field_of(key)
    words = KEY_TEXT[key]
    if field in configuration.RESTART_ONLY:
        return ('A new value waits for a restart: a reload logs it and keeps the running '
                'one.')
    said = []
    if field in configuration.CACHE_DEPENDS_ON:
        said.append('A new value empties the result cache.')
    if 'reload' in words:
        said.append(words['reload'])
    return ' '.join(said)


def aliases_of(key):
    """The redvw fork's keys read as this one (lower case)."""
    return sorted(alias.lower() for row in configuration.KEY_TABLE if row.name == key
                  for alias, _ in row.aliases)


def entry(key):
    words = KEY_TEXT[key]
    parser = parser_of(key)
    if parser in _ON_OFF:
        value = 'on|off' if 'value' not in words else words['value']
    else:
        value = words['value']
    lines = ['.TP', '\\fB%s\\fR %s' % (key, syntax(value)), roff(words['text'])]
    tail = []
    if field_of(key) in configuration.LIST_FIELDS:    # as smf_spf.reload logs them
        tail.append('A reload logs the entries added and removed.')
    said = reload_text(key)
    if said:
        tail.append(said)
    if parser in _FORK_BOOLEANS:
        tail.append('Also takes the redvw fork\'s `yes`, `true` and `no`, `false`.')
    lines += ['.IP', 'Default: %s' % default_text(key)]
    if tail:
        lines += ['.br', roff(' '.join(tail))]
    c = words.get('c')
    if c == OURS:
        c = 'smf-spf 2.x does not know the key (it skipped unknown keys).'
    elif parser in TEXT_PARSERS:     # as smf_spf.config's compatibility note says
        c = FIRST_WORD + (' ' + c if c else '')
    if c:
        lines += ['.IP', roff('C: ' + c)]
    for alias in aliases_of(key):
        lines += ['.IP', roff('The redvw fork\'s %s %s.' % (SPELLING[alias], ALIAS_TEXT[alias]))]
    return lines


def _check_tables():
    listed = [key for _, keys in SECTIONS for key in keys]
    if sorted(listed) != sorted(configuration.KEYS) or len(set(listed)) != len(listed):
        raise SystemExit('tools/manpage.py: SECTIONS must list every key of '
                         'smf_spf.config.KEYS once: %s'
                         % sorted(set(listed) ^ set(configuration.KEYS)))
    if set(KEY_TEXT) != set(configuration.KEYS):
        raise SystemExit('tools/manpage.py: KEY_TEXT must have the words for every key: %s'
                         % sorted(set(KEY_TEXT) ^ set(configuration.KEYS)))
    fork = set(configuration.ALIAS_NAMES) | set(dialect.IGNORED)
    if set(SPELLING) != fork or any(SPELLING[k].lower() != k for k in SPELLING):
        raise SystemExit('tools/manpage.py: SPELLING must spell every key of the redvw '
                         'fork: %s' % sorted(set(SPELLING) ^ fork))


def keys_section():
    """The generated lines, markers included."""
    _check_tables()
    lines = [BEGIN]
    for title, keys in SECTIONS:
        lines.append('.SS %s' % title)
        for key in keys:
            lines += entry(key)
    lines.append('.SS Keys of the redvw fork')
    lines.append(roff(
        'The other smf-spf line (github redvw/smf-spf, 2.1.0) has keys of its own. Those '
        'that act as one of ours are named at it above; `smf-spf -t` lists each such line in '
        'its compatibility section, saying how it is read. These have no effect and are '
        'named as such, not as unknown keys:'))
    for key in sorted(dialect.IGNORED):
        lines += ['.TP', '\\fB%s\\fR' % SPELLING[key],
                  roff(dialect.IGNORED[key][0].upper() + dialect.IGNORED[key][1:] + '.')]
    lines.append(END)
    return lines


def render(page_text):
    """The page with its key sections written anew."""
    before, begin, rest = page_text.partition(BEGIN + '\n')
    _, end, after = rest.partition(END + '\n')
    if not begin or not end:
        raise SystemExit('%s: no "%s" ... "%s" lines' % (PAGE, BEGIN, END))
    return before + '\n'.join(keys_section()) + '\n' + after


def main(argv):
    with open(PAGE, encoding='ascii') as handle:
        current = handle.read()
    wanted = render(current)
    if '--check' in argv:
        if wanted != current:
            sys.stderr.write('%s is not what tools/manpage.py writes: run it\n' % PAGE)
            return 1
        return 0
    if wanted != current:
        with open(PAGE, 'w', encoding='ascii') as handle:
            handle.write(wanted)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
