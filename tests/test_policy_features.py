"""Policy beyond the C milter (issue 11) as pure functions: HELO identity, per-result
refusals, DryRun, TrustedForwarder, postmaster, and the redvw fork's keys."""

import authres
import pytest

from smf_spf import c_rules, config as configuration, extra_rules, headers, helo
from smf_spf.config import COMPAT, ERROR, WARNING
from smf_spf.c_rules import ACCEPT, CONTINUE, REJECT, TEMPFAIL, Verdict
from miltertools import config_of as conf, CONNECTION as CONN


MAIL = c_rules.Mail('<a@sender.example>', 'a', 'sender.example', 'mailfrom', 'helo.example')
NDR = c_rules.Mail('<>', 'postmaster', 'helo.example', 'helo', 'helo.example')
HELO_MAIL = c_rules.Mail('<a@sender.example>', 'postmaster', 'helo.example', 'helo',
                        'helo.example')


def mail_stage(config, result, helo_result=None, connection=CONN, mail=MAIL):
    verdict = c_rules.after_spf(config, connection, mail, result, 'why')
    helo_mail = HELO_MAIL if helo_result is not None else None
    return extra_rules.at_mail(config, connection, mail, result, helo_mail, helo_result, verdict)


def decided(config, result, helo_result=None, connection=CONN, mail=MAIL):
    """The refusal MAIL FROM decided (made there, or kept for RCPT TO), or None."""
    verdict, state = mail_stage(config, result, helo_result, connection, mail)
    if state.pending is not None:
        assert verdict.action == CONTINUE, 'a refusal kept for RCPT TO is not made twice'
        return state.pending
    return verdict if verdict.action in extra_rules.REFUSALS else None


def refusal(config, result, helo_result=None, connection=CONN, mail=MAIL):
    """(action, code, xcode) of the refusal MAIL FROM decided, or None."""
    refused = decided(config, result, helo_result, connection, mail)
    return None if refused is None else (refused.action, refused.code, refused.xcode)


# -- per-result refusals ------------------------------------------------------------

@pytest.mark.parametrize('lines,result,expected', [
    ((), 'softfail', None),
    (('RefuseSoftFail on',), 'softfail', (REJECT, '550', '5.7.1')),
    (('RefuseSoftFail on', 'SoftFail on'), 'softfail', (TEMPFAIL, '450', '4.7.1')),
    (('RefuseSoftFail on',), 'neutral', None),
    (('RefuseSoftFail on',), 'fail', (REJECT, '550', '5.7.23')),    # RefuseFail's
    ((), 'permerror', None),
    (('RejectPermError on',), 'permerror', (REJECT, '550', '5.7.24')),
    (('RejectPermError on', 'SoftFail on'), 'permerror', (TEMPFAIL, '450', '4.7.24')),
    (('RejectPermError yes',), 'permerror', (REJECT, '550', '5.7.24')),
    (('RejectPermError off',), 'permerror', None),
    ((), 'temperror', None),
    (('RejectTempError on',), 'temperror', (TEMPFAIL, '451', '4.4.3')),
    (('RejectTempError off',), 'temperror', None),
    (('RejectTempError true',), 'temperror', (TEMPFAIL, '451', '4.4.3')),
    (('RefuseFail off', 'RefuseSoftFail on', 'RejectPermError on'), 'fail', None),
    (('RefuseSoftFail on', 'RejectPermError on'), 'pass', None),
])
def test_per_result_refusals(lines, result, expected):
    assert refusal(conf(*lines), result) == expected
    # the same refusal, made at RCPT TO
    assert refusal(conf('AcceptPostmaster on', *lines), result) == expected


