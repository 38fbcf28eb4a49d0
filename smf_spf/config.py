"""smf-spf.conf -> an immutable Config, plus every problem found, with file and line.

Rules (same as the C milter): one `Key value` per line, `#` starts a comment
anywhere, keys are case-insensitive, values are trimmed and may hold spaces.
Unlike C, an invalid line is reported (file, line, reason) and skipped, and an
unknown key is reported as a warning; an existing config never stops mail.
Only an unusable Socket is fatal here; the process checks User and LogTo.
"""

import ipaddress
import math
import re
import socket
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple, Tuple

from smf_spf import dialect, forwarders, whitelist
from smf_spf.cidr import CidrSet
from smf_spf.ipaddr import parse_ip
from smf_spf.mailbox import domain_key, malformed_domain
from smf_spf.match import AddressMatcher, DomainMatcher
from smf_spf.c_rules import EMPTY_SENDER_CHOICES, EMPTY_SENDER_REFUSE
from smf_spf.template import ReasonTemplate, TemplateError

DEFAULT_PATH = '/etc/mail/smfs/smf-spf.conf'
DEFAULT_REJECT_REASON = ('Message was rejected during SPF policy evaluation. '
                         'sender:%s client-ip:%s')
SYSLOG_FACILITIES = ('none', 'daemon', 'mail') + tuple('local%d' % i for i in range(8))
DEFAULT_SPF_TIMEOUT = 20.0
# How long each MTA waits for a milter's reply by default: Postfix 30 s
# (milter_command_timeout), Sendmail 10 s (INPUT_MAIL_FILTER's T=R:). An MTA that stops
# waiting lets the message through unchecked (Sendmail: this one and the next).
POSTFIX_COMMAND_TIMEOUT = 30.0
SENDMAIL_READ_TIMEOUT = 10.0
# room the MTA should have after SPFTimeout for the rest of MAIL FROM and scheduling
MTA_TIMEOUT_MARGIN = 5
# about 80 MB at the 189 (CPython 3.11) to 204 (3.6) bytes of RSS per entry that
# bench/cache_rss.py measures
DEFAULT_CACHE_SIZE = 400000
# RFC 7208 section 4.6.4: more DNS lookups without an answer than this are a permerror
DEFAULT_VOID_LIMIT = 2

ERROR = 'error'
WARNING = 'warning'
FATAL = 'fatal'
# the line works, but not as it did in smf-spf 2.x (listed apart by -t, never an error)
COMPAT = 'compat'


def _seconds(value):
    return '%gs' % value


def mta_wait(spf_timeout):
    """How long the MTA must wait for the reply to MAIL FROM: the milter answers within
    SPFTimeout, however slow the DNS (a temperror then), plus room for the rest."""
    return spf_timeout + MTA_TIMEOUT_MARGIN


def mta_timeout_to_set(spf_timeout):
    """The MTA timeout to set where its default is too short: mta_wait rounded up to ten
    seconds (Sendmail T=R:30s for the default SPFTimeout)."""
    return 10 * int(math.ceil(mta_wait(spf_timeout) / 10.0))


def mta_timeout_rule(spf_timeout):
    """What -t and the start-up log say of the MTAs' milter timeouts for this SPFTimeout."""
    wait = mta_wait(spf_timeout)
    to_set = mta_timeout_to_set(spf_timeout)

    def advice(setting, default):
        if default >= wait:
            return '%s%s (the default) will do' % (setting, _seconds(default))
        return '%s%ds (the default, %s, is too short)' % (setting, to_set, _seconds(default))

    return ('SPFTimeout %s: MAIL FROM is answered within it, so the MTA must wait at least '
            '%s for the milter: Postfix: %s; Sendmail: %s; see docs/sendmail.md'
            % (_seconds(spf_timeout), _seconds(wait),
               advice('milter_command_timeout = ', POSTFIX_COMMAND_TIMEOUT),
               advice('INPUT_MAIL_FILTER T=R:', SENDMAIL_READ_TIMEOUT)))


class Problem(NamedTuple):
    path: str
    line: int
    severity: str
    reason: str

    def __str__(self):
        return '%s:%d: %s: %s' % (self.path, self.line, self.severity, self.reason)


class SocketSpec(NamedTuple):
    family: str            # 'unix', 'inet' or 'inet6'
    address: str           # path for unix, host for inet/inet6
    port: int              # 0 for unix
    text: str              # as libmilter's smfi_setconn wants it


class ListenSpec(NamedTuple):
    host: str              # an IP address (IPv6 without brackets)
    port: int
    text: str              # as written in the config


