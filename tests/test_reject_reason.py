"""RejectReason's named fields (%{sender} ... %{exp}) beside C's positional ones, the exp=
text they can show (fetched only then, only for a fail, RFC 7208 section 6.2), and a reply
no field can break."""

import pytest
import spf

from smf_spf import c_rules, config as configuration, headers
from smf_spf.mailbox import split_path
from smf_spf.spfcheck import SpfChecker
from smf_spf.template import FIELDS, ReasonTemplate, TemplateError

CONN = c_rules.Connection('192.0.2.1', '198.51.100.1', 'client.test', 'mx.receiver.test')


def conf(*lines):
    loaded = configuration.parse_lines(list(lines), 'test.conf')
    assert not loaded.problems, loaded.problems
    return loaded.config


def mail(raw_from, helo='mx.sender.example'):
    _, found = c_rules.on_mail(conf(), CONN, raw_from, helo)
    return found


# -- the template ----------------------------------------------------------------------

def test_named_fields_beside_positional_ones():
    template = ReasonTemplate('%s %2$s %3$s|%{sender} %{IP} %{mta} %{domain} %{local} '
                              '%{helo} %{result} %{exp} %%{sender}')
    assert template.render('s@d', '192.0.2.1', 'mx', 'd', 's', 'h.example', 'fail',
                           'why') == ('s@d 192.0.2.1 mx|s@d 192.0.2.1 mx d s h.example fail '
                                      'why %{sender}')
    assert [field for field in FIELDS if template.uses(field)] == list(FIELDS)
    assert not ReasonTemplate('%s %{domain}').uses('exp')


@pytest.mark.parametrize('text', ['%{senders}', '%{s}', '%{client-ip}'])
def test_a_name_that_is_no_field_is_an_error_naming_the_fields(text):
    with pytest.raises(TemplateError) as raised:
        ReasonTemplate(text)
    assert '%{sender}' in str(raised.value) and '%{exp}' in str(raised.value)
    loaded = configuration.parse_lines(['RejectReason no %s' % text], 'f')
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, 'error')]
    assert loaded.config.reject_reason == ReasonTemplate(configuration.DEFAULT_REJECT_REASON)


def test_the_refusal_shows_each_field_of_the_identity_refused():
    config = conf('RejectReason %{local} at %{domain} (%{sender}) from %{ip} helo %{helo}: '
                  'SPF %{result} at %{mta}, %{exp}')
    verdict = c_rules.after_spf(config, CONN, mail('<Alice@Sender.Example>'), 'fail',
                               'not ours')
    assert verdict.text == ('alice at sender.example (alice@sender.example) from '
                            '198.51.100.1 helo mx.sender.example: SPF fail at '
                            'mx.receiver.test, not ours')
    empty = mail('<>', helo='Mx.Helo.Example')
    verdict = c_rules.after_spf(config, CONN, empty, 'fail', 'no')
    assert verdict.text.startswith('postmaster at mx.helo.example (postmaster@mx.helo.example)')


def test_a_temperror_shows_only_the_short_reason():
    config = conf('RejectReason %{result}: %{exp}')
    text = c_rules.reject_reason(config, CONN, mail('<a@b.example>'), 'temperror',
                                'DNS timed out asking 10.1.2.3')
    assert text == 'temperror: DNS timeout'


HOSTILE = ['a\r\n250 2.0.0 ok', 'x\x00y', '%s%n%%', 'b\u00fc\udcff', 'z' * 3000,
           '\r\n.\r\nMAIL FROM:<evil@example>']


@pytest.mark.parametrize('value', HOSTILE)
@pytest.mark.parametrize('field', ['local', 'helo', 'exp'])
def test_no_field_value_breaks_the_reply_line(field, value):
    config = conf('RejectReason %{' + field + '} <%{sender}> %{helo} %{exp}')
    raw_from = '<%s@sender.example>' % (value if field == 'local' else 'a')
    found = c_rules.Mail(raw_from, value if field == 'local' else 'a', 'sender.example',
                        'mailfrom', value if field == 'helo' else 'h.example')
    verdict = c_rules.refuse(config, CONN, found, '7.23', 'RefuseFail', 'fail',
                            value if field == 'exp' else '')
    text = headers.reply_text(verdict.code, verdict.xcode, verdict.text)
    line = '%s %s %s\r\n' % (verdict.code, verdict.xcode, text.replace('%%', '%'))
    assert line.count('\r') == 1 and line.count('\n') == 1 and line.endswith('\r\n')
    assert len(line.encode('ascii')) <= headers.MAX_REPLY_LINE
    assert all(' ' <= char <= '~' for char in line[:-2])
    assert '%' not in text.replace('%%', '')      # every % doubled for libmilter


