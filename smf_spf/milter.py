"""Thin pymilter adapter: MTA callbacks and macros in, policy verdicts out.

One instance per SMTP connection (libmilter runs each in its own thread);
the shared parts (config, cache, SPF checker) are read-only or lock-protected.
"""

import logging
import socket
import time

import Milter

from smf_spf import actions, helo as helo_identity, policy
from smf_spf.logsetup import LEVELS, logger

_ACTIONS = {
    policy.CONTINUE: Milter.CONTINUE,
    policy.ACCEPT: Milter.ACCEPT,
    policy.REJECT: Milter.REJECT,
    policy.TEMPFAIL: Milter.TEMPFAIL,
}
# what we may ask of the MTA: headers, Subject, quarantine recipients
FLAGS = Milter.ADDHDRS | Milter.CHGHDRS | Milter.ADDRCPT | Milter.DELRCPT


class Services(object):
    """What every connection shares: the config and the (cached) SPF checker."""

    def __init__(self, config, spf, log=None):
        self.config = config
        self.spf = spf
        self.log = log or logger()


def reply_text(text):
    """Text libmilter's setreply accepts: one line, `%` doubled, valid UTF-8."""
    text = text.replace('\r', ' ').replace('\n', ' ').replace('%', '%%')
    return text.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')


def _client_ip(family, hostaddr):
    if family not in (socket.AF_INET, socket.AF_INET6) or not hostaddr:
        return None
    if isinstance(hostaddr, tuple):
        return hostaddr[0]
    return hostaddr


def _fail_open(stage, result):
    """Decorator: an unexpected error is logged and the mail goes on (never lost)."""
    def wrap(method):
        def guarded(self, *args):
            try:
                return method(self, *args)
            except Exception:
                self.services.log.exception('[ERROR] internal error at %s; '
                                            'passing the message on unfiltered', stage)
                return result
        guarded.__name__ = method.__name__
        guarded.__doc__ = method.__doc__
        return guarded
    return wrap