class LoadResult(NamedTuple):
    config: 'Config'
    problems: Tuple[Problem, ...]
    compat: Tuple[Problem, ...] = ()    # lines whose effect differs from smf-spf 2.x

    @property
    def fatal(self):
        return [p for p in self.problems if p.severity == FATAL]

    @property
    def errors(self):
        return [p for p in self.problems if p.severity in (ERROR, FATAL)]


class ConfigFileError(Exception):
    """The config file itself cannot be read."""


class _Invalid(ValueError):
    pass


_TTL = re.compile(r'([0-9]+)([smhd]?)\Z', re.IGNORECASE)
_TTL_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}
_PORT = re.compile(r'[0-9]{1,5}\Z')


def _boolean(value):
    lowered = value.lower()
    if lowered == 'on':
        return True
    if lowered == 'off':
        return False
    raise _Invalid('expected on or off, got %r' % value)


def _ip(value):
    """Canonical text, written as the milter compares client addresses (parse_ip)."""
    parsed = parse_ip(value)
    if parsed is None:
        raise _Invalid('%r is not an IPv4 or IPv6 address' % value)
    return str(parsed)


def parse_ttl(value):
    match = _TTL.match(value)
    if not match:
        raise _Invalid('%r is not a time (seconds, or a number with s, m, h or d)' % value)
    return int(match.group(1)) * _TTL_UNITS[match.group(2).lower()]


# -- values as smf-spf read them ---------------------------------------------------
# smf-spf checked IPv4 text against this pattern, then read it with inet_addr
_C_DOTTED_QUAD = re.compile(r'[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z')
_C_ATOI = re.compile(r'[ \t\n\v\f\r]*([+-]?[0-9]*)')
_PLAIN_NUMBER = re.compile(r'[0-9]+\Z')
_UNIX_PATH_MAX = 108           # sizeof(sun_path) on Linux, NUL included


def c_atoi(text):
    """What C's atoi made of text: leading blanks, a sign and digits; 0 when none."""
    digits = _C_ATOI.match(text).group(1)
    return int(digits) if digits.lstrip('+-') else 0


def c_inet_addr(text):
    """Dotted-quad IPv4 as smf-spf read it (its pattern, then inet_addr, where a leading
    0 makes an octet octal: 010 is 8); canonical text, or None where C skipped it."""
    if not _C_DOTTED_QUAD.match(text):
        return None
    octets = []
    for part in text.split('.'):
        try:
            octet = int(part, 8 if len(part) > 1 and part[0] == '0' else 10)
        except ValueError:
            return None
        if octet > 255:
            return None
        octets.append(octet)
    return '%d.%d.%d.%d' % tuple(octets)


def _first_word(key, value, notes):
    """smf-spf up to 2.5.0 read only the first word of a value; 2.5.1 and later read the
    whole line, and then refused an address followed by words.  We take the first word."""
    words = value.split()
    if len(words) > 1:
        notes.append((COMPAT, '%s: text after %r ignored (%r): smf-spf up to 2.5.0 read '
                              'only the first word as well; 2.5.1 and later ignored the whole '
                              'line' % (key, words[0], ' '.join(words[1:]))))
    return words[0]


def _c_address(key, text, notes):
    """An address as the milter compares it: IPv4 read as smf-spf read it, IPv6 as ours."""
    address = c_inet_addr(text)
    if address is not None:
        if address != text:
            notes.append((WARNING, '%s: %r read as %s, as smf-spf did (a leading 0 makes an '
                                   'octet octal); write %s' % (key, text, address, address)))
        return address
    return _ip(text)


def parse_whitelist_ip(value, notes):
    """`ADDRESS[/MASK] [words]` as smf-spf read it: the first word is the address (with a
    mask only when that word holds the `/`), the mask is C's atoi of the text after `/`
    (2.5.1 read it so), a mask over the maximum is clamped.
    The CidrSet text, e.g. '10.0.0.0/8'; remarks appended to notes as (severity, text)."""
    first = value.split()[0]
    slash = value.find('/') if '/' in first else -1
    if slash < 0:
        address_text = _first_word('WhitelistIP', value, notes)
    else:
        address_text = first.partition('/')[0]
        if not address_text:
            raise _Invalid('%r: no address before /' % value)
    address = _c_address('WhitelistIP', address_text, notes)
    # IPv6 is ours (C ignored such lines): documented, not listed, so the shipped config
    # with its ::1 checks clean
    maximum = 128 if ':' in address else 32
    if slash < 0:
        return '%s/%d' % (address, maximum)
    mask_text = value[slash + 1:]
    mask = c_atoi(mask_text) & 0xffff          # C stored it in an unsigned short
    if mask > maximum:
        mask = maximum
    stripped = mask_text.strip()
    if mask_text[:1].isspace():
        notes.append((COMPAT, 'WhitelistIP %s: smf-spf up to 2.5.0 read only the first word '
                              '(an empty mask: every IPv4 address); 2.5.1 and later, and '
                              'smf-spf-py, read /%d' % (value, mask)))
    elif not (_PLAIN_NUMBER.match(stripped) and int(stripped) <= maximum):
        notes.append((WARNING, 'WhitelistIP: mask %r read as /%d, as smf-spf read it (the '
                               'number at its start, clamped to %d)%s'
                      % (mask_text, mask, maximum,
                         '; this line whitelists EVERY IPv%d address'
                         % (6 if maximum == 128 else 4) if mask == 0 else '')))
    return '%s/%d' % (address, mask)