def test_refusal_text_is_reject_reason_and_log_names_rule():
    config = conf('RefuseSoftFail on', 'RejectReason %s via %s')
    refused = decided(config, 'softfail')
    assert refused.text == 'a@sender.example via 192.0.2.1'
    assert refused.logs == (('notice', 'SPF refused: 550 5.7.1 by RefuseSoftFail (SPF '
                                             'softfail), ip=192.0.2.1, '
                                             'from=<a@sender.example>'),)
    assert 'by RejectPermError' in decided(conf('RejectPermError on'), 'permerror').logs[0][1]


# -- HELO identity --------------------------------------------------------------------

@pytest.mark.parametrize('name,ok', [
    ('mx.example.com', True), ('MX.Example.COM.', True), ('a_b.example', True),
    ('localhost', False), ('undefined', False), ('[192.0.2.1]', False),
    ('192.0.2.1', False), ('-bad.example', False), ('bad-.example', False),
    ('a..example', False), ('', False), ('x' * 64 + '.example', False),
    ('.'.join(['a' * 60] * 5), False), ('[IPv6:2001:db8::1]', False),
])
def test_helo_checkable_only_for_multi_label_domain_names(name, ok):
    assert helo.checkable(name) is ok


def test_helo_identity_wanted_by_check_helo_or_refuse_helo_fail():
    assert helo.identity(conf(), MAIL) == (None, ())
    for line in ('CheckHelo on', 'RefuseHeloFail on'):
        checked, logs = helo.identity(conf(line), MAIL._replace(helo='HELO.Example'))
        assert checked == c_rules.Mail('<a@sender.example>', 'postmaster', 'helo.example',
                                      'helo', 'helo.example') and logs == ()


def test_helo_identity_of_empty_sender_is_the_mail_itself():
    assert helo.identity(conf('CheckHelo on'), NDR) == (NDR, ())


def test_helo_identity_skipped_for_address_literal_with_log():
    checked, logs = helo.identity(conf('CheckHelo on'), MAIL._replace(helo='[192.0.2.1]'))
    assert checked is None
    assert logs[0][1].startswith('SPF helo skipped: helo=[192.0.2.1] is not a domain name')


def test_helo_result_log_is_worded_apart_from_mail_from_line():
    level, line = helo.result_log('fail', False, CONN, HELO_MAIL)
    assert line == ('SPF helo fail: ip=192.0.2.1, fqdn=mx.sender.example, '
                    'helo=helo.example, from=<a@sender.example>')
    assert 'SPF fail:' not in line


def test_helo_cache_key_is_ip_and_helo_domain():
    assert c_rules.cache_key(CONN, HELO_MAIL) == '192.0.2.1|helo.example'


@pytest.mark.parametrize('lines,helo_result,expected', [
    (('CheckHelo on',), 'fail', None),
    (('RefuseHeloFail on',), 'fail', (REJECT, '550', '5.7.23')),
    (('RefuseHeloFail on', 'SoftFail on'), 'fail', (TEMPFAIL, '450', '4.7.23')),
    (('RefuseHeloFail on',), 'softfail', None),
    (('RefuseHeloFail on',), 'pass', None),
])
def test_refuse_helo_fail(lines, helo_result, expected):
    assert refusal(conf(*lines), 'pass', helo_result) == expected


def test_helo_fail_refusal_names_helo_identity():
    refused = decided(conf('RefuseHeloFail on'), 'pass', 'fail')
    assert refused.text.startswith(
        'Message was rejected during SPF policy evaluation. sender:postmaster@helo.example')
    assert refused.logs[0][1] == ('SPF refused: 550 5.7.23 by RefuseHeloFail (SPF helo '
                                        'fail), ip=192.0.2.1, from=<a@sender.example>')


def test_mail_from_refusal_comes_before_helo_refusal():
    assert 'by RefuseFail' in decided(conf('RefuseHeloFail on'), 'fail', 'fail').logs[0][1]


def eom_auth_results(config, connection, mail, result, state):
    """The Authentication-Results value the milter writes at EOM for this state."""
    edits = extra_rules.at_eom(state, c_rules.on_eom(
        config, connection, mail, result, 'Hi', [], (), False,
        *extra_rules.auth_results_additions(connection, mail, state)))
    return [edit.value for edit in edits if edit.name == 'Authentication-Results'][0]


