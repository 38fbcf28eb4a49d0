"""Thin pymilter adapter: MTA callbacks and macros in, policy verdicts out.

One instance per SMTP connection (libmilter runs each in its own thread);
the shared parts (config, cache, SPF checker) are read-only or lock-protected.
"""

import logging
import socket
import sys
import threading
import time

# The C layer between libmilter and pymilter is not installed here: the daemon installs
# it before it imports this module (smf_spf/interpose.py). Without it symguard's
# functions answer as pymilter alone would.
import Milter

from smf_spf import c_rules, headers, policy, symguard
from smf_spf.extra_rules import NO_STATE
from smf_spf.outcomes import (ACCEPT, ADD_HEADER, ADD_RCPT, CHG_HEADER, CONTINUE, DEL_HEADER,
                              DEL_RCPT, INS_HEADER, REJECT, TEMPFAIL)
from smf_spf.metrics import NO_METRICS
from smf_spf.logsetup import LEVELS, logger

_ACTIONS = {
    CONTINUE: Milter.CONTINUE,
    ACCEPT: Milter.ACCEPT,
    REJECT: Milter.REJECT,
    TEMPFAIL: Milter.TEMPFAIL,
}
# what pymilter tells the MTA when a callback raises (serve sets it): never a 451 for the
# whole message over one value it could not decode, see UNDECODED
EXCEPTION_POLICY, EXCEPTION_POLICY_NAME = Milter.CONTINUE, 'continue'
# what we may ask of the MTA: headers, Subject, quarantine recipients
FLAGS = Milter.ADDHDRS | Milter.CHGHDRS | Milter.ADDRCPT | Milter.DELRCPT
# the header fields SpfMilter.header reads (lower case); the guard answers the others
# (symguard.pass_on)
_SUBJECT = 'subject'
_AUTHENTICATION_RESULTS = c_rules.AUTHENTICATION_RESULTS.lower()
HEADERS_READ = (_SUBJECT, _AUTHENTICATION_RESULTS)


class _Undecoded(object):
    """Values pymilter could not decode. Its C part builds each callback's arguments as
    strict UTF-8 (pymilter 1.0.4: header values, MAIL FROM, RCPT TO; every version: HELO),
    so a value that is not UTF-8 never reaches Python: pymilter prints the error through
    sys.excepthook and answers the MTA with its exception policy instead.  (The guard,
    smf_spf/_symguard.c, passes such values on where it is in effect.)

    The hook gets no session, only the thread it runs in.  Where libmilter gives each
    session a thread of its own (no worker pool: el7's, el8's, el9's), the counts are kept
    per thread, so each session sees only its own; with a worker pool (Debian's) one
    session's commands may be served by any worker, and a session sees every session's."""

    def __init__(self):
        self.count = 0
        self.by_thread = {}         # thread ident -> count, while per_thread
        self.per_thread = False
        self.lock = threading.Lock()

    def install(self, log, per_thread=False):
        """Count (and log) them; __main__ also sets the exception policy to CONTINUE.
        `per_thread`: libmilter serves each session from one thread (see above)."""
        self.per_thread = per_thread
        previous = sys.excepthook

        def hook(exc_type, exc, tb):
            if exc_type is not None and issubclass(exc_type, UnicodeDecodeError):
                with self.lock:
                    self.count += 1
                    if self.per_thread:
                        ident = threading.get_ident()
                        self.by_thread[ident] = self.by_thread.get(ident, 0) + 1
                log.warning('pymilter could not pass on a value that is not UTF-8 (%r); '
                            'that callback was skipped', bytes(exc.object[:80]))
                return
            previous(exc_type, exc, tb)
        sys.excepthook = hook

    def mark(self):
        """Where the calling session stands now, for changed_since() in the same session."""
        if self.per_thread:
            ident = threading.get_ident()
            return ident, self.by_thread.get(ident, 0)
        return None, self.count

    def changed_since(self, mark):
        """Whether a value may have been withheld from this session since `mark`."""
        ident, seen = mark
        if ident is None:
            return self.count != seen
        return self.by_thread.get(ident, 0) != seen


UNDECODED = _Undecoded()


def _continue(*args):
    return Milter.CONTINUE


class _NoSession(object):
    """Stands in for SpfMilter on a libmilter context that has none: a command came
    before CONNECT (or after the session closed). Every further command of that context
    is answered continue, quietly; it is false, so that pymilter's connect callback
    still makes a real SpfMilter should CONNECT come after all."""

    def __bool__(self):
        return False

    def __getattr__(self, name):
        return _continue