def parse_fixed_ip(value, notes):
    return _ip(_first_word('FixedClientIP', value, notes))


def parse_socket(value, notes=None):
    """A Socket as libmilter reads it: `PATH`, `unix:PATH`, `local:PATH`, `:PATH`,
    `inet:PORT[@HOST]`, `inet6:PORT[@HOST]`, PORT a number or a service name, HOST a
    name or an address, `[ADDRESS]` a literal.  Host names are resolved at bind time."""
    notes = [] if notes is None else notes
    kind, colon, rest = value.partition(':')
    kind = kind.lower()
    if not colon:
        kind, rest = 'unix', value
    if kind in ('', 'unix', 'local'):
        if not rest:
            raise _Invalid('%r: no socket path' % value)
        if len(rest.encode('utf-8', 'surrogateescape')) + 1 >= _UNIX_PATH_MAX:
            raise _Invalid('%r: socket path longer than %d bytes' % (value, _UNIX_PATH_MAX - 2))
        if not rest.startswith('/'):
            notes.append((WARNING, 'Socket %s: relative path, created in / (the directory '
                                   'the daemon runs in)' % value))
        return SocketSpec('unix', rest, 0, value)
    if kind not in ('inet', 'inet6'):
        raise _Invalid('%r: unknown socket type %r (unix, local, inet or inet6)' % (value, kind))
    port_text, at, host = rest.partition('@')
    port = _socket_port(value, port_text, notes)
    if not at:
        host = '::' if kind == 'inet6' else '0.0.0.0'
    elif host.startswith('['):
        literal, bracket, _ = host[1:].partition(']')
        parsed = parse_ip(literal) if bracket else None
        if parsed is None or (parsed.version == 6) != (kind == 'inet6'):
            raise _Invalid('%r: %r is not an IPv%s address in brackets'
                           % (value, host, '6' if kind == 'inet6' else '4'))
        host = str(parsed)
    elif not host:
        raise _Invalid('%r: no host after @' % value)
    return SocketSpec(kind, host, port, value)


def _socket_port(value, text, notes):
    if text and text[0] in '0123456789':
        port = c_atoi(text)
        if not _PLAIN_NUMBER.match(text):
            notes.append((WARNING, 'Socket %s: port %r read as %d, as libmilter reads it'
                                   % (value, text, port)))
    else:
        try:
            port = socket.getservbyname(text, 'tcp')
        except (OSError, socket.error):
            raise _Invalid('%r: %r is neither a port number nor a TCP service name'
                           % (value, text))
    if not 0 < port < 65536:
        raise _Invalid('%r: port %d is not 1..65535' % (value, port))
    return port


def socket_warnings(spec):
    """Reasons to look again at a usable Socket (printed by -t and logged at start):
    whoever can connect to it speaks for the MTA."""
    warnings = []
    if spec.family not in ('inet', 'inet6'):
        return warnings
    if spec.address in ('0.0.0.0', '::'):
        warnings.append('Socket %s listens on every interface: any host that reaches port %d '
                        'can talk to the milter; name a host, e.g. %s:%d@%s'
                        % (spec.text, spec.port, spec.family, spec.port,
                           '[::1]' if spec.family == 'inet6' else '127.0.0.1'))
    elif not _is_loopback(spec.address):
        warnings.append('Socket %s listens beyond loopback: every host that reaches %s can '
                        'talk to the milter; prefer a unix socket or a firewall'
                        % (spec.text, spec.address))
    return warnings


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host.split('%')[0]).is_loopback
    except ValueError:
        name = host.lower().rstrip('.')
        return name == 'localhost' or name.endswith('.localhost')


def _bracketed_pair(value, expected):
    """(inside, after) of `[inside]:after`, the form an IPv6 address takes before a colon."""
    inside, bracket, rest = value[1:].partition(']')
    if not bracket or not rest.startswith(':'):
        raise _Invalid('%r: expected %s' % (value, expected))
    return inside, rest[1:]