def test_authentication_results_gets_helo_resinfo_after_mail_from():
    state = extra_rules.MessageState(helo_result='fail', helo='helo.example')
    assert eom_auth_results(conf('AuthservID mx'), CONN, MAIL, 'pass', state) == (
        'mx; spf=pass smtp.mailfrom=a@sender.example '
        'smtp.helo=helo.example; spf=fail smtp.helo=helo.example')
    # an empty sender's one resinfo already is the HELO identity's
    assert eom_auth_results(conf('AuthservID mx'), CONN, NDR, 'pass', state) == \
        eom_auth_results(conf('AuthservID mx'), CONN, NDR, 'pass', extra_rules.NO_STATE)


def test_authentication_results_with_helo_resinfo_parses_first_spf_as_mail_from():
    value = headers.authentication_results('mx.receiver.test', 'pass', ('a', 'sender.example'),
                                           'helo.example', helo_check=('fail', 'helo.example'))
    parsed = authres.AuthenticationResultsHeader.parse_value(value)
    assert [(r.method, r.result) for r in parsed.results] == [('spf', 'pass'), ('spf', 'fail')]
    assert parsed.results[0].smtp_mailfrom == 'a@sender.example'
    assert parsed.results[1].smtp_helo == 'helo.example'


# -- TrustedForwarder ------------------------------------------------------------------

FORWARDER = conf('TrustedForwarder 198.51.100.0/24', 'TrustedForwarder 2001:db8:f::/48',
                 'TrustedForwarder .backup.example', 'TrustedForwarder 203.0.113.9',
                 'TrustedForwarder relay.forward.example.', 'RefuseSoftFail on',
                 'RefuseHeloFail on')


@pytest.mark.parametrize('client,host,why', [
    ('198.51.100.77', '[198.51.100.77]', 'ip=198.51.100.77'),
    ('203.0.113.9', 'x.example', 'ip=203.0.113.9'),
    ('2001:db8:f::25', '[2001:db8:f::25]', 'ip=2001:db8:f::25'),
    ('192.0.2.8', 'MX2.Backup.Example', 'fqdn=MX2.Backup.Example'),
    ('192.0.2.8', 'backup.example.evil', None),
    ('192.0.2.8', 'notbackup.example', None),
    ('192.0.2.8', 'backup.example', 'fqdn=backup.example'),
    ('192.0.2.8', 'Relay.Forward.Example', 'fqdn=Relay.Forward.Example'),
    ('192.0.2.8', 'a.relay.forward.example', 'fqdn=a.relay.forward.example'),
    ('192.0.2.8', 'evilrelay.forward.example', None),
    ('192.0.2.8', 'forward.example', None),
    ('203.0.113.10', '[203.0.113.10]', None),
])
def test_trusted_forwarder_by_network_or_host_name_suffix(client, host, why):
    connection = c_rules.Connection(client, client, host, 'mx')
    assert extra_rules.trusted_forwarder(FORWARDER, connection) == why


@pytest.mark.parametrize('result,helo_result', [('fail', None), ('softfail', None),
                                                ('pass', 'fail')])
def test_trusted_forwarder_is_never_refused_and_says_why(result, helo_result):
    connection = c_rules.Connection('198.51.100.7', '198.51.100.7', '[198.51.100.7]', 'mx')
    verdict, state = mail_stage(FORWARDER, result, helo_result, connection)
    assert verdict.action == CONTINUE and state.pending is None
    assert state.trusted == 'ip=198.51.100.7'
    assert verdict.logs[0][1].startswith('SPF not refused: client ip=198.51.100.7 is a '
                                         'TrustedForwarder (SPF %s, would be 550' % result)
    assert extra_rules.rcpt_result(state, result) is None


