"""RefuseNotPass: mail claiming a listed domain, or a name below it, must get SPF pass
(through the milter adapter, SPF results stubbed; the running daemon's own tests are in
test_policy_keys_daemon.py)."""

import Milter
import pytest

from miltertools import Harness
from smf_spf import config as configuration, extra_rules
from smf_spf.metrics import PrometheusMetrics
from test_milter_policy_features import REASON, deliver


# -- the list -------------------------------------------------------------------------

def test_several_domains_a_line_any_case_repeatable_each_once():
    loaded = configuration.parse_lines(['RefuseNotPass Example.COM. b.example, c.example',
                                        'RefuseNotPass example.com d.example'], 'f')
    assert loaded.problems == ()
    assert loaded.config.list_entries['RefuseNotPass'] == (
        'example.com', 'b.example', 'c.example', 'd.example')


@pytest.mark.parametrize('word,why', [('.example.com', 'leading dot'),
                                      ('localhost', 'multi-label'),
                                      ('a@x.com', 'not a domain name')])
def test_a_word_that_is_no_domain_is_an_error_the_rest_of_the_line_stands(word, why):
    loaded = configuration.parse_lines(['RefuseNotPass a.example %s' % word], 'f')
    assert [(p.line, p.severity) for p in loaded.problems] == [
        (1, 'error')] * len(loaded.problems) and loaded.problems
    assert why in loaded.problems[0].reason
    assert extra_rules.must_pass(loaded.config, 'a.example')


@pytest.mark.parametrize('domain,protected', [
    ('example.com', True), ('EXAMPLE.com.', True), ('mail.example.com', True),
    ('a.b.example.com', True), ('badexample.com', False), ('example.com.evil.test', False),
    ('com', False), ('xn--bcher-kva.example', True), ('b\u00fccher.example', True),
    ('B\u00fccher.example', True), ('other.example', False),
])
def test_a_listed_domain_and_the_names_below_it_on_whole_labels(domain, protected):
    config = configuration.parse_lines(['RefuseNotPass example.com b\u00fccher.example'],
                                       'f').config
    assert extra_rules.must_pass(config, domain) is protected
    config = configuration.parse_lines(['RefuseNotPass xn--bcher-kva.example'], 'f').config
    assert extra_rules.must_pass(config, 'b\u00fccher.example')


def test_an_empty_list_protects_nothing():
    assert not extra_rules.must_pass(configuration.parse_lines([], 'f').config, 'example.com')


# -- MAIL FROM ------------------------------------------------------------------------

@pytest.mark.parametrize('result', ['softfail', 'neutral', 'none', 'permerror'])
def test_a_listed_domain_that_does_not_pass_is_refused_with_the_usual_reason(result):
    h = Harness('RefuseNotPass own.example', own_example=result, other_example=result)
    h.connect()
    assert h.mail('<ceo@own.example>') == Milter.REJECT
    assert h.reply == ('550', '5.7.23', REASON % ('ceo@own.example', '192.0.2.1'))
    assert ('SPF refused: 550 5.7.23 by RefuseNotPass (SPF %s), ip=192.0.2.1, '
            'from=<ceo@own.example>' % result) in h.logs
    assert h.mail('<ceo@other.example>') == Milter.CONTINUE


def test_a_listed_softfail_is_refused_while_an_unlisted_one_passes_with_a_tag():
    h = Harness('RefuseNotPass own.example', own_example='softfail', other_example='softfail')
    h.connect()
    assert h.mail('<a@own.example>') == Milter.REJECT
    assert deliver(h, '<a@other.example>', '<b@receiver.test>', Subject='hi') == [
        Milter.CONTINUE]
    assert ('chgheader', 'Subject', 1, '[SPF:fail] hi') in h.ctx.edits


def test_a_subdomain_of_a_listed_domain_is_held_to_it():
    h = Harness('RefuseNotPass own.example', news_own_example='neutral',
                pass_own_example='pass', evilown_example='neutral')
    h.connect()
    assert h.mail('<a@news.own.example>') == Milter.REJECT
    assert h.mail('<a@pass.own.example>') == Milter.CONTINUE
    assert h.mail('<a@evilown.example>') == Milter.CONTINUE


def test_pass_goes_through():
    h = Harness('RefuseNotPass own.example', own_example='pass')
    h.connect()
    assert deliver(h, '<a@own.example>', '<b@receiver.test>') == [Milter.CONTINUE]


@pytest.mark.parametrize('lines,answer,code', [
    ((), Milter.CONTINUE, None), (('AcceptTempError off',), Milter.TEMPFAIL, '451')])
def test_a_temperror_is_answered_as_accept_temp_error_says(lines, answer, code):
    h = Harness('RefuseNotPass own.example', *lines, own_example='temperror')
    h.connect()
    assert h.mail('<a@own.example>') == answer
    assert (h.reply or (None,))[0] == code
    assert not any('RefuseNotPass' in line for line in h.logs)


def test_soft_fail_makes_it_450():
    h = Harness('RefuseNotPass own.example', 'SoftFail on', own_example='neutral')
    h.connect()
    assert h.mail('<a@own.example>') == Milter.TEMPFAIL
    assert h.reply[:2] == ('450', '4.7.23')