def parse_nat(value, notes=None):
    """`src:dst`; IPv6 addresses in brackets: `[2001:db8::1]:[2001:db8::2]`.
    The first word counts, IPv4 is read as smf-spf read it."""
    notes = [] if notes is None else notes
    value = _first_word('ClientIPNAT', value, notes)
    if value.startswith('['):
        source, target = _bracketed_pair(value, '[src]:dst')
    else:
        source, colon, target = value.partition(':')
        if not colon:
            raise _Invalid('%r: expected src:dst' % value)
    if target.startswith('[') and target.endswith(']'):
        target = target[1:-1]
    if not target:
        raise _Invalid('%r: no destination address' % value)
    return _c_address('ClientIPNAT', source, notes), _c_address('ClientIPNAT', target, notes)


def parse_listen(value):
    """`HOST:PORT` or `[IPv6]:PORT`, the host an IP address."""
    if value.startswith('['):
        host, port = _bracketed_pair(value, '[IPv6]:PORT')
    else:
        host, colon, port = value.rpartition(':')
        if not colon or ':' in host:
            raise _Invalid('%r: expected HOST:PORT (an IPv6 host in brackets)' % value)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise _Invalid('%r: %r is not an IPv4 or IPv6 address' % (value, host))
    if not _PORT.match(port) or not 0 < int(port) < 65536:
        raise _Invalid('%r: port %r is not 1..65535' % (value, port))
    return ListenSpec(str(address), int(port), value)


def parse_domains(key, value, report):
    """The domains of one list line (`a.example b.example`, or comma-separated), each as
    mailbox.domain_key writes it; report(reason) for each that is no domain name."""
    domains = []
    for word in re.split(r'[\s,]+', value):
        if not word:
            continue
        problem = ('a leading dot (the names below a domain are included: write the domain)'
                   if word.startswith('.') else malformed_domain(word))
        if problem is None:
            domains.append(domain_key(word))
        else:
            report('%s %r: %s, ignored' % (key, word, problem))
    return domains


def parse_nameservers(value):
    servers = tuple(part for part in re.split(r'[\s,]+', value) if part)
    return tuple(_ip(server) for server in servers)


def parse_timeout(value):
    try:
        seconds = float(value)
    except ValueError:
        raise _Invalid('%r is not a number of seconds' % value)
    if not 0 < seconds <= 300:
        raise _Invalid('%r is not between 0 and 300 seconds' % value)
    return seconds


def parse_count(value):
    if not value.isdigit():
        raise _Invalid('%r is not a whole number' % value)
    return int(value)


def parse_empty_sender(value):
    """RefuseFailEmptySender: refuse, tempfail or tag (any case)."""
    lowered = value.lower()
    if lowered not in EMPTY_SENDER_CHOICES:
        raise _Invalid('%r is not one of %s' % (value, ', '.join(EMPTY_SENDER_CHOICES)))
    return lowered


def _template(value):
    try:
        return ReasonTemplate(value)
    except TemplateError as exc:
        raise _Invalid(str(exc))


# the parsers of the keys whose value is free text: smf-spf up to 2.5.0 read only its first
# word (as of every key), 2.5.1 and later the whole value, as here
TEXT_PARSERS = (str, _template)


def _syslog(value):
    lowered = value.lower()
    if lowered not in SYSLOG_FACILITIES:
        raise _Invalid('%r is not a facility (%s)' % (value, ', '.join(SYSLOG_FACILITIES)))
    return lowered


# -- the key table: every fact about a key, once ------------------------------------
# How a reload (smf_spf.reload) treats a key beyond applying its new value:
RESTART = 'restart'      # the process is built around it: a new value waits for a restart
CACHE = 'cache'          # cached SPF results depend on it: the result cache is rebuilt
RESOLVER = 'resolver'    # the DNS resolver is set up anew
WORDS = 'words'          # a list key whose change is logged old -> new, not by entries
LIST = object()          # the parser of a list key: every line counts, parse_lines reads them


class Key(NamedTuple):
    name: str                          # as the documentation spells it
    field: str                         # the Config field
    parser: Any                        # value -> parsed; LIST for a repeatable list key
    default: Any                       # the field's value while no line sets the key
    about: str                         # what the key does, in one line
    reload: Tuple[str, ...] = ()       # RESTART, CACHE, RESOLVER, WORDS
    aliases: Tuple[Tuple[str, Any], ...] = ()   # the redvw fork's keys read as this one:
    #                                    (name, its parser; None: this key's, with a note)
    notes: bool = False                # parser(value, notes) appends (severity, text)