def test_trusted_forwarder_not_tagged_and_named_in_authentication_results():
    edits = c_rules.on_eom(conf(), CONN, MAIL, 'fail', 'Hi', [])
    assert [e.name for e in edits] == ['Subject', 'Authentication-Results']
    state = extra_rules.MessageState(trusted='ip=2001:db8:f::25')
    connection = CONN._replace(client_ip='2001:db8:f::25')
    changed = extra_rules.at_eom(state, c_rules.on_eom(
        conf(), connection, MAIL, 'fail', 'Hi', [], (), False,
        *extra_rules.auth_results_additions(connection, MAIL, state)))
    assert [e.name for e in changed] == ['Authentication-Results']
    assert changed[0].value.endswith(' policy.trusted-forwarder="2001:db8:f::25"')


def test_trusted_forwarder_policy_property_survives_an_rfc8601_parser():
    value = headers.authentication_results('mx', 'fail', ('a', 'sender.example'), 'helo.example',
                                           trusted_forwarder_ip='198.51.100.7')
    parsed = authres.AuthenticationResultsHeader.parse_value(value)
    properties = [(p.type, p.name, p.value) for p in parsed.results[0].properties]
    assert ('policy', 'trusted-forwarder', '198.51.100.7') in properties


def test_trusted_forwarder_config_errors_name_line():
    loaded = configuration.parse_lines(['TrustedForwarder 10.0.0.0/99',
                                        'TrustedForwarder .ok.example',
                                        'TrustedForwarder 10.0.0', 'TrustedForwarder a!b',
                                        'TrustedForwarder -mx.example',
                                        'TrustedForwarder mx.b\u00fccher.example',
                                        'TrustedForwarder mx_1.example.'],
                                       't.conf')
    # names as smf_spf.mailbox reads host names (no '-' at a label's edge, ASCII: the
    # MTA names clients by their PTR's A-labels), 10.0.0 not one (a numeric top label)
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, ERROR), (3, ERROR),
                                                                (4, ERROR), (5, ERROR),
                                                                (6, ERROR)]
    assert 'neither an IP network nor a host name' in loaded.problems[1].reason
    connection = c_rules.Connection('192.0.2.8', '192.0.2.8', 'mx.ok.example', 'mx')
    assert extra_rules.trusted_forwarder(loaded.config, connection) == 'fqdn=mx.ok.example'
    assert extra_rules.trusted_forwarder(loaded.config, connection._replace(
        hostname='a.mx_1.example')) == 'fqdn=a.mx_1.example'


# -- postmaster ------------------------------------------------------------------------

@pytest.mark.parametrize('raw,expected', [
    ('<postmaster@receiver.test>', True), ('<PostMaster@Receiver.Test>', True),
    ('<postmaster>', True), ('<Postmaster> NOTIFY=NEVER', True),
    ('<postmasters@receiver.test>', False), ('<bob@postmaster.test>', False),
    ('postmaster@receiver.test', False), ('<>', False),
])
def test_is_postmaster(raw, expected):
    assert extra_rules.is_postmaster(raw) is expected


def rcpt_stage(config, state, raw_rcpt, result='fail', mail=MAIL):
    verdict, _ = c_rules.on_rcpt(config, CONN, mail, extra_rules.rcpt_result(state, result),
                                raw_rcpt)
    return extra_rules.at_rcpt(config, state, verdict, raw_rcpt)


def test_postmaster_accepted_others_refused_as_mail_from_decided():
    config = conf('AcceptPostmaster on')
    _, state = mail_stage(config, 'fail')
    verdict, state = rcpt_stage(config, state, '<PostMaster@receiver.test>')
    assert verdict.action == CONTINUE
    assert verdict.logs == (('notice', 'SPF not refused: to=<PostMaster@receiver.test>, mail '
                             'to postmaster is accepted (RFC 5321 section 4.5.1), would be '
                             '550 5.7.23'),)
    verdict, state = rcpt_stage(config, state, '<bob@receiver.test>')
    assert (verdict.action, verdict.code, verdict.xcode) == (REJECT, '550', '5.7.23')
    assert 'by RefuseFail' in verdict.logs[0][1]
    verdict, state = rcpt_stage(config, state, '<carol@receiver.test>')
    assert (verdict.action, verdict.xcode, verdict.logs) == (REJECT, '5.7.23', ())


