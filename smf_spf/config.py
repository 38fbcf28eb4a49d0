"""smf-spf.conf -> an immutable Config, plus every problem found, with file and line.

Rules (same as the C milter): one `Key value` per line, `#` starts a comment
anywhere, keys are case-insensitive, values are trimmed and may hold spaces.
Unlike C, an invalid line is reported (file, line, reason) and skipped, and an
unknown key is reported as a warning; an existing config never stops mail.
Only an unusable Socket is fatal here; the process checks User and LogTo.
"""

import re
from typing import NamedTuple, Optional, Tuple, Dict, Any

from smf_spf import dialect, forwarders
from smf_spf.cidr import CidrSet
from smf_spf.ipaddr import parse_ip
from smf_spf.match import SubstringMatcher, SuffixMatcher
from smf_spf.template import ReasonTemplate, TemplateError

DEFAULT_PATH = '/etc/mail/smfs/smf-spf.conf'
DEFAULT_REJECT_REASON = ('Message was rejected during SPF policy evaluation. '
                         'sender:%s client-ip:%s')
SYSLOG_FACILITIES = ('none', 'daemon', 'mail') + tuple('local%d' % i for i in range(8))
# Postfix waits 30 s (milter_command_timeout) for a reply to MAIL FROM.
DEFAULT_SPF_TIMEOUT = 20.0
MTA_COMMAND_TIMEOUT = 30.0
# about 80 MB at the 189 (CPython 3.11) to 204 (3.6) bytes of RSS per entry that
# bench/cache_rss.py measures
DEFAULT_CACHE_SIZE = 400000

ERROR = 'error'
WARNING = 'warning'
FATAL = 'fatal'


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


class Config(NamedTuple):
    whitelist_ip: Any = CidrSet(())
    whitelist_ptr: Any = SuffixMatcher(())
    whitelist_from: Any = SubstringMatcher(())
    whitelist_to: Any = SubstringMatcher(())
    fixed_client_ip: Optional[str] = None
    client_ip_nat: Dict[str, str] = {}
    skip_ndr: bool = False
    skip_auth: bool = True
    reject_reason: ReasonTemplate = ReasonTemplate(DEFAULT_REJECT_REASON)
    relaxed_local_part: bool = False
    refuse_spf_none: bool = False
    refuse_spf_none_helo: bool = False
    refuse_fail: bool = True
    soft_fail: bool = False
    accept_temp_error: bool = True
    spf_best_guess: bool = True
    tag_subject: bool = True
    tag: str = '[SPF:fail]'
    add_header: bool = True
    add_received_header: bool = False
    authserv_id: Optional[str] = None
    quarantine: bool = False
    quarantine_box: str = 'postmaster'
    ttl: int = 3600
    user: str = 'smfs'
    socket: SocketSpec = SocketSpec('unix', '/var/run/smfs/smf-spf.sock', 0,
                                    'unix:/var/run/smfs/smf-spf.sock')
    syslog: str = 'mail'
    log_to: Optional[str] = None
    daemonize: bool = True
    nameservers: Tuple[str, ...] = ()
    spf_timeout: float = DEFAULT_SPF_TIMEOUT
    cache_size: int = DEFAULT_CACHE_SIZE
    # policy beyond smf-spf: HELO identity, per-result actions, dry run, trusted forwarders
    check_helo: bool = False
    refuse_helo_fail: bool = False
    refuse_softfail: bool = False
    reject_perm_error: bool = False
    dry_run: bool = False
    accept_postmaster: bool = True
    trusted_forwarders: Any = forwarders.NONE


class LoadResult(NamedTuple):
    config: Config
    problems: Tuple[Problem, ...]

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


def parse_socket(value):
    kind, colon, rest = value.partition(':')
    kind = kind.lower()
    if not colon or not rest:
        raise _Invalid('%r is not unix:PATH, local:PATH, inet:PORT@HOST or inet6:PORT@HOST'
                       % value)
    if kind in ('unix', 'local'):
        return SocketSpec('unix', rest, 0, value)
    if kind in ('inet', 'inet6'):
        port, at, host = rest.partition('@')
        if not _PORT.match(port) or not 0 < int(port) < 65536:
            raise _Invalid('%r: port %r is not 1..65535' % (value, port))
        if at and not host:
            raise _Invalid('%r: no host after @' % value)
        if kind == 'inet6' and host and host.startswith('['):
            host = host.strip('[]')
        if not host:
            host = '::' if kind == 'inet6' else '0.0.0.0'
        return SocketSpec(kind, host, int(port), value)
    raise _Invalid('%r: unknown socket type %r' % (value, kind))


def parse_nat(value):
    """`src:dst`; IPv6 addresses in brackets: `[2001:db8::1]:[2001:db8::2]`."""
    if value.startswith('['):
        source, bracket, rest = value[1:].partition(']')
        if not bracket or not rest.startswith(':'):
            raise _Invalid('%r: expected [src]:dst' % value)
        target = rest[1:]
    else:
        source, colon, target = value.partition(':')
        if not colon:
            raise _Invalid('%r: expected src:dst' % value)
    if target.startswith('[') and target.endswith(']'):
        target = target[1:-1]
    if not target:
        raise _Invalid('%r: no destination address' % value)
    return _ip(source), _ip(target)


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


def _template(value):
    try:
        return ReasonTemplate(value)
    except TemplateError as exc:
        raise _Invalid(str(exc))