class SpfMilter(Milter.Base):
    def __init__(self, services):
        self.services = services
        self.connection = None
        self.helo = None
        self._reset_message()

    def negotiate(self, opts):
        # pymilter's own looks up every callback for macro lists on each connection;
        # this milter asks for none, so the protocol mask it computes once is enough
        self._actions = opts[0]
        opts[1] = self._protocol = opts[1] & ~self.protocol_mask()
        opts[2] = opts[3] = 0
        return Milter.CONTINUE

    def _reset_message(self):
        self.mail = None
        self.result = None
        self.subject = None
        self.quarantined = []
        self.state = actions.NO_STATE

    def _log_all(self, logs):
        log = self.services.log
        for level, message in logs:
            log.log(LEVELS.get(level, logging.INFO), '%s', message)

    def _answer(self, verdict):
        self._log_all(verdict.logs)
        if verdict.code is not None:
            try:
                self.setreply(verdict.code, verdict.xcode, reply_text(verdict.text))
            except Exception as exc:
                self.services.log.warning('cannot set reply %s %s: %s',
                                          verdict.code, verdict.xcode, exc)
        return _ACTIONS[verdict.action]

    @_fail_open('connect', Milter.ACCEPT)
    def connect(self, hostname, family, hostaddr):
        verdict, self.connection = policy.on_connect(
            self.services.config, _client_ip(family, hostaddr), hostname or '',
            self.getsymval('j') or self.getsymval('{j}'))
        return self._answer(verdict)

    @_fail_open('HELO', Milter.ACCEPT)
    def hello(self, heloname):
        self.helo = heloname
        return Milter.CONTINUE

    def data(self):
        # Without a DATA callback the MTA still sends DATA's macros, unanswered; its next
        # write (the first header) then waits for our delayed ACK, about 40 ms on TCP.
        return Milter.CONTINUE

    @_fail_open('MAIL FROM', Milter.ACCEPT)
    def envfrom(self, mailfrom, *params):
        self._reset_message()
        config = self.services.config
        verdict, mail = policy.on_mail(config, self.connection, mailfrom, self.helo,
                                       self.getsymval('{verify}'),
                                       self.getsymval('{auth_authen}'))
        if mail is None:
            return self._answer(actions.dry_run(config, verdict, instead=policy.ACCEPT))
        started = time.monotonic()
        checked, cached = self.services.spf.evaluate(
            policy.cache_key(self.connection, mail), self.connection.spf_ip, mail.sender,
            mail.helo)
        self._log_all((policy.spf_result_log(checked.result, cached, self.connection, mail),))
        if checked.best_guess is not None:
            self.services.log.info('SPF best guess %s (not used): ip=%s, from=%s',
                                   checked.best_guess, self.connection.spf_ip, mailfrom)
        self.mail = mail
        self.result = checked.result
        verdict = policy.after_spf(config, self.connection, mail, checked.result,
                                   checked.explanation)
        helo_mail, helo_result = self._check_helo(mail, checked.result,
                                                  time.monotonic() - started)
        verdict, self.state = actions.at_mail(config, self.connection, mail, checked.result,
                                              helo_mail, helo_result, verdict)
        return self._answer(verdict)

    def _check_helo(self, mail, result, elapsed):
        """(Mail, result) of the HELO identity, through the result cache, in what the
        MAIL FROM check (`elapsed` seconds) left of SPFTimeout; (None, None) when it is
        not checked."""
        config = self.services.config
        helo_mail, logs = helo_identity.identity(config, mail)
        self._log_all(logs)
        if helo_mail is None:
            return None, None
        if helo_mail is mail:       # an empty sender: its identity is the HELO identity
            return mail, result
        timeout = helo_identity.budget(config, elapsed)
        if timeout is None:
            self._log_all((helo_identity.out_of_time_log(self.connection, helo_mail),))
            return helo_mail, 'temperror'
        checked, cached = self.services.spf.evaluate(
            policy.cache_key(self.connection, helo_mail), self.connection.spf_ip,
            helo_mail.sender, helo_mail.helo, timeout)
        self._log_all((helo_identity.result_log(checked.result, cached, self.connection,
                                                helo_mail),))
        return helo_mail, checked.result

    @_fail_open('RCPT TO', Milter.ACCEPT)
    def envrcpt(self, to, *params):
        config = self.services.config
        verdict, quarantine = policy.on_rcpt(config, self.connection, self.mail,
                                             actions.rcpt_result(self.state, self.result), to)
        verdict, self.state = actions.at_rcpt(config, self.state, verdict, to)
        if quarantine and verdict.action == policy.CONTINUE:
            self.quarantined.append(to)
        return self._answer(verdict)

    @_fail_open('header', Milter.CONTINUE)
    def header(self, name, value):
        if self.subject is None and name.lower() == 'subject':
            self.subject = value
        return Milter.CONTINUE

    @_fail_open('end of message', Milter.CONTINUE)
    def eom(self):
        config = self.services.config
        edits = actions.at_eom(config, self.connection, self.mail, self.state, policy.on_eom(
            config, self.connection, self.mail, self.result, self.subject, self.quarantined))
        quarantine_box_added = True
        for edit in edits:
            if edit.operation == 'delrcpt' and not quarantine_box_added:
                self.services.log.warning('quarantine box not added: %s keeps the message',
                                          edit.value)
                continue
            applied = self._apply(edit)
            if edit.operation == 'addrcpt':
                quarantine_box_added = applied
        self._reset_message()
        return Milter.CONTINUE

    def _apply(self, edit):
        try:
            if edit.operation == 'insheader':
                self.addheader(edit.name, edit.value, edit.index)
            elif edit.operation == 'addheader':
                self.addheader(edit.name, edit.value)
            elif edit.operation == 'chgheader':
                self.chgheader(edit.name, edit.index, edit.value)
            elif edit.operation == 'delrcpt':
                self.delrcpt(edit.value)
            elif edit.operation == 'addrcpt':
                self.addrcpt(edit.value)
        except (UnicodeError, Milter.error) as exc:
            self.services.log.warning('cannot %s %s: %s; message left as it is there',
                                      edit.operation, edit.name or edit.value, exc)
            return False
        return True

    def abort(self):
        self._reset_message()
        return Milter.CONTINUE

    def close(self):
        self.connection = None
        return Milter.CONTINUE