def test_bare_postmaster_is_not_a_syntax_error():
    config = conf('AcceptPostmaster on')
    _, state = mail_stage(config, 'pass')
    verdict, _ = rcpt_stage(config, state, '<Postmaster>', 'pass')
    assert verdict.action == CONTINUE
    # C refused it: 550 5.1.3 (no @)
    assert c_rules.on_rcpt(config, CONN, MAIL, 'pass', '<Postmaster>')[0].xcode == '5.1.3'
    verdict, _ = rcpt_stage(config, state, '<nobody>', 'pass')
    assert (verdict.action, verdict.xcode) == (REJECT, '5.1.3')


def test_postmaster_exempt_from_whitelist_to_path_refusal():
    config = conf('WhitelistTo @friends.example', 'AcceptPostmaster on')
    _, state = mail_stage(config, 'fail')
    assert state.pending is None     # C's path: refused per recipient with 5.1.1
    assert rcpt_stage(config, state, '<bob@receiver.test>')[0].xcode == '5.1.1'
    assert rcpt_stage(config, state, '<postmaster@receiver.test>')[0].action == CONTINUE
    assert rcpt_stage(config, state, '<bob@friends.example>')[0].action == CONTINUE


def test_pending_refusal_respects_whitelist_to():
    config = conf('WhitelistTo @friends.example', 'RefuseSoftFail on', 'AcceptPostmaster on')
    _, state = mail_stage(config, 'softfail')
    assert rcpt_stage(config, state, '<bob@friends.example>', 'softfail')[0].action == CONTINUE
    assert rcpt_stage(config, state, '<bob@receiver.test>', 'softfail')[0].action == REJECT


def test_every_spf_refusal_waits_for_rcpt_with_accept_postmaster_on():
    for lines, result in ((('RefuseSPFNone on', 'SPFBestGuess off'), 'none'),
                          (('AcceptTempError off',), 'temperror'), ((), 'fail')):
        config = conf('AcceptPostmaster on', *lines)
        verdict, state = mail_stage(config, result)
        assert verdict == Verdict(CONTINUE) and state.pending.action in (REJECT, TEMPFAIL)
        assert rcpt_stage(config, state, '<postmaster@x.example>', result)[0].action == CONTINUE


# -- DryRun ----------------------------------------------------------------------------

def test_dry_run_lets_refusal_through_logged_and_marked():
    verdict, _ = mail_stage(conf('DryRun on'), 'fail')
    assert (verdict.action, verdict.code, verdict.dry_run) == (CONTINUE, None, 'refuse')
    assert verdict.logs == (('notice', 'SPF would refuse (DryRun): 550 5.7.23 by RefuseFail '
                                       '(SPF fail), ip=192.0.2.1, from=<a@sender.example>'),)
    # AcceptPostmaster on: at RCPT TO, logged with the first recipient
    config = conf('DryRun on', 'AcceptPostmaster on')
    _, state = mail_stage(config, 'fail')
    verdict, state = rcpt_stage(config, state, '<bob@receiver.test>')
    assert (verdict.action, verdict.code, verdict.dry_run) == (CONTINUE, None, 'refuse')
    assert verdict.logs == (('notice', 'SPF would refuse (DryRun): 550 5.7.23 by RefuseFail '
                                       '(SPF fail), ip=192.0.2.1, from=<a@sender.example>'),)
    verdict, _ = rcpt_stage(config, state, '<carol@receiver.test>')
    assert (verdict.action, verdict.dry_run, verdict.logs) == (CONTINUE, 'refuse', ())