# -- exp=: fetched for a fail, from the record that decided ------------------------------

ZONE = {
    'exp.test': 'v=spf1 ip4:192.0.2.0/24 -all exp=why.exp.test',
    'why.exp.test': '%{i} is not one of %{d}\'s senders',
    'redirect.test': 'v=spf1 redirect=exp.test exp=first.exp.test',
    'first.exp.test': 'the first record speaks',
    'inc.test': 'v=spf1 include:incexp.test -all',
    'incexp.test': 'v=spf1 ip4:10.0.0.0/8 -all exp=why.exp.test',
    'soft.test': 'v=spf1 ~all exp=why.exp.test',
    'slow.test': 'v=spf1 -all exp=slow.exp.test',
    'who.test': 'v=spf1 -all exp=who.exp.test',
    'who.exp.test': '%{s} may not send here',
}


@pytest.fixture
def exp_dns(monkeypatch):
    asked = []

    def lookup(name, qtype, strict=True, timeout=30):
        asked.append(name)
        if name == 'slow.exp.test':
            raise spf.TempError('DNS Timeout')
        record = ZONE.get(name) if qtype == 'TXT' else None
        return [((name, qtype), [record.encode()])] if record else []
    monkeypatch.setattr(spf, 'DNSLookup', lookup)
    return asked


def check(domain, fetch_exp=True, ip='198.51.100.9'):
    return SpfChecker(5, fetch_exp=fetch_exp).check(ip, split_path('bob@' + domain), 'h.test')


def test_a_fail_gets_its_records_exp_text_expanded(exp_dns):
    checked = check('exp.test')
    assert (checked.result, checked.explanation) == (
        'fail', "198.51.100.9 is not one of exp.test's senders")
    assert not checked.uses_sender_details


def test_without_fetch_exp_no_exp_lookup_is_made(exp_dns):
    assert check('exp.test', fetch_exp=False).explanation == 'SPF fail - not authorized'
    assert 'why.exp.test' not in exp_dns


@pytest.mark.parametrize('domain', ['soft.test', 'exp.test'])
def test_only_a_fail_asks_for_exp(exp_dns, domain):
    ip = '198.51.100.9' if domain == 'soft.test' else '192.0.2.9'
    assert check(domain, ip=ip).result in ('softfail', 'pass')
    assert 'why.exp.test' not in exp_dns


def test_a_redirect_forgets_the_first_records_exp(exp_dns):
    assert check('redirect.test').explanation == "198.51.100.9 is not one of exp.test's senders"
    assert 'first.exp.test' not in exp_dns


def test_an_includes_exp_does_not_count(exp_dns):
    checked = check('inc.test')
    assert (checked.result, checked.explanation) == ('fail', 'SPF fail - not authorized')


def test_an_unanswered_exp_leaves_the_fail_and_its_default_text(exp_dns):
    checked = check('slow.test')
    assert (checked.result, checked.explanation) == ('fail', 'SPF fail - not authorized')


def test_an_exp_showing_the_sender_is_cached_per_sender(exp_dns):
    checked = check('who.test')
    assert checked.explanation == 'bob@who.test may not send here'
    assert checked.uses_sender_details


def test_fetches_exp_only_for_a_reason_that_shows_it():
    assert configuration.fetches_exp(conf('RejectReason no: %{exp}'))
    assert not configuration.fetches_exp(conf())
    from smf_spf.__main__ import build_spf
    assert build_spf(conf('RejectReason %{EXP}'), None).checker.fetch_exp
    assert not build_spf(conf(), None).checker.fetch_exp


def test_a_reload_that_starts_or_stops_showing_exp_empties_the_cache():
    from smf_spf.reload import plan
    assert plan(conf(), conf('RejectReason %{exp}')).rebuild_cache
    assert not plan(conf(), conf('RejectReason go away %{domain}')).rebuild_cache