def adopt_sessionless_context(trace):
    """True when `trace` is pymilter's call of a milter object that does not exist (its
    callbacks take `ctx` and call ctx.getpriv().method): that context gets the stand-in,
    so the session's later commands raise no more."""
    while trace is not None:
        ctx = trace.tb_frame.f_locals.get('ctx')
        if ctx is not None and hasattr(ctx, 'getpriv') and ctx.getpriv() is None:
            ctx.setpriv(_NoSession())
            return True
        trace = trace.tb_next
    return False


def guard_protocol_mask(data_unanswered):
    """What the guard's own negotiation clears from the steps the MTA offers: SpfMilter's;
    with `data_unanswered` (a unix socket, or a TCP one where smf_spf.tcpack acknowledges
    an unanswered packet at once) DATA goes without reply too."""
    mask = SpfMilter.protocol_mask()
    return mask & ~Milter.P_NR_DATA if data_unanswered else mask


class Services(object):
    """What every connection shares: the config and the (cached) SPF checker.

    Never changed once built: a reload builds new Services (replaced()) and the
    process hands those to new connections; one in flight keeps its own.
    """

    def __init__(self, config, spf, log=None, metrics=None):
        self.config = config
        self.spf = spf
        self.log = log or logger()
        self.metrics = metrics or NO_METRICS

    def replaced(self, config, spf):
        return Services(config, spf, self.log, self.metrics)


def _client_ip(family, hostaddr):
    if family not in (socket.AF_INET, socket.AF_INET6) or not hostaddr:
        return None
    if isinstance(hostaddr, tuple):
        return hostaddr[0]
    return hostaddr


def _fail_open(stage, result, unchecked_from_now=False):
    """Decorator: an unexpected error is logged and the mail goes on (never lost).
    `unchecked_from_now`: for a step answered with no reply, which cannot accept; the
    session is left unchecked instead (MAIL FROM then accepts it)."""
    def wrap(method):
        def guarded(self, *args):
            try:
                return method(self, *args)
            except Exception:
                self.services.log.exception('[ERROR] internal error at %s; '
                                            'passing the message on unfiltered', stage)
                if unchecked_from_now:
                    self.connection = None
                return result
        guarded.__name__ = method.__name__
        guarded.__doc__ = method.__doc__
        return guarded
    return wrap


class MessageLog(object):
    """A connection's log lines, prefixed `QUEUEID: ` as other milters do, so that grepping
    the ID shows our decision beside the MTA's own lines; a message's lines are held while
    it waits for its queue ID.  `log()` gives the logger, `queue_id()` asks the MTA."""

    def __init__(self, log, queue_id):
        self._log = log
        self._queue_id = queue_id
        self._held = None       # a message's log lines waiting for its queue ID

    def write(self, logs, queue_id=None):
        """Log `(level, message)` lines, or hold them while a message waits."""
        if self._held is not None:
            self._held.extend(logs)
            return
        log = self._log()
        prefix = '%s: ' % queue_id if queue_id else ''
        for level, message in logs:
            log.log(LEVELS.get(level, logging.INFO), prefix + message)

    def hold(self):
        """Keep this message's lines until the MTA has a queue ID (Postfix: only after
        MAIL FROM), so that they are written once, with it."""
        self._held = []

    def release(self, queue_id=None):
        """Write the held lines, with `queue_id` when the MTA has one by now."""
        held, self._held = self._held, None
        if held:
            self.write(held, queue_id)

    def tie_queue_id(self, logs_to_come=()):
        """The queue ID, when there are lines to write with it (held ones, which it
        releases, or `logs_to_come`); else None without asking the MTA."""
        if not self._held and not logs_to_come:
            return None
        queue_id = self._queue_id()
        if queue_id:
            self.release(queue_id)
        return queue_id


# each edit operation (smf_spf.outcomes) -> the libmilter call that makes it
_EDIT_CALLS = {
    DEL_HEADER: lambda milter, edit: milter.chgheader(edit.name, edit.index, ''),
    INS_HEADER: lambda milter, edit: milter.addheader(edit.name, edit.value, edit.index),
    ADD_HEADER: lambda milter, edit: milter.addheader(edit.name, edit.value),
    CHG_HEADER: lambda milter, edit: milter.chgheader(edit.name, edit.index, edit.value),
    DEL_RCPT: lambda milter, edit: milter.delrcpt(edit.value),
    ADD_RCPT: lambda milter, edit: milter.addrcpt(edit.value),
}


