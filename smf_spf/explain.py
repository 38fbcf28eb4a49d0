"""smf-spf --explain CLIENT_IP SENDER [HELO] [RCPT...]: what the daemon would do with one
message, and why, without any mail.

The message goes through the daemon's own milter class (smf_spf.milter.SpfMilter), with
the config file's settings, against live DNS (Nameservers, or /etc/resolv.conf): every
decision, log line, reply and header field is the one the daemon would make, by
construction. In place of an MTA a recording context answers the milter's calls; in
place of the result cache every identity is checked through DNS, by a checker that
writes down each step of pyspf's evaluation: each DNS query and its answer, each record
read (includes indented), the void lookups as they are counted, the mechanism that
matched, the number of lookups, and the record's exp= text (fetched here whatever
RejectReason shows).

Exit status: 0 the message would be accepted (delivered, maybe tagged or quarantined, or
not checked at all), 2 refused (5xx), 3 tempfailed (4xx), 1 the command could not run
(usage, config file, client IP).
"""

import logging
import socket
import sys

import spf

from smf_spf import c_rules
from smf_spf.config import FIELD_KEYS
from smf_spf.mailbox import identity_text
from smf_spf.metrics import NO_METRICS
from smf_spf.spfcheck import CachedChecker, SpfChecker, _DeadlineQuery

EXIT_ACCEPTED, EXIT_ERROR, EXIT_REFUSED, EXIT_TEMPFAILED = 0, 1, 2, 3
QUEUE_ID = 'EXPLAIN'
INDENT = '  '
HEADERS_START = '--- header fields it would add, as the message would carry them ---'
HEADERS_END = '--- end of header fields ---'


def printed_fields(output):
    """The header fields an --explain output shows, each 'Name: value' with its folded
    lines: the layout _print_edits writes, read back."""
    block = output.split(HEADERS_START + '\n', 1)[1].split(HEADERS_END, 1)[0]
    fields = []
    for line in block.splitlines():
        if line.startswith('\t'):
            fields[-1] += '\n' + line
        else:
            fields.append(line)
    return fields


class UsageError(Exception):
    """Arguments --explain cannot run with."""


# -- SPF, step by step ------------------------------------------------------------------

class Trace(object):
    """What one SPF check did, in order: (depth, text) lines, and its SpfResult."""

    def __init__(self, ip, identity, helo):
        self.ip, self.identity, self.helo = ip, identity, helo
        self.lines = []
        self.result = None

    def add(self, depth, text):
        self.lines.append((depth, text))


def _shown_answer(qtype, value):
    if qtype in ('TXT', 'SPF'):
        return '"%s"' % b''.join(value).decode('ascii', 'backslashreplace')
    if qtype == 'MX':
        return '%s %s' % value
    return str(value)


class TracingQuery(_DeadlineQuery):
    """The daemon's query, writing each step into `trace`."""

    def __init__(self, *args, **kwargs):
        self.trace = kwargs.pop('trace')
        self._dns_depth = 0
        _DeadlineQuery.__init__(self, *args, **kwargs)

    def _at(self):
        return (self._depth or 0) + 1 + self._dns_depth

    def check(self, record=None):
        result = _DeadlineQuery.check(self, record)
        self.trace.add(1, 'mechanism that matched: %s' % (
            self.mechanism or 'none (no record, an error, or the default result)'))
        self.trace.add(1, 'DNS lookups by mechanisms and modifiers: %d (limit %d); void '
                          'lookups: %d (limit %d, SPFVoidLimit)'
                       % (self.lookups, spf.MAX_LOOKUP, self.void_lookups, self.void_limit))
        return result

    def check1(self, record, domain, recursion):
        depth = recursion + 1
        what = 'include' if self._depth is not None and recursion > self._depth else (
            'redirect' if self._depth is not None else 'record')
        self.trace.add(depth, '%s %s: %s' % (what, domain, record if record is not None
                                              else '(no SPF record)'))
        try:
            found = _DeadlineQuery.check1(self, record, domain, recursion)
        except (spf.TempError, spf.PermError) as exc:
            self.trace.add(depth, '%s: %s' % (domain, exc))
            raise
        self.trace.add(depth, '%s: %s%s' % (domain, found[0], '' if what != 'include' else
                                              ' (the include matches)' if found[0] == 'pass'
                                              else ' (the include does not match)'))
        return found

    def dns(self, name, qtype, cnames=None, ignore_void=False):
        at = self._at()
        voids = self.void_lookups
        self._dns_depth += 1
        try:
            found = _DeadlineQuery.dns(self, name, qtype, cnames, ignore_void)
        except (spf.TempError, spf.PermError) as exc:
            if self.void_lookups > self.void_limit:
                exc = 'no records (void lookup %d: over the limit of %d, a permerror)' % (
                    self.void_lookups, self.void_limit)
            self.trace.add(at, 'DNS %s %s -> %s' % (name, qtype, exc))
            raise
        finally:
            self._dns_depth -= 1
        if found:
            answers = ', '.join(_shown_answer(qtype, value) for value in found)
        elif self.void_lookups > voids:
            answers = 'no records (void lookup %d of %d)' % (self.void_lookups,
                                                             self.void_limit)
        else:
            answers = 'no records'
        self.trace.add(at, 'DNS %s %s -> %s' % (name, qtype, answers))
        return found

    def cidrmatch(self, addresses, length):
        matched = _DeadlineQuery.cidrmatch(self, addresses, length)
        if matched:
            networks = ['%s/%d' % (address, length) for address in addresses]
            self.trace.add(self._at(), 'client %s is in %s%s' % (
                self.c, 'one of ' if len(networks) > 1 else '', ', '.join(networks)))
        return matched

    def _explanation(self, spec, domain):
        self.trace.add(1, 'exp= of %s: the explanation at %s' % (domain, spec))
        text = _DeadlineQuery._explanation(self, spec, domain)
        self.trace.add(1, 'explanation: %s' % ('"%s"' % text if text else
                                               'none usable (RFC 7208 section 6.2)'))
        return text