def test_dry_run_tempfail_and_syntax():
    config = conf('DryRun on', 'AcceptTempError off')
    verdict, _ = mail_stage(config, 'temperror')
    assert (verdict.action, verdict.dry_run) == (CONTINUE, 'tempfail')
    config = conf('DryRun on', 'AcceptTempError off', 'AcceptPostmaster on')
    _, state = mail_stage(config, 'temperror')
    verdict, _ = rcpt_stage(config, state, '<bob@receiver.test>', 'temperror')
    assert (verdict.action, verdict.dry_run) == (CONTINUE, 'tempfail')
    verdict, _ = rcpt_stage(config, state, '<bob>', 'temperror')
    assert (verdict.action, verdict.dry_run) == (CONTINUE, 'refuse')
    assert verdict.logs[0][1].startswith('SPF would refuse (DryRun): 550 5.1.3 Recipient '
                                         'address')
    syntax, _ = c_rules.on_mail(config, CONN, '<nobody>', 'h.example')
    assert extra_rules.dry_run(config, syntax, instead=ACCEPT).action == ACCEPT


def test_dry_run_off_changes_nothing():
    verdict = Verdict(REJECT, '550', '5.7.23', 'no', (('notice', 'x'),))
    assert extra_rules.dry_run(conf(), verdict) is verdict
    assert extra_rules.dry_run(conf('DryRun on'), Verdict(CONTINUE)) == Verdict(CONTINUE)


# -- config keys: ours and the redvw fork's ---------------------------------------------

@pytest.mark.parametrize('line,field,value', [
    ('CheckHelo on', 'check_helo', True),
    ('RefuseHeloFail on', 'refuse_helo_fail', True),
    ('RefuseSoftFail on', 'refuse_softfail', True),
    ('DryRun on', 'dry_run', True),
    ('AcceptPostmaster on', 'accept_postmaster', True),
    ('RejectPermError on', 'reject_perm_error', True),
    ('RejectPermError No', 'reject_perm_error', False),
    ('RejectTempError on', 'accept_temp_error', False),
    ('RejectTempError off', 'accept_temp_error', True),
    ('AddAuthResultHeader off', 'add_header', False),
    ('AddAuthResultHeader verbose', 'add_header', True),
    ('AddAuthResultHeader yes', 'add_header', True),
])
def test_new_keys(line, field, value):
    assert getattr(configuration.parse_lines([line], 't').config, field) is value


def test_new_keys_default_to_c_behaviour():
    config = conf()
    assert not (config.check_helo or config.refuse_helo_fail or config.refuse_softfail
                or config.reject_perm_error or config.dry_run or config.accept_postmaster)
    assert len(config.trusted_forwarders) == 0


@pytest.mark.parametrize('line', ['CheckHelo yes', 'DryRun 1', 'RejectPermError maybe',
                                  'RejectTempError', 'AddAuthResultHeader loud'])
def test_bad_values_are_errors_with_line(line):
    loaded = configuration.parse_lines(['# x', line], 't.conf')
    assert [(p.line, p.severity) for p in loaded.problems] == [(2, ERROR)]


def test_whitelist_ip6_is_whitelist_ip():
    loaded = configuration.parse_lines(['WhitelistIP6 2001:db8:4321:abcd::/64',
                                        'WhitelistIP 10.0.0.0/8'], 't.conf')
    assert '2001:db8:4321:abcd::1' in loaded.config.whitelist_ip
    assert '10.1.2.3' in loaded.config.whitelist_ip
    assert loaded.problems == ()
    assert [(p.line, p.severity) for p in loaded.compat] == [(1, COMPAT)]
    assert 'read as WhitelistIP' in loaded.compat[0].reason