def test_a_fail_is_refused_by_refuse_fail_first_and_by_refuse_not_pass_without_it():
    h = Harness('RefuseNotPass own.example', own_example='fail')
    h.connect()
    assert h.mail('<a@own.example>') == Milter.REJECT
    assert any('by RefuseFail (SPF fail)' in line for line in h.logs)
    h = Harness('RefuseNotPass own.example', 'RefuseFail off', own_example='fail')
    h.connect()
    assert h.mail('<a@own.example>') == Milter.REJECT
    assert any('by RefuseNotPass (SPF fail)' in line for line in h.logs)


# -- whitelists and skips first --------------------------------------------------------

@pytest.mark.parametrize('lines,connect', [
    (('WhitelistIP 192.0.2.0/24',), Milter.ACCEPT),
    (('WhitelistPTR .sender.example',), Milter.ACCEPT),
    (('WhitelistFrom @own.example',), Milter.CONTINUE),
])
def test_a_whitelisted_client_or_sender_of_a_listed_domain_is_not_checked(lines, connect):
    h = Harness('RefuseNotPass own.example', *lines, own_example='softfail')
    assert h.connect() == connect
    if connect == Milter.CONTINUE:
        assert deliver(h, '<a@own.example>', '<b@receiver.test>') == [Milter.CONTINUE]
    assert h.checker.calls == []


def test_smtp_auth_skips_it():
    h = Harness('RefuseNotPass own.example', own_example='softfail')
    h.connect(**{'{auth_authen}': 'alice'})
    assert deliver(h, '<a@own.example>', '<b@receiver.test>') == [Milter.CONTINUE]


def test_a_trusted_forwarder_stays_trusted():
    h = Harness('RefuseNotPass own.example', 'TrustedForwarder 192.0.2.0/24',
                own_example='softfail')
    h.connect()
    assert deliver(h, '<a@own.example>', '<b@receiver.test>') == [Milter.CONTINUE]
    assert any(line.startswith('SPF not refused: client ip=192.0.2.1 is a TrustedForwarder '
                               '(SPF softfail, would be 550 5.7.23)') for line in h.logs)


def test_whitelist_to_recipients_get_it_the_others_are_refused():
    h = Harness('RefuseNotPass own.example', 'WhitelistTo abuse@', own_example='neutral')
    h.connect()
    answers = deliver(h, '<a@own.example>', '<bob@receiver.test>', '<abuse@receiver.test>')
    assert answers == [Milter.REJECT, Milter.CONTINUE]
    assert h.reply[:2] == ('550', '5.7.23')


def test_postmaster_still_gets_it_with_accept_postmaster():
    h = Harness('RefuseNotPass own.example', 'AcceptPostmaster on', own_example='neutral')
    h.connect()
    assert deliver(h, '<a@own.example>', '<bob@receiver.test>', '<postmaster>') == [
        Milter.REJECT, Milter.CONTINUE]


def test_dry_run_only_logs():
    h = Harness('RefuseNotPass own.example', 'DryRun on', own_example='neutral')
    h.services.metrics = metrics = PrometheusMetrics(lambda: None)
    h.connect()
    assert deliver(h, '<a@own.example>', '<b@receiver.test>') == [Milter.CONTINUE]
    assert ('SPF would refuse (DryRun): 550 5.7.23 by RefuseNotPass (SPF neutral), '
            'ip=192.0.2.1, from=<a@own.example>') in h.logs
    assert metrics.registry.get_sample_value('smf_spf_refusals_total', {
        'rule': 'RefuseNotPass', 'action': 'would_refuse'}) == 1


def test_metrics_name_the_rule():
    h = Harness('RefuseNotPass own.example', own_example='neutral')
    h.services.metrics = metrics = PrometheusMetrics(lambda: None)
    h.connect()
    h.mail('<a@own.example>')
    assert metrics.registry.get_sample_value('smf_spf_refusals_total', {
        'rule': 'RefuseNotPass', 'action': 'refuse'}) == 1


# -- the HELO identity -----------------------------------------------------------------

def test_the_helo_identity_of_a_listed_domain_must_pass_when_checked():
    h = Harness('RefuseNotPass own.example', 'CheckHelo on', sender_example='pass',
                mx_own_example='neutral')
    h.connect(helo='mx.own.example')
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.reply == ('550', '5.7.23', REASON % ('postmaster@mx.own.example', '192.0.2.1'))
    assert ('SPF refused: 550 5.7.23 by RefuseNotPass (SPF helo neutral), ip=192.0.2.1, '
            'from=<a@sender.example>') in h.logs


def test_the_helo_identity_is_not_held_to_it_when_not_checked():
    h = Harness('RefuseNotPass own.example', sender_example='pass', mx_own_example='neutral')
    h.connect(helo='mx.own.example')
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    assert len(h.checker.calls) == 1


def test_an_empty_sender_from_a_listed_helo_is_its_helo_identity():
    h = Harness('RefuseNotPass own.example', mx_own_example='none')
    h.connect(helo='mx.own.example')
    assert h.mail('<>') == Milter.REJECT
    assert any('by RefuseNotPass (SPF none)' in line for line in h.logs)


def test_a_helo_that_passes_and_a_sender_that_does_not():
    h = Harness('RefuseNotPass own.example', 'CheckHelo on', own_example='softfail',
                mx_own_example='pass')
    h.connect(helo='mx.own.example')
    assert h.mail('<a@own.example>') == Milter.REJECT
    assert any('by RefuseNotPass (SPF softfail)' in line for line in h.logs)