class TracingChecker(SpfChecker):
    """SpfChecker whose every check leaves a Trace in `traces`; exp= always fetched."""

    def __init__(self, *args, **kwargs):
        SpfChecker.__init__(self, *args, **kwargs)
        self.traces = []

    def query_class(self, *args, **kwargs):
        return TracingQuery(*args, trace=self.traces[-1], **kwargs)

    def check(self, ip, identity, helo, timeout=None):
        self.traces.append(Trace(ip, identity, helo))
        found = SpfChecker.check(self, ip, identity, helo, timeout)
        self.traces[-1].result = found
        return found


# -- the milter, with a recording context in place of libmilter's -----------------------

class _Context(object):
    """What libmilter would give the milter: macros; what it would be told: the reply
    and the message's edits."""

    def __init__(self, macros):
        self.macros = macros
        self.reply = None
        self.edits = []
        self.private = None

    def setpriv(self, milter):
        self.private = milter

    def getpriv(self):
        return self.private

    def getsymval(self, name):
        return self.macros.get(name)

    def setreply(self, code, xcode, text, *more):
        self.reply = (code, xcode, text)

    def addheader(self, name, value, index):
        self.edits.append(('insert' if index == 0 else 'add', name, value))

    def chgheader(self, name, index, value):
        self.edits.append(('delete' if value == '' else 'change', name, value, index))

    def addrcpt(self, rcpt, params):
        self.edits.append(('add recipient', rcpt))

    def delrcpt(self, rcpt):
        self.edits.append(('remove recipient', rcpt))