KEY_TABLE = (
    Key('WhitelistIP', 'whitelist_ip', LIST, CidrSet(()),
        'clients in these networks are not checked',
        aliases=(('WhitelistIP6', None),)),
    Key('WhitelistPTR', 'whitelist_ptr', LIST, DomainMatcher(()),
        'clients with these host names are not checked'),
    Key('WhitelistFrom', 'whitelist_from', LIST, AddressMatcher(()),
        'these envelope senders are not checked'),
    Key('WhitelistTo', 'whitelist_to', LIST, AddressMatcher(()),
        'these recipients are never refused'),
    Key('FixedClientIP', 'fixed_client_ip', parse_fixed_ip, None, 'check every client as this '
        'address', notes=True),
    Key('ClientIPNAT', 'client_ip_nat', LIST, MappingProxyType({}),
        'check a client address as another one'),
    Key('SkipNDR', 'skip_ndr', _boolean, False, 'an empty sender is not checked'),
    Key('SkipAuth', 'skip_auth', _boolean, True, 'an authenticated client is not checked'),
    Key('RejectReason', 'reject_reason', _template, ReasonTemplate(DEFAULT_REJECT_REASON),
        'the text of an SPF refusal'),
    Key('RelaxedLocalPart', 'relaxed_local_part', _boolean, False, 'a sender\'s local part may be '
        'any text'),
    Key('RefuseSPFNone', 'refuse_spf_none', _boolean, False, 'refuse a sender domain without SPF'),
    Key('RefuseSPFNoneHelo', 'refuse_spf_none_helo', _boolean, False, 'refuse an empty sender '
        'whose HELO has no SPF'),
    Key('RefuseFail', 'refuse_fail', _boolean, True, 'refuse SPF fail'),
    Key('SoftFail', 'soft_fail', _boolean, False, 'SPF refusals are temporary'),
    Key('AcceptTempError', 'accept_temp_error', _boolean, True, 'SPF temperror lets mail through',
        aliases=(('RejectTempError', dialect.inverse_boolean),)),
    Key('SPFBestGuess', 'spf_best_guess', _boolean, True, 'the best guess stands in for none'),
    Key('TagSubject', 'tag_subject', _boolean, True, 'tag the Subject of mail that fails'),
    Key('Tag', 'tag', str, '[SPF:fail]', 'the Subject tag'),
    Key('AddHeader', 'add_header', _boolean, True, 'add Authentication-Results',
        aliases=(('AddAuthResultHeader', dialect.auth_result_header),)),
    Key('AddReceivedHeader', 'add_received_header', _boolean, False, 'add Received-SPF'),
    Key('AuthservID', 'authserv_id', str, None, 'the authserv-id of Authentication-Results'),
    Key('RemoveForgedAuthResults', 'remove_forged_auth_results', _boolean, True,
        'remove Authentication-Results that claim our authserv-id'),
    Key('AuthservIDAlias', 'authserv_id_aliases', LIST, (), 'more authserv-ids that are ours',
        reload=(WORDS,)),
    Key('Quarantine', 'quarantine', _boolean, False, 'quarantine mail that fails'),
    Key('QuarantineBox', 'quarantine_box', str, 'postmaster', 'where quarantined mail goes'),
    Key('TTL', 'ttl', parse_ttl, 3600, 'how long an SPF result is cached', reload=(CACHE,)),
    Key('User', 'user', str, 'smfs', 'the user the daemon runs as', reload=(RESTART,)),
    Key('Socket', 'socket', parse_socket,
        SocketSpec('unix', '/var/run/smfs/smf-spf.sock', 0, 'unix:/var/run/smfs/smf-spf.sock'),
        'where the MTA connects', reload=(RESTART,), notes=True),
    Key('Syslog', 'syslog', _syslog, 'mail', 'the syslog facility, or none'),
    Key('LogTo', 'log_to', str, None, 'a file (or stdout, stderr) to log to'),
    Key('Daemonize', 'daemonize', _boolean, True, 'run in the background', reload=(RESTART,)),
    Key('Nameservers', 'nameservers', parse_nameservers, (), 'DNS servers to ask',
        reload=(CACHE, RESOLVER)),
    Key('SPFTimeout', 'spf_timeout', parse_timeout, DEFAULT_SPF_TIMEOUT,
        'seconds an SPF check may take', reload=(RESOLVER,)),
    Key('CacheSize', 'cache_size', parse_count, DEFAULT_CACHE_SIZE, 'entries in the result cache',
        reload=(CACHE,)),
    Key('SPFVoidLimit', 'spf_void_limit', parse_count, DEFAULT_VOID_LIMIT,
        'DNS lookups without an answer an SPF check allows', reload=(CACHE,)),
    Key('MetricsListen', 'metrics_listen', parse_listen, None, 'where the statistics are served',
        reload=(RESTART,)),
    Key('CheckHelo', 'check_helo', _boolean, False, 'check the HELO identity too'),
    Key('RefuseHeloFail', 'refuse_helo_fail', _boolean, False,
        'refuse a HELO identity that fails'),
    Key('RefuseSoftFail', 'refuse_softfail', _boolean, False, 'refuse SPF softfail'),
    Key('RejectPermError', 'reject_perm_error', dialect.boolean, False, 'refuse SPF permerror'),
    Key('DryRun', 'dry_run', _boolean, False, 'decide and log, refuse nothing'),
    Key('AcceptPostmaster', 'accept_postmaster', _boolean, False, 'mail to postmaster is never '
        'refused'),
    Key('TrustedForwarder', 'trusted_forwarders', LIST, forwarders.NONE,
        'forwarders whose mail is never refused for SPF'),
    Key('RefuseNotPass', 'refuse_not_pass', LIST, DomainMatcher(()),
        'domains whose mail must get SPF pass'),
    Key('RefuseFailEmptySender', 'refuse_fail_empty_sender', parse_empty_sender,
        EMPTY_SENDER_REFUSE, 'what an SPF refusal of an empty sender becomes'),
)