def test_whitelist_ip6_lines_are_read_as_whitelist_ip_lines():
    loaded = configuration.parse_lines(['WhitelistIP6 nonsense'], 't.conf')
    assert [p.severity for p in loaded.compat + loaded.problems] == [COMPAT, ERROR]
    loaded = configuration.parse_lines(['WhitelistIP6 2001:db8::/200'], 't.conf')
    assert [p.severity for p in loaded.compat + loaded.problems] == [COMPAT, WARNING]
    assert '2001:db8::' in loaded.config.whitelist_ip       # mask clamped, as C did


@pytest.mark.parametrize('line,says', [
    ('RejectPermError on', 'permerror is refused with 550 5.7.24'),
    ('RejectPermError off', 'permerror is not refused'),
    ('RejectTempError on', 'read as AcceptTempError off: SPF temperror is answered 451 4.4.3'),
    ('RejectTempError no', 'read as AcceptTempError on'),
    ('AddAuthResultHeader on', 'read as AddHeader on: Authentication-Results'),
    ('AddAuthResultHeader verbose', 'without the explanation comment'),
    ('AddAuthResultHeader off', 'read as AddHeader off'),
])
def test_config_check_says_how_each_redvw_key_maps(line, says):
    loaded = configuration.parse_lines([line], 't.conf')
    assert loaded.problems == () and len(loaded.compat) == 1
    assert says in loaded.compat[0].reason and 'redvw' in loaded.compat[0].reason


def test_our_keys_have_no_dialect_note():
    loaded = configuration.parse_lines(['CheckHelo on', 'AcceptTempError off', 'AddHeader off'],
                                       't')
    assert loaded.problems == () and loaded.compat == ()


def test_command_line_n_is_dry_run():
    from smf_spf.__main__ import parse_args, with_options
    assert with_options(conf(), parse_args(['-n', '-f'])).dry_run is True
    assert with_options(conf(), parse_args(['-f'])).dry_run is False


def test_config_check_prints_the_mappings_and_passes(tmp_path, capsys):
    from smf_spf.__main__ import check_config
    path = tmp_path / 'redvw.conf'
    path.write_text('User root\nWhitelistIP6 2001:db8::/32\nRejectTempError on\n'
                    'RejectPermError on\nAddAuthResultHeader verbose\n')
    assert check_config(str(path), True) == 0
    out, err = capsys.readouterr()
    assert out.endswith(': OK\n')
    lines = err.splitlines()
    assert lines[0].startswith('compatibility:')
    assert [line.split(': ')[0] for line in lines[1:]] == ['%s:%d' % (path, n)
                                                          for n in (2, 3, 4, 5)]
    assert 'read as WhitelistIP' in lines[1] and 'read as AcceptTempError off' in lines[2]


def test_helo_budget_is_what_mail_from_left_of_spf_timeout():
    assert helo.budget(conf('SPFTimeout 20'), 5.0) == 15.0
    assert helo.budget(conf('SPFTimeout 20'), 0.0) == 20.0
    assert helo.budget(conf('SPFTimeout 20'), 19.5) is None
    assert helo.budget(conf('SPFTimeout 20'), 25.0) is None
    assert helo.budget(conf('SPFTimeout 0.5'), 0.0) == 0.5
    assert helo.budget(conf('SPFTimeout 0.5'), 0.1) is None


@pytest.mark.parametrize('line,says', [
    ('DelayChecks on', 'DelayChecks (smf-spf redvw fork) has no effect: the check is made at '
                       'MAIL FROM; AcceptPostmaster on'),
    ('AddSignatureHeader on', 'no X-SPF-Scan-By header'),
    ('WrapHeader off', 'folded'),
    ('HeaderWidth 78', 'folded'),
])
def test_redvw_keys_without_counterpart_are_named_not_unknown(line, says):
    (problem,) = configuration.parse_lines([line], 't.conf').problems
    assert problem.severity == WARNING and says in problem.reason
    assert 'unknown' not in problem.reason