class _Lines(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.lines = []

    def emit(self, record):
        message = record.getMessage()
        prefix = QUEUE_ID + ': '
        self.lines.append(message[len(prefix):] if message.startswith(prefix) else message)


def _milter_class():
    from smf_spf.milter import SpfMilter

    class ExplainMilter(SpfMilter):
        """The daemon's milter; each verdict it answers is kept."""

        def __init__(self, services):
            SpfMilter.__init__(self, services)
            self.verdicts = []

        def _answer(self, verdict, queue_id=None):
            self.verdicts.append(verdict)
            return SpfMilter._answer(self, verdict, queue_id)

    return ExplainMilter


# -- the command --------------------------------------------------------------------------

def path_argument(text):
    """An address as MAIL FROM or RCPT TO carries it: in angle brackets."""
    return text if text.startswith('<') else '<%s>' % text


def client_host_name(ip, timeout, out):
    """The name an MTA would give the milter for `ip`: its PTR name when that name's
    addresses include `ip` (forward-confirmed), else `[ip]`."""
    from smf_spf.dnslookup import lookup
    import ipaddress
    reverse = ipaddress.ip_address(ip).reverse_pointer
    try:
        names = [value for _, value in lookup(reverse, 'PTR', timeout=timeout)]
    except spf.TempError as exc:
        out('client host name: [%s] (PTR lookup failed: %s)' % (ip, exc))
        return '[%s]' % ip
    for name in names:
        qtype = 'AAAA' if ':' in ip else 'A'
        try:
            addresses = [value for _, value in lookup(name, qtype, timeout=timeout)]
        except spf.TempError:
            addresses = []
        if ip in addresses:
            out('client host name: %s (PTR, forward-confirmed)' % name)
            return name.rstrip('.')
    out('client host name: [%s] (%s)' % (ip, 'PTR %s, not forward-confirmed' % ', '.join(
        names) if names else 'no PTR record'))
    return '[%s]' % ip


def _list_size(config, field):
    key = FIELD_KEYS[field]
    return '%s (%d entries)' % (key, len(config.list_entries.get(key, ())))


class Explanation(object):
    """One run: the stages in order, printed through `out`; `status` the exit status."""

    def __init__(self, config, path, out):
        self.config = config
        self.path = path
        self.out = out
        self.status = EXIT_ACCEPTED
        self.accepted_for = (1, 1)

    def run(self, client_ip, sender, helo=None, rcpts=(), mta=None, fqdn=None):
        from smf_spf.milter import Services
        import Milter
        config, out = self.config, self.out
        address = c_rules.unwrap_ip(client_ip)
        if address is None:
            raise UsageError('%r is not an IP address' % client_ip)
        mta = mta or socket.getfqdn()
        rcpts = list(rcpts) or ['<recipient@%s>' % mta]
        checker = TracingChecker(config.spf_timeout, receiver=socket.gethostname(),
                                 void_limit=config.spf_void_limit, fetch_exp=True)
        handler = _Lines()
        log = logging.getLogger('smf-spf-explain')
        log.handlers = [handler]
        log.setLevel(logging.DEBUG)
        log.propagate = False
        services = Services(config, CachedChecker(checker, None, c_rules.is_cacheable), log,
                            NO_METRICS)
        out('smf-spf --explain: what the daemon would do with this message, and why; no '
            'mail is sent')
        out('config: %s; DNS: %s, SPFTimeout %g s' % (
            self.path, 'Nameservers %s' % ' '.join(config.nameservers) if config.nameservers
            else 'the servers of /etc/resolv.conf', config.spf_timeout))
        out('result cache: %s' % (
            'on (TTL %d s, CacheSize %d): the daemon answers a client IP and domain it '
            'checked within TTL from the cache (a temperror is never kept); here every '
            'identity is checked through DNS' % (config.ttl, config.cache_size)
            if config.ttl and config.cache_size else 'off: every identity is checked '
            'through DNS, as here'))
        if fqdn is None:
            fqdn = client_host_name(address, config.spf_timeout, out)
        context = _Context({'j': mta, '{j}': mta, 'i': QUEUE_ID,
                            '{mail_addr}': path_argument(sender)[1:-1]})
        milter = _milter_class()(services)
        milter._setctx(context)
        seen = [0, 0]

        def stage(answer):
            """Print what the stage logged and checked, then its answer."""
            for line in handler.lines[seen[0]:]:
                out(INDENT + 'log: ' + line)
            seen[0] = len(handler.lines)
            for trace in checker.traces[seen[1]:]:
                self._print_trace(trace)
            seen[1] = len(checker.traces)
            verdict = milter.verdicts[-1] if milter.verdicts else None
            milter.verdicts = []
            return self._print_answer(answer, verdict, context)

        family = socket.AF_INET6 if ':' in address else socket.AF_INET
        out('')
        out('CONNECT from %s, host name %s, MTA %s' % (address, fqdn, mta))
        out(INDENT + 'consulted: %s, %s, ClientIPNAT (%d entries), FixedClientIP %s' % (
            _list_size(config, 'whitelist_ip'), _list_size(config, 'whitelist_ptr'),
            len(config.client_ip_nat), config.fixed_client_ip or '(none)'))
        if stage(milter.connect(fqdn, family, (address, 25))) != Milter.CONTINUE:
            return self._end(milter)
        if milter.connection.spf_ip != address:
            out(INDENT + 'SPF is evaluated as if the client were %s' % milter.connection.spf_ip)
        if helo is not None:
            milter.hello(helo)
        raw_from = path_argument(sender)
        out('')
        out('MAIL FROM:%s, HELO %s' % (raw_from, helo if helo else
                                       '(none given: "%s")' % c_rules.UNDEFINED_HELO))
        out(INDENT + 'consulted: TLS and SkipAuth %s (here no verified TLS client, no SMTP '
                     'AUTH), SkipNDR %s, %s, TrustedForwarder (%d entries)' % (
                         'on' if config.skip_auth else 'off',
                         'on' if config.skip_ndr else 'off',
                         _list_size(config, 'whitelist_from'),
                         len(config.trusted_forwarders)))
        context.reply = None
        answer = milter.envfrom(raw_from)
        if milter.state.trusted is not None:
            out(INDENT + 'TrustedForwarder: the client is one (%s)' % milter.state.trusted)
        if stage(answer) != Milter.CONTINUE:
            return self._end(milter)
        delivered = 0
        for rcpt in rcpts:
            rcpt = path_argument(rcpt)
            out('')
            out('RCPT TO:%s' % rcpt)
            context.reply = None
            if stage(milter.envrcpt(rcpt)) == Milter.CONTINUE:
                delivered += 1
        if not delivered:
            return self._end(milter)
        self.accepted_for = (delivered, len(rcpts))
        out('')
        out('end of message')
        context.edits = []
        milter.eom()
        stage(Milter.CONTINUE)
        self._print_edits(context.edits)
        self.status = EXIT_ACCEPTED
        return self._end(milter)

    def _end(self, milter):
        milter.close()
        out = self.out
        out('')
        delivered, of = self.accepted_for
        out('exit status %d: %s' % (self.status, {
            EXIT_ACCEPTED: 'the message would be accepted%s' % (
                ' for %d of its %d recipients' % (delivered, of) if delivered < of else ''),
            EXIT_REFUSED: 'the message would be refused',
            EXIT_TEMPFAILED: 'the message would be tempfailed (the client tries again)',
        }[self.status]))
        return self.status

    def _print_trace(self, trace):
        out = self.out
        out(INDENT + 'SPF check of %s for client %s, HELO %s:' % (
            identity_text(*trace.identity), trace.ip, trace.helo))
        for depth, text in trace.lines:
            out(INDENT * (depth + 1) + text)
        result = trace.result
        out(INDENT * 2 + 'result: %s (%s)' % (result.result, result.explanation or
                                              'no explanation'))

    def _print_answer(self, answer, verdict, context):
        """Print what the MTA is told; the exit status so far follows it."""
        import Milter
        out = self.out
        if answer == Milter.CONTINUE:
            if verdict is not None and verdict.dry_run:
                out(INDENT + 'answer: continue (DryRun: would %s, by %s)' % (
                    verdict.dry_run, verdict.rule))
            elif verdict is not None and verdict.rule is not None:
                out(INDENT + 'answer: continue (%s let it through)' % verdict.rule)
            else:
                out(INDENT + 'answer: continue')
            return answer
        if answer == Milter.ACCEPT:
            why = verdict.skipped_by if verdict is not None else None
            out(INDENT + 'answer: accept, not checked any further%s' % (
                ' (%s)' % why if why else ''))
            self.status = EXIT_ACCEPTED
            return answer
        refused = answer == Milter.REJECT
        self.status = EXIT_REFUSED if refused else EXIT_TEMPFAILED
        rule = ' by %s' % verdict.rule if verdict is not None and verdict.rule else ''
        if context.reply is not None:
            code, xcode, text = context.reply
            out(INDENT + 'answer: %s%s; the client is told:' % (
                'refuse' if refused else 'tempfail', rule))
            out(INDENT * 2 + '%s %s %s' % (code, xcode, text.replace('%%', '%')))
        else:
            out(INDENT + 'answer: %s%s (the MTA\'s own reply)' % (
                'refuse' if refused else 'tempfail', rule))
        return answer

    def _print_edits(self, edits):
        out = self.out
        fields = [edit for edit in edits if edit[0] in ('insert', 'add', 'change')]
        others = [edit for edit in edits if edit not in fields]
        out(INDENT + 'edits: %s' % ('; '.join(
            '%s %s%s' % ({'insert': 'insert', 'add': 'append', 'change': 'change'}[edit[0]],
                         edit[1], ' at the top' if edit[0] == 'insert' else '')
            for edit in fields) or 'no header field added'))
        out(HEADERS_START)
        for edit in fields:
            out('%s: %s' % (edit[1], edit[2]))
        out(HEADERS_END)
        for edit in others:
            out(INDENT + '%s %s' % (edit[0], edit[1]))
        subject = [edit for edit in fields if edit[1] == 'Subject']
        if subject and subject[0][0] == 'add':
            out(INDENT + '(a message with a Subject gets it prefixed instead: "%s %s")'
                % (self.config.tag, '<Subject>'))


def main(config, path, arguments, mta=None, fqdn=None, out=None):
    """--explain's run: its exit status."""
    from smf_spf.spfcheck import use_nameservers
    if out is None:
        def out(line):
            sys.stdout.write(line + '\n')
    if len(arguments) < 2:
        raise UsageError('--explain needs CLIENT_IP SENDER [HELO] [RCPT...]')
    use_nameservers(config.nameservers, config.spf_timeout)
    client_ip, sender = arguments[0], arguments[1]
    helo = arguments[2] if len(arguments) > 2 else None
    return Explanation(config, path, out).run(client_ip, sender, helo, arguments[3:], mta,
                                              fqdn)