# -- derived from KEY_TABLE ---------------------------------------------------------
# the settings in effect: one field per key, in the table's order, then the accepted
# entries of each list key, as written (what a reload compares)
Config = NamedTuple('Config', [(key.field, Any) for key in KEY_TABLE]
                    + [('list_entries', Mapping[str, Tuple[str, ...]])])
Config.__new__.__defaults__ = (tuple(key.default for key in KEY_TABLE)
                               + (MappingProxyType({}),))
Config.__doc__ = 'The settings in effect: a field per row of KEY_TABLE, and list_entries.'
# every key as the documentation spells it (the redvw fork's keys are read as these)
KEYS = tuple(key.name for key in KEY_TABLE)
# key (lower case) -> (Config field, value parser): the scalar keys and the fork's keys
# with a parser of their own
_SCALARS = dict(
    [(key.name.lower(), (key.field, key.parser)) for key in KEY_TABLE if key.parser is not LIST]
    + [(alias.lower(), (key.field, parser)) for key in KEY_TABLE for alias, parser in key.aliases
       if parser is not None])
_TAKES_NOTES = frozenset(key.name.lower() for key in KEY_TABLE if key.notes)
# list key (lower case) -> Config field
_LIST_FIELDS = dict((key.name.lower(), key.field) for key in KEY_TABLE if key.parser is LIST)
_LISTS = tuple(_LIST_FIELDS)
# the fork's keys read as a list key of ours (lower case): alias -> our key
LIST_ALIASES = dict((alias.lower(), key.name.lower()) for key in KEY_TABLE
                    for alias, parser in key.aliases if parser is None)
# the fork's keys, lower case -> as spelt
ALIAS_NAMES = dict((alias.lower(), alias) for key in KEY_TABLE for alias, _ in key.aliases)
# key (lower case) -> Config field, and Config field -> its key
_KEY_FIELDS = dict(((key, field) for key, (field, _) in _SCALARS.items()), **_LIST_FIELDS)
FIELD_KEYS = dict((key.field, key.name) for key in KEY_TABLE)
# what each key does, in one line, by Config field (-t lists it beside each setting)
ABOUT = dict((key.field, key.about) for key in KEY_TABLE)
# what a reload does beyond applying a value (smf_spf.reload), by Config field
LIST_FIELDS = tuple(key.field for key in KEY_TABLE
                    if key.parser is LIST and WORDS not in key.reload)
RESTART_ONLY = tuple(key.field for key in KEY_TABLE if RESTART in key.reload)
CACHE_DEPENDS_ON = tuple(key.field for key in KEY_TABLE if CACHE in key.reload)
RESOLVER_DEPENDS_ON = tuple(key.field for key in KEY_TABLE if RESOLVER in key.reload)


def split_line(raw):
    """(key, value) of one config line; (None, None) for a blank or comment line."""
    text = raw.split('#', 1)[0].strip()
    if not text:
        return None, None
    parts = text.split(None, 1)
    return parts[0], parts[1].strip() if len(parts) > 1 else ''


_DEFAULTS = Config()


class _Setting(NamedTuple):
    line: int
    key: str           # as written
    text: str          # the value as written
    value: Any         # as parsed


def _comparable(value):
    return getattr(value, 'text', value)


def _effective(field, settings):
    """The line that takes effect, as in smf-spf: the last one, except for a boolean,
    which only a line with its non-default value changes (wherever it stands)."""
    default = getattr(_DEFAULTS, field)
    if isinstance(default, bool):
        changing = [s for s in settings if s.value != default]
        return changing[0] if changing else settings[-1]
    return settings[-1]