def test_redvw_add_header_format_list_is_an_error_with_a_hint():
    (problem,) = configuration.parse_lines(['AddHeader clientip, helo'], 't.conf').problems
    assert problem.severity == ERROR
    assert problem.reason.endswith('chose the Received-SPF fields: here write '
                                   'AddReceivedHeader on (and AddHeader for '
                                   'Authentication-Results)')
    (problem,) = configuration.parse_lines(['AddHeader maybe'], 't.conf').problems
    assert problem.reason.endswith('line ignored')


@pytest.mark.parametrize('lines', [(), ('AcceptPostmaster off',)])
def test_by_default_spf_refusals_are_made_at_mail_from_as_c(lines):
    config = conf(*lines)
    verdict, state = mail_stage(config, 'fail')
    assert (verdict.action, verdict.code, verdict.xcode) == (REJECT, '550', '5.7.23')
    assert state.pending is None
    verdict, _ = rcpt_stage(config, state, '<Postmaster>', 'pass')
    assert (verdict.action, verdict.xcode) == (REJECT, '5.1.3')   # as C
    config = conf('DryRun on', *lines)
    verdict, _ = mail_stage(config, 'fail')
    assert (verdict.action, verdict.dry_run) == (CONTINUE, 'refuse')
    connection = c_rules.Connection('198.51.100.7', '198.51.100.7', '[198.51.100.7]', 'mx')
    config = conf('TrustedForwarder 198.51.100.7', *lines)
    assert mail_stage(config, 'fail', connection=connection)[0].action == CONTINUE


# -- metrics and reload ------------------------------------------------------------------

def test_dry_run_is_counted_as_what_it_would_have_been():
    from smf_spf import metrics
    assert metrics.verdict_action(Verdict(CONTINUE, dry_run='refuse')) == ('would_refuse', '')
    assert metrics.verdict_action(Verdict(CONTINUE, dry_run='tempfail')) == (
        'would_tempfail', '')
    verdict, _ = mail_stage(conf('DryRun on'), 'fail')
    assert metrics.verdict_action(verdict) == ('would_refuse', '')
    assert metrics.verdict_action(mail_stage(conf(), 'fail')[0]) == ('refuse', '')


def test_reload_plan_names_new_keys_and_compares_trusted_forwarders_by_entries():
    from smf_spf import reload
    old = conf('TrustedForwarder 192.0.2.0/24')
    assert reload.plan(old, conf('TrustedForwarder 192.0.2.0/24')).changes == ()
    change = reload.plan(old, conf('TrustedForwarder 192.0.2.0/24', 'TrustedForwarder .b.example',
                                   'CheckHelo on', 'AcceptPostmaster on'))
    assert change.changes == ('CheckHelo off -> on', 'AcceptPostmaster off -> on',
                              'TrustedForwarder 1 -> 2 entries (added .b.example)')


def test_reload_keeps_command_line_dry_run(tmp_path):
    from smf_spf.__main__ import reloader_for
    from smf_spf.reload import Live
    path = tmp_path / 'smf-spf.conf'
    path.write_text('User root\nCheckHelo on\n')
    for options, dry_run in (({'-n': ''}, True), ({}, False)):
        loaded, problems, failed = reloader_for(Live(None, str(path)), None, options).check(
            str(path))
        assert not failed and loaded.config.check_helo
        assert loaded.config.dry_run is dry_run


def test_trusted_forwarder_property_stays_out_of_a_quoted_authserv_id():
    """The property was once placed by searching the finished value for ' smtp.', which
    an AuthservID such as `mx smtp.x` (written quoted) contains."""
    value = headers.authentication_results('mx smtp.x', 'pass', ('a', 'sender.example'),
                                           '[192.0.2.1]', trusted_forwarder_ip='198.51.100.7')
    assert value == ('"mx smtp.x"; spf=pass policy.trusted-forwarder=198.51.100.7 '
                     'smtp.mailfrom=a@sender.example smtp.helo="[192.0.2.1]"')
