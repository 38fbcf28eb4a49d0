"""smf_spf.policy: one pure decision per SMTP stage, its SPF lookups made through a stub
`evaluate` (no DNS, no clock), and the adapter calling each stage once per callback."""

import Milter

from smf_spf import policy
from smf_spf.mailbox import Mailbox
from smf_spf.outcomes import CONTINUE, REJECT, TEMPERROR, TEMPFAIL
from miltertools import config_of as conf, CONNECTION as CONN, Harness


class Evaluator(object):
    """evaluate() for policy.mail_from: a result per domain, a fixed time per lookup."""

    def __init__(self, results, seconds=0.01):
        self.results = results
        self.seconds = seconds
        self.lookups = []

    def __call__(self, lookup):
        self.lookups.append(lookup)
        return policy.Evaluation(self.results.get(lookup.identity.domain, 'none'), 'why',
                                 False, self.seconds)


def mail_from(config, raw_from, evaluate, helo='mx.sender.example', verify=None, auth=None):
    return policy.mail_from(config, CONN, raw_from, helo, verify, auth, evaluate)


def test_a_sender_gets_one_lookup_described_for_the_cache():
    evaluate = Evaluator({'sender.example': 'pass'})
    decision = mail_from(conf(), '<Alice@Sender.Example>', evaluate)
    assert evaluate.lookups == [policy.SpfLookup(
        '192.0.2.1|sender.example', '192.0.2.1|sender.example\0alice@sender.example\0'
        'mx.sender.example', '192.0.2.1', Mailbox('alice', 'sender.example'),
        'mx.sender.example', None)]
    assert decision.verdict.action == CONTINUE
    assert (decision.mail.domain, decision.result, decision.explanation) == (
        'sender.example', 'pass', 'why')
    assert [identity for identity, _ in decision.evaluations] == ['mailfrom']
    assert decision.verdict.logs[0][1].startswith('SPF pass: ip=192.0.2.1')


def test_check_helo_looks_the_helo_up_in_what_mail_from_left_of_spf_timeout():
    evaluate = Evaluator({'sender.example': 'pass', 'mx.sender.example': 'fail'}, seconds=3.5)
    decision = mail_from(conf('CheckHelo on', 'RefuseHeloFail on', 'SPFTimeout 10'),
                         '<a@sender.example>', evaluate)
    helo_lookup = evaluate.lookups[1]
    assert helo_lookup.identity == Mailbox('postmaster', 'mx.sender.example')
    assert helo_lookup.key == '192.0.2.1|mx.sender.example'
    assert helo_lookup.timeout == 6.5
    assert [identity for identity, _ in decision.evaluations] == ['mailfrom', 'helo']
    assert decision.verdict.action == REJECT and decision.verdict.rule == 'RefuseHeloFail'
    # the lines in the order they happened: each result, then the refusal
    assert [message.split(':')[0] for _, message in decision.verdict.logs] == [
        'SPF pass', 'SPF helo fail', 'SPF refused']
    assert decision.state.helo_result == 'fail'


def test_no_helo_lookup_when_mail_from_used_up_spf_timeout():
    evaluate = Evaluator({'sender.example': 'pass'}, seconds=9.5)
    decision = mail_from(conf('CheckHelo on', 'SPFTimeout 10'), '<a@sender.example>', evaluate)
    assert len(evaluate.lookups) == 1
    identity, helo_checked = decision.evaluations[1]
    assert (identity, helo_checked.result, helo_checked.seconds) == ('helo', TEMPERROR, None)
    assert decision.state.helo_result == TEMPERROR
    assert any('no time left of SPFTimeout' in message for _, message in decision.verdict.logs)


def test_an_empty_senders_identity_is_the_helo_identity_looked_up_once():
    evaluate = Evaluator({'mx.sender.example': 'fail'})
    decision = mail_from(conf('CheckHelo on'), '<>', evaluate)
    assert [lookup.identity for lookup in evaluate.lookups] == [
        Mailbox('postmaster', 'mx.sender.example')]
    assert [identity for identity, _ in decision.evaluations] == ['helo']
    assert decision.verdict.action == REJECT


def test_a_message_not_checked_makes_no_lookup():
    evaluate = Evaluator({})
    decision = mail_from(conf('WhitelistFrom friend@'), '<friend@sender.example>', evaluate)
    assert evaluate.lookups == [] and decision.mail is None and decision.evaluations == ()
    assert decision.verdict.skipped_by == 'WhitelistFrom'


def test_an_unreadable_sender_is_tempfailed_without_a_lookup():
    evaluate = Evaluator({})
    decision = mail_from(conf(), None, evaluate)
    assert evaluate.lookups == [] and decision.mail is None
    assert (decision.verdict.action, decision.verdict.code) == (TEMPFAIL, '451')


def test_dry_run_applies_to_the_whole_mail_from_decision():
    decision = mail_from(conf('DryRun on'), '<a@sender.example>',
                         Evaluator({'sender.example': 'fail'}))
    assert decision.verdict.action == CONTINUE and decision.verdict.dry_run == 'refuse'


def test_rcpt_to_quarantines_only_a_recipient_it_lets_through():
    config = conf('Quarantine on', 'AcceptPostmaster on')
    decision = mail_from(config, '<a@sender.example>', Evaluator({'sender.example': 'fail'}))
    assert decision.verdict.action == CONTINUE      # the refusal waits for RCPT TO
    to_user = policy.rcpt_to(config, CONN, decision.mail, decision.result,
                             decision.explanation, decision.state, '<user@receiver.test>')
    assert to_user.verdict.action == REJECT and not to_user.quarantine
    to_postmaster = policy.rcpt_to(config, CONN, decision.mail, decision.result,
                                   decision.explanation, to_user.state,
                                   '<Postmaster@receiver.test>')
    assert to_postmaster.verdict.action == CONTINUE and to_postmaster.quarantine


def test_end_of_message_names_a_trusted_forwarder_and_leaves_its_subject():
    config = conf('TrustedForwarder 192.0.2.0/24')
    decision = mail_from(config, '<a@sender.example>', Evaluator({'sender.example': 'fail'}))
    edits = policy.end_of_message(config, CONN, decision.mail, decision.result,
                                  decision.state, 'Hi', [], (), False)
    assert [edit.name for edit in edits] == ['Authentication-Results']
    assert 'policy.trusted-forwarder=192.0.2.1' in edits[0].value


def test_each_milter_callback_makes_one_policy_call(monkeypatch):
    calls = []
    for name in ('connect', 'mail_from', 'rcpt_to', 'end_of_message'):
        def counted(*args, _decide=getattr(policy, name), _name=name):
            calls.append(_name)
            return _decide(*args)
        monkeypatch.setattr(policy, name, counted)
    h = Harness('CheckHelo on', 'TrustedForwarder 203.0.113.0/24', sender_example='softfail',
                mx_sender_example='pass')
    assert h.connect() == Milter.CONTINUE
    assert calls == ['connect']
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    assert calls[1:] == ['mail_from']
    h.rcpt('<b@receiver.test>')
    h.rcpt('<c@receiver.test>')
    assert calls[2:] == ['rcpt_to', 'rcpt_to']
    h.header('Subject', 'hi')
    h.eom()
    assert calls[4:] == ['end_of_message']
    assert len(h.checker.calls) == 2        # MAIL FROM's identity and the HELO's
