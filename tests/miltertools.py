"""Drive SpfMilter through pymilter's TestCtx with a stub SPF checker (no DNS)."""

import logging

import Milter
from Milter.testctx import TestCtx

from smf_spf import c_rules, config as configuration
from smf_spf.cache import ResultCache
from smf_spf.milter import Services, SpfMilter
from smf_spf.spfcheck import CachedChecker, SpfResult


# the client Harness.connect() gives by default, as policy.connect makes it
CONNECTION = c_rules.Connection('192.0.2.1', '192.0.2.1', 'mx.sender.example',
                                'mx.receiver.test')


def config_of(*lines):
    """The Config these smf-spf.conf lines make, which must hold no error."""
    loaded = configuration.parse_lines(list(lines), 'test.conf')
    assert not loaded.errors, loaded.errors
    return loaded.config


class StubChecker(object):
    """SPF results by sender domain; records every check it is asked for."""

    def __init__(self, results):
        self.results = results
        self.calls = []
        self.timeouts = []    # the timeout each check was given (None: SPFTimeout)

    def check(self, ip, identity, helo, timeout=None):
        self.calls.append((ip, '%s@%s' % identity, helo))
        self.timeouts.append(timeout)
        outcome = self.results.get(identity.domain, 'none')
        if isinstance(outcome, SpfResult):
            return outcome
        return SpfResult(outcome, 'stub says %s' % outcome)


class ListHandler(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelno, record.getMessage()))


def went_on(answer):
    """CONTINUE for a step answered with no reply (HELO and header fields, which the
    milter negotiates so): the MTA goes on just the same."""
    return Milter.CONTINUE if answer == Milter.NOREPLY else answer


class MtaCtx(TestCtx):
    """TestCtx as an MTA that takes no reply for HELO and header fields drives the milter
    through libmilter: such a step (answered NOREPLY) goes on and is reported here as
    CONTINUE; TestCtx would end the session at a HELO answered anything but CONTINUE."""

    def _helo(self, helo):
        if self._protocol & Milter.P_NOHELO:
            return Milter.CONTINUE
        self._stage = Milter.M_HELO
        answer = went_on(self._priv.hello(helo))
        self._stage = None
        if answer != Milter.CONTINUE:
            self._close()
        return answer

    def _header(self, field, value):
        return went_on(TestCtx._header(self, field, value))


class RecordingCtx(MtaCtx):
    """MtaCtx that records message edits in order, with their arguments."""

    def __init__(self):
        MtaCtx.__init__(self)
        self.edits = []

    def addheader(self, field, value, idx):
        self.edits.append(('insheader' if idx == 0 else 'addheader', field, value))

    def chgheader(self, field, idx, value):
        self.edits.append(('chgheader', field, idx, value))

    def addrcpt(self, rcpt, params):
        self.edits.append(('addrcpt', rcpt))

    def delrcpt(self, rcpt):
        self.edits.append(('delrcpt', rcpt))


class Harness(object):
    def __init__(self, *config_lines, **results):
        self.config = config_of(*config_lines)
        self.checker = StubChecker(dict((k.replace('_', '.'), v) for k, v in results.items()))
        cache = ResultCache(self.config.ttl, 1000) if self.config.ttl else None
        self.handler = ListHandler()
        self.log = logging.getLogger('smf-spf-test-%d' % id(self))
        self.log.addHandler(self.handler)
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self.services = Services(self.config,
                                 CachedChecker(self.checker, cache, c_rules.is_cacheable),
                                 self.log)
        Milter.factory = lambda: SpfMilter(self.services)
        self.ctx = None

    def slow_checks(self, seconds):
        """Every SPF check takes `seconds` more (the stub answers at once)."""
        import time
        check = self.checker.check

        def slow(ip, identity, helo, timeout=None):
            time.sleep(seconds)
            return check(ip, identity, helo, timeout)
        self.checker.check = slow

    def connect(self, ip='192.0.2.1', host='mx.sender.example', helo='mx.sender.example',
                **macros):
        self.ctx = RecordingCtx()
        self.ctx._setsymval('j', 'mx.receiver.test')
        for name, value in macros.items():
            self.ctx._setsymval(name, value)
        return self.ctx._connect(host, helo, ip)

    def macro(self, name, value):
        self.ctx._setsymval(name, value)

    def mail(self, sender):
        return self.ctx._envfrom(sender)

    def rcpt(self, rcpt):
        return self.ctx._envrcpt(rcpt)

    def header(self, name, value):
        return self.ctx._header(name, value)

    def eom(self):
        return self.ctx._eom()

    @property
    def reply(self):
        return self.ctx._reply

    @property
    def logs(self):
        return [message for _, message in self.handler.lines]