class SpfMilter(Milter.Base):
    def __init__(self, services):
        self.services = services
        self.connection = None
        self.helo = None
        self.logs = MessageLog(lambda: self.services.log, self._queue_id)
        self._reset_message()
        services.metrics.connection_opened()

    def negotiate(self, opts):
        # pymilter's own looks up every callback for macro lists on each connection;
        # this milter asks for none, so the protocol mask it computes once is enough.
        # The guard answers the same in C when it is in effect (symguard.pass_on).
        self._actions = opts[0]
        opts[1] = self._protocol = opts[1] & ~self.protocol_mask()
        opts[2] = opts[3] = 0
        return Milter.CONTINUE

    def _reset_message(self):
        self.mail = None
        self.result = None
        self.explanation = ''
        self.subject = None
        self.quarantined = []
        self.auth_results = []      # incoming Authentication-Results values, in order
        self.mail_seen = False      # envfrom ran for this message and did not refuse it
        self.undecoded_at_mail = UNDECODED.mark()
        self.state = NO_STATE

    def getsymval(self, name):
        """A macro's value; bytes that are not UTF-8 kept as surrogate escapes
        (pymilter decodes strictly and raises)."""
        try:
            value = Milter.Base.getsymval(self, name)
        except UnicodeDecodeError as exc:
            value = exc.object
        if isinstance(value, bytes):
            value = value.decode('utf-8', 'surrogateescape')
        return value

    def _queue_id(self):
        """The MTA's queue ID (macro i), once it has one: sendmail at MAIL FROM, Postfix
        only once its queue file is open (a later RCPT TO, or end of message)."""
        try:
            return self.getsymval('i') or None
        except Exception:
            return None

    def _answer(self, verdict, queue_id=None):
        self.logs.write(verdict.logs, queue_id)
        if verdict.action != CONTINUE:   # a refusal or an accept ends the message:
            self.logs.release()                # its lines are written now
        self.services.metrics.decided(verdict)
        if verdict.code is not None:
            try:
                self.setreply(verdict.code, verdict.xcode,
                              headers.reply_text(verdict.code, verdict.xcode, verdict.text))
            except Exception as exc:
                self.services.log.warning('cannot set reply %s %s: %s',
                                          verdict.code, verdict.xcode, exc)
        return _ACTIONS[verdict.action]

    @_fail_open('connect', Milter.ACCEPT)
    def connect(self, hostname, family, hostaddr):
        hostname = symguard.from_wire(hostname)
        verdict, self.connection = policy.connect(
            self.services.config, _client_ip(family, hostaddr), hostname or '',
            self.getsymval('j') or self.getsymval('{j}'))
        symguard.report(self.services.log)
        return self._answer(verdict)

    # No reply to HELO or to header fields: the MTA does not wait for one (Postfix sends
    # them with the next command that wants an answer), so a message costs fewer round
    # trips, each a wake-up of both processes.  The guard answers so for Python too
    # (smf_spf/_symguard_steps.c went_on).
    @Milter.noreply
    @_fail_open('HELO', Milter.CONTINUE, unchecked_from_now=True)
    def hello(self, heloname):
        self.helo = symguard.from_wire(heloname)
        return Milter.CONTINUE

    def data(self):
        # Without a DATA callback the MTA still sends DATA's macros, unanswered; its next
        # write (the first header) then waits for our delayed ACK, about 40 ms on TCP.
        # So pymilter alone answers DATA.  The guard, when in effect, takes it with no
        # reply where nothing waits for that ACK (guard_protocol_mask).
        return Milter.CONTINUE

    def _answer_mail(self, verdict, queue_id=None):
        # after a refusal the next RCPT TO belongs to a MAIL FROM this callback never saw
        self.mail_seen = verdict.action not in (REJECT, TEMPFAIL)
        return self._answer(verdict, queue_id)

    @_fail_open('MAIL FROM', Milter.ACCEPT)
    def envfrom(self, mailfrom, *params):
        return self._mail_from(symguard.from_wire(mailfrom))

    def _mail_from(self, raw_from):
        """MAIL FROM as given (None: unreadable, see _late_envfrom)."""
        self.logs.release()        # the last message's, if its queue ID never came
        self._reset_message()
        if self.connection is None:
            # CONNECT was accepted unchecked (or never came): only a client that
            # ignores that answer gets here; it gets the same answer again
            return Milter.ACCEPT
        self.mail_seen = True
        queue_id = self._queue_id()
        if queue_id is None:
            self.logs.hold()
        decision = policy.mail_from(self.services.config, self.connection, raw_from,
                                    self.helo, self.getsymval('{verify}'),
                                    self.getsymval('{auth_authen}'), self._evaluate)
        symguard.report(self.services.log)
        cache_in_use = self.services.spf.cache is not None
        for identity, checked in decision.evaluations:
            self.services.metrics.spf_checked(checked.result, identity, checked.cached,
                                              checked.seconds,
                                              cache_in_use and checked.seconds is not None)
        self.mail, self.result, self.explanation, self.state = (
            decision.mail, decision.result, decision.explanation, decision.state)
        return self._answer_mail(decision.verdict, queue_id)

    def _evaluate(self, lookup):
        """policy.Evaluation of one policy.SpfLookup, through the result cache."""
        started = time.monotonic()
        checked, cached = self.services.spf.evaluate(
            lookup.key, lookup.ip, lookup.identity, lookup.helo,
            detailed_key=lookup.detailed_key, timeout=lookup.timeout)
        return policy.Evaluation(checked.result, checked.explanation, cached,
                                 time.monotonic() - started)

    @_fail_open('RCPT TO', Milter.ACCEPT)
    def envrcpt(self, to, *params):
        to = symguard.from_wire(to)
        if not self.mail_seen:
            action = self._late_envfrom()
            if action != Milter.CONTINUE:
                return action
        if self.mail is None:       # a message we do not check, kept only for EOM
            return Milter.CONTINUE
        decision = policy.rcpt_to(self.services.config, self.connection, self.mail,
                                  self.result, self.explanation, self.state, to)
        self.state = decision.state
        if decision.quarantine:
            self.quarantined.append(to)
        return self._answer(decision.verdict, self.logs.tie_queue_id(decision.verdict.logs))

    def _late_envfrom(self):
        """MAIL FROM that pymilter could not decode (so envfrom never ran): read it from
        the {mail_addr} macro, losslessly, and decide now (again at each RCPT if refused)."""
        address = self.getsymval('{mail_addr}')     # undecodable bytes kept, see getsymval
        return self._mail_from(None if address is None else '<%s>' % address)

    @Milter.noreply
    @_fail_open('header', Milter.CONTINUE)
    def header(self, name, value):
        raw = symguard.stashed()
        if raw is not None:     # not UTF-8: the original bytes, which pymilter would refuse
            name, value = (text.decode('utf-8', 'surrogateescape') for text in raw)
        lowered = name.lower()
        if self.subject is None and lowered == _SUBJECT:
            self.subject = value
        elif lowered == _AUTHENTICATION_RESULTS:
            self.auth_results.append(value)
        return Milter.CONTINUE

    @_fail_open('end of message', Milter.CONTINUE)
    def eom(self):
        self.logs.tie_queue_id()
        self.logs.release()        # no queue ID even now
        headers_unseen = UNDECODED.changed_since(self.undecoded_at_mail)
        if headers_unseen and self.subject is None and self.mail is not None:
            self.services.log.info('no Subject seen, but a header pymilter could not decode '
                                   'may be it: none added')
        edits = policy.end_of_message(
            self.services.config, self.connection, self.mail, self.result, self.state,
            self.subject, self.quarantined, self.auth_results, headers_unseen)
        quarantine_box_added = True
        removed = []
        for edit in edits:
            if edit.needs_quarantine_box and not quarantine_box_added:
                if edit.operation == DEL_RCPT:
                    self.services.log.warning('quarantine box not added: %s keeps the message',
                                              c_rules.shown(edit.value))
                continue
            applied = self._apply(edit)
            if edit.operation == ADD_RCPT:
                quarantine_box_added = applied
            elif edit.operation == DEL_HEADER and applied:
                removed.append((c_rules.INFO, 'removed forged %s header #%d claiming '
                                'authserv-id %s' % (edit.name, edit.index,
                                                    c_rules.shown(edit.value))))
        if removed:     # with the queue ID, as the message's other lines
            self.logs.write(removed, self._queue_id())
        if self.mail is not None:     # a skipped message was counted as such at MAIL FROM
            self.services.metrics.delivered(edits)
        self._reset_message()
        return Milter.CONTINUE

    def _apply(self, edit):
        try:
            _EDIT_CALLS[edit.operation](self, edit)
        except (UnicodeError, Milter.error, Milter.DisabledAction) as exc:
            self.services.log.warning('cannot %s %s: %s; message left as it is there',
                                      edit.operation, c_rules.shown(edit.name or edit.value),
                                      c_rules.shown(str(exc)))
            return False
        return True

    def abort(self):
        self.logs.release()
        self._reset_message()
        return Milter.CONTINUE

    def close(self):
        self.logs.release()
        self.services.metrics.connection_closed()
        self.connection = None
        return Milter.CONTINUE