# key (lower case) -> (Config field, value parser)
_SCALARS = {
    'fixedclientip': ('fixed_client_ip', _ip),
    'skipndr': ('skip_ndr', _boolean),
    'skipauth': ('skip_auth', _boolean),
    'rejectreason': ('reject_reason', _template),
    'relaxedlocalpart': ('relaxed_local_part', _boolean),
    'refusespfnone': ('refuse_spf_none', _boolean),
    'refusespfnonehelo': ('refuse_spf_none_helo', _boolean),
    'refusefail': ('refuse_fail', _boolean),
    'softfail': ('soft_fail', _boolean),
    'accepttemperror': ('accept_temp_error', _boolean),
    'spfbestguess': ('spf_best_guess', _boolean),
    'tagsubject': ('tag_subject', _boolean),
    'tag': ('tag', str),
    'addheader': ('add_header', _boolean),
    'addreceivedheader': ('add_received_header', _boolean),
    'authservid': ('authserv_id', str),
    'quarantine': ('quarantine', _boolean),
    'quarantinebox': ('quarantine_box', str),
    'ttl': ('ttl', parse_ttl),
    'user': ('user', str),
    'socket': ('socket', parse_socket),
    'syslog': ('syslog', None),
    'logto': ('log_to', str),
    'daemonize': ('daemonize', _boolean),
    'nameservers': ('nameservers', parse_nameservers),
    'spftimeout': ('spf_timeout', parse_timeout),
    'cachesize': ('cache_size', parse_count),
    'checkhelo': ('check_helo', _boolean),
    'refusehelofail': ('refuse_helo_fail', _boolean),
    'refusesoftfail': ('refuse_softfail', _boolean),
    'dryrun': ('dry_run', _boolean),
    'acceptpostmaster': ('accept_postmaster', _boolean),
    # the redvw fork's keys (smf_spf.dialect)
    'rejectpermerror': ('reject_perm_error', dialect.boolean),
    'rejecttemperror': ('accept_temp_error', dialect.inverse_boolean),
    'addauthresultheader': ('add_header', dialect.auth_result_header),
}
_LISTS = ('whitelistip', 'whitelistptr', 'whitelistfrom', 'whitelistto', 'clientipnat')
_NEW_LISTS = ('trustedforwarder',)


def _syslog(value):
    lowered = value.lower()
    if lowered not in SYSLOG_FACILITIES:
        raise _Invalid('%r is not a facility (%s)' % (value, ', '.join(SYSLOG_FACILITIES)))
    return lowered


def split_line(raw):
    """(key, value) of one config line; (None, None) for a blank or comment line."""
    text = raw.split('#', 1)[0].strip()
    if not text:
        return None, None
    parts = text.split(None, 1)
    return parts[0], parts[1].strip() if len(parts) > 1 else ''


def parse_lines(lines, path):
    """Parse config text lines; returns a LoadResult. Never raises on content."""
    problems = []
    values = {}
    lists = {key: [] for key in _LISTS + _NEW_LISTS}

    def report(line_no, severity, reason):
        problems.append(Problem(path, line_no, severity, reason))

    for line_no, raw in enumerate(lines, 1):
        key, value = split_line(raw)
        if key is None:
            continue
        lowered = key.lower()
        if lowered in dialect.ALIASES and value:
            report(line_no, WARNING, dialect.note(key, value))
            lowered = dialect.ALIASES[lowered]
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
        if parser is None:
            parser = _syslog
        try:
            values[field] = parser(value)
        except (_Invalid, dialect.DialectError) as exc:
            report(line_no, FATAL if lowered == 'socket' else ERROR,
                   '%s %s, line ignored%s' % (key, exc, dialect.hint(key, value)))
            continue
        note = dialect.note(key, value, values[field])
        if note:
            report(line_no, WARNING, note)
        if lowered == 'spftimeout' and values[field] >= MTA_COMMAND_TIMEOUT:
            report(line_no, WARNING, 'SPFTimeout %s is not below the MTA\'s 30 s milter '
                   'timeout: a slow DNS can make the MTA give up on the milter' % value)

    entries = lists['whitelistip']

    def bad_cidr(index, entry, message):
        report(entries[index][0], ERROR, 'WhitelistIP %s, line ignored' % message)

    values['whitelist_ip'] = CidrSet([entry for _, entry in entries], on_error=bad_cidr)
    values['whitelist_ptr'] = SuffixMatcher([v for _, v in lists['whitelistptr']])
    values['whitelist_from'] = SubstringMatcher([v for _, v in lists['whitelistfrom']])
    values['whitelist_to'] = SubstringMatcher([v for _, v in lists['whitelistto']])
    nat = {}
    for line_no, value in lists['clientipnat']:
        try:
            source, target = parse_nat(value)
        except _Invalid as exc:
            report(line_no, ERROR, 'ClientIPNAT %s, line ignored' % exc)
            continue
        nat[source] = target
    values['client_ip_nat'] = nat
    if lists['trustedforwarder']:
        values['trusted_forwarders'] = forwarders.parse(
            lists['trustedforwarder'], lambda line_no, reason: report(line_no, ERROR, reason))
    problems.sort(key=lambda problem: problem.line)
    return LoadResult(Config(**values), tuple(problems))


def load(path):
    """Read and parse the config file at path; ConfigFileError if it cannot be read."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ConfigFileError('%s: cannot read config file: %s' % (path, exc.strerror or exc))
    text = data.decode('utf-8', 'surrogateescape')
    return parse_lines(text.splitlines(), path)