def _repeat_warning(settings, chosen):
    if len(set(_comparable(s.value) for s in settings)) < 2:
        return None
    lines = ', '.join('line %d: %s' % (s.line, s.text) for s in settings)
    why = ('only a line with the non-default value counts, as in smf-spf'
           if isinstance(chosen.value, bool) else 'the last line counts, as in smf-spf')
    return '%s is set more than once with different values (%s); line %d (%s) takes effect: ' \
           '%s' % (chosen.key, lines, chosen.line, chosen.text, why)


def _read_lines(lines, report, report_all):
    """Value parsing: each line's key read (the fork's list keys as ours), each scalar
    value parsed, with what its own line says about it.  (settings by Config field,
    list lines by lower-case key) for _resolve_repeats and _read_lists."""
    settings = {}
    lists = {key: [] for key in _LISTS}
    for line_no, raw in enumerate(lines, 1):
        key, value = split_line(raw)
        if key is None:
            continue
        lowered = key.lower()
        if lowered in LIST_ALIASES and value:
            report(line_no, COMPAT, dialect.note(key, value))
            lowered = LIST_ALIASES[lowered]
        if lowered not in _SCALARS and lowered not in lists:
            report(line_no, WARNING, dialect.ignored(key) or 'unknown key %r, line ignored' % key)
            continue
        if value == '':
            report(line_no, FATAL if lowered == 'socket' else ERROR,
                   '%s has no value, line ignored' % key)
            continue
        if lowered in lists:
            lists[lowered].append((line_no, value))
            continue
        field, parser = _SCALARS[lowered]
        notes = []
        try:
            parsed = parser(value, notes) if lowered in _TAKES_NOTES else parser(value)
        except (_Invalid, dialect.DialectError) as exc:
            report(line_no, FATAL if lowered == 'socket' else ERROR,
                   '%s %s, line ignored%s' % (key, exc, dialect.hint(key, value)))
            continue
        report_all(line_no, notes)
        note = dialect.note(key, value, parsed)
        if note:
            report(line_no, COMPAT, note)
        if parser is _template and parsed.named:
            report(line_no, COMPAT, '%s: the %%{name} fields are smf-spf-py\'s; smf-spf 2.x '
                   'sent them as written' % key)
        if parser in TEXT_PARSERS and len(value.split()) > 1:
            report(line_no, COMPAT, '%s: smf-spf up to 2.5.0 used only the first word (%r); '
                   '2.5.1 and later used the whole value, as here' % (key, value.split()[0]))
        settings.setdefault(field, []).append(_Setting(line_no, key, value, parsed))
        if lowered == 'metricslisten' and not _is_loopback(parsed.host):
            report(line_no, WARNING, 'MetricsListen %s is not a loopback address: anyone who '
                   'reaches it sees the mail statistics' % value)
        if lowered == 'spftimeout' and mta_wait(parsed) > POSTFIX_COMMAND_TIMEOUT:
            report(line_no, WARNING, 'SPFTimeout %s leaves less than %d s before Postfix\'s '
                   'default milter timeout (milter_command_timeout %s): a slow DNS can make '
                   'the MTA give up on the milter' % (value, MTA_TIMEOUT_MARGIN,
                                                      _seconds(POSTFIX_COMMAND_TIMEOUT)))

    return settings, lists


def _resolve_repeats(settings, report):
    """Repeated-key resolution: the setting that takes effect for each field, as in
    smf-spf; (values by field, the chosen _Setting by field)."""
    values = {}
    chosen = {}
    for field, repeated in settings.items():
        chosen[field] = _effective(field, repeated)
        values[field] = chosen[field].value
        warning = _repeat_warning(repeated, chosen[field])
        if warning:
            report(repeated[-1].line, WARNING, warning)
    return values, chosen


def _cross_key_warnings(values, chosen, report):
    """What a value means beside the others (and the Socket's reach), once each field's
    setting is chosen."""
    if 'socket' in chosen:
        for reason in socket_warnings(chosen['socket'].value):
            report(chosen['socket'].line, WARNING, reason)
    for field in ('refuse_spf_none', 'refuse_spf_none_helo'):
        if values.get(field) and values.get('spf_best_guess', True):
            report(chosen[field].line, COMPAT,
                   '%s on has no effect while SPFBestGuess is on (the default): as in smf-spf '
                   'with SPFBestGuess, the best guess stands in for "none"; smf-spf 2.5.x (no '
                   'best guess) refused here. Add "SPFBestGuess off" to refuse'
                   % chosen[field].key)


def _read_lists(lists, report, report_all):
    """List parsing: every list key's lines into its Config field, and the accepted
    entries as written (list_entries), which a reload compares."""
    values = {}
    # list lines dropped as errors, by their index among the key's lines (list_entries)
    rejected = {'WhitelistIP': set(), 'ClientIPNAT': set()}
    entries = []
    entry_indexes = []
    for index, (line_no, value) in enumerate(lists['whitelistip']):
        notes = []
        try:
            entries.append((line_no, parse_whitelist_ip(value, notes)))
            entry_indexes.append(index)
        except _Invalid as exc:
            rejected['WhitelistIP'].add(index)
            report(line_no, ERROR, 'WhitelistIP %s, line ignored' % exc)
        report_all(line_no, notes)

    def bad_cidr(index, entry, message):
        rejected['WhitelistIP'].add(entry_indexes[index])
        report(entries[index][0], ERROR, 'WhitelistIP %s, line ignored' % message)

    values['whitelist_ip'] = CidrSet([entry for _, entry in entries], on_error=bad_cidr)
    values['whitelist_ptr'] = DomainMatcher([v for _, v in lists['whitelistptr']])
    # and what smf-spf whitelisted that these lines no longer do (smf_spf.whitelist)
    narrowed = [(line_no, whitelist.ptr_note(value)) for line_no, value in lists['whitelistptr']]
    for key in ('WhitelistFrom', 'WhitelistTo'):
        entries = lists[key.lower()]
        readings = [whitelist.read_address_pattern(value) for _, value in entries]
        values[_LIST_FIELDS[key.lower()]] = AddressMatcher(readings)
        narrowed += [(line_no, whitelist.address_note(key, value, reading))
                     for (line_no, value), reading in zip(entries, readings)]
    for line_no, note in narrowed:
        if note is not None:
            report(line_no, COMPAT, note)
    nat = {}
    nat_lines = {}
    for index, (line_no, value) in enumerate(lists['clientipnat']):
        notes = []
        try:
            source, target = parse_nat(value, notes)
        except _Invalid as exc:
            rejected['ClientIPNAT'].add(index)
            report(line_no, ERROR, 'ClientIPNAT %s, line ignored' % exc)
            continue
        finally:
            report_all(line_no, notes)
        if nat.get(source, target) != target:
            report(line_no, WARNING, 'ClientIPNAT %s is set more than once with different '
                   'destinations (line %d: %s, line %d: %s); line %d takes effect: the last '
                   'line counts, as in smf-spf' % (source, nat_lines[source], nat[source],
                                                    line_no, target, line_no))
        nat[source] = target
        nat_lines[source] = line_no
    values['client_ip_nat'] = MappingProxyType(nat)
    values['authserv_id_aliases'] = tuple(
        alias for _, value in lists['authservidalias'] for alias in re.split(r'[\s,]+', value)
        if alias)
    if lists['trustedforwarder']:
        values['trusted_forwarders'] = forwarders.parse(
            lists['trustedforwarder'], lambda line_no, reason: report(line_no, ERROR, reason))
    protected = []
    for line_no, value in lists['refusenotpass']:
        for domain in parse_domains('RefuseNotPass', value,
                                    lambda reason: report(line_no, ERROR, reason)):
            if domain not in protected:
                protected.append(domain)
    if protected:   # matched on whole labels: the domain itself and every name below it
        values['refuse_not_pass'] = DomainMatcher(protected)
    accepted = {}
    for lowered in _LISTS:
        key = FIELD_KEYS[_LIST_FIELDS[lowered]]
        bad = rejected.get(key, ())
        accepted[key] = tuple(v for i, (_, v) in enumerate(lists[lowered]) if i not in bad)
    accepted['RefuseNotPass'] = tuple(protected)      # by domain: a line may hold several
    values['list_entries'] = MappingProxyType(accepted)
    return values


def parse_lines(lines, path):
    """Parse config text lines; returns a LoadResult. Never raises on content."""
    problems = []
    compat = []

    def report(line_no, severity, reason):
        (compat if severity == COMPAT else problems).append(Problem(path, line_no, severity,
                                                                    reason))

    def report_all(line_no, notes):
        for severity, reason in notes:
            report(line_no, severity, reason)

    settings, lists = _read_lines(lines, report, report_all)
    values, chosen = _resolve_repeats(settings, report)
    _cross_key_warnings(values, chosen, report)
    values.update(_read_lists(lists, report, report_all))
    problems.sort(key=lambda problem: problem.line)
    compat.sort(key=lambda problem: problem.line)
    return LoadResult(Config(**values), tuple(problems), tuple(compat))


def fetches_exp(config):
    """Whether SPF checks fetch a failing record's exp= text: only for a RejectReason
    that shows it (%{exp})."""
    return config.reject_reason.uses('exp')


def load(path):
    """Read and parse the config file at path; ConfigFileError if it cannot be read."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ConfigFileError('%s: cannot read config file: %s' % (path, exc.strerror or exc))
    text = data.decode('utf-8', 'surrogateescape')
    return parse_lines(text.splitlines(), path)
