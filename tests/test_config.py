import os

import pytest

from smf_spf import config
from smf_spf.config import ERROR, FATAL, WARNING

DATA = os.path.join(os.path.dirname(__file__), 'data')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(*lines):
    return config.parse_lines(list(lines), 'test.conf')


def test_defaults_match_the_reference():
    c = parse().config
    assert c.skip_ndr is False and c.skip_auth is True
    assert c.reject_reason.text == ('Message was rejected during SPF policy evaluation. '
                                    'sender:%s client-ip:%s')
    assert c.relaxed_local_part is False
    assert c.refuse_spf_none is False and c.refuse_spf_none_helo is False
    assert c.refuse_fail is True and c.soft_fail is False and c.accept_temp_error is True
    assert c.spf_best_guess is True and c.tag_subject is True and c.tag == '[SPF:fail]'
    assert c.add_header is True and c.add_received_header is False
    assert c.authserv_id is None
    assert c.quarantine is False and c.quarantine_box == 'postmaster'
    assert c.ttl == 3600 and c.user == 'smfs'
    assert c.socket.text == 'unix:/var/run/smfs/smf-spf.sock' and c.socket.family == 'unix'
    assert c.syslog == 'mail' and c.log_to is None and c.daemonize is True
    assert c.fixed_client_ip is None and c.client_ip_nat == {}
    assert len(c.whitelist_ip) == 0 and len(c.whitelist_to) == 0


def test_howto_config_loads_with_only_the_lan_socket_warning():
    loaded = config.load(os.path.join(DATA, 'howto-2.0.4.conf'))
    assert [(p.line, p.severity) for p in loaded.problems] == [(105, config.WARNING)]
    assert 'listens beyond loopback' in loaded.problems[0].reason
    c = loaded.config
    assert c.socket == config.SocketSpec('inet', '192.168.0.70', 10011, 'inet:10011@192.168.0.70')
    assert '127.0.0.1' in c.whitelist_ip and '192.168.2.9' in c.whitelist_ip
    assert '10.0.0.1' not in c.whitelist_ip and '192.168.3.1' not in c.whitelist_ip
    assert c.refuse_fail is True     # "# default: RefuseFail off" is a comment


def test_sample_25_config_sets_every_key():
    loaded = config.load(os.path.join(DATA, 'sample-2.5.conf'))
    # TTL 1D then TTL 60m: the last counts, as in C, and the repeat is pointed out
    assert [(p.line, p.severity) for p in loaded.problems] == [(31, WARNING)]
    assert 'line 30: 1D, line 31: 60m' in loaded.problems[0].reason
    assert 'line 31 (60m) takes effect' in loaded.problems[0].reason
    # RefuseSPFNone counts there (SPFBestGuess is off); the multi-word RejectReason acted
    # otherwise in smf-spf up to 2.5.0, which used its first word; the WhitelistFrom/To
    # lines no longer match the pattern anywhere in the address (the WhitelistPTR lines,
    # with their leading dots, match as they did)
    assert [(p.line, p.severity) for p in loaded.compat] == [
        (line, config.COMPAT) for line in (8, 9, 10, 15)]
    assert [p.reason.split(':')[0] for p in loaded.compat[:3]] == [
        'WhitelistFrom friend@', 'WhitelistFrom @example.org', 'WhitelistTo postmaster@']
    assert "'Rejected:'" in loaded.compat[3].reason
    c = loaded.config
    assert c.whitelist_ptr.matches('mx.EXAMPLE.net') and c.whitelist_ptr.matches('a.example.com')
    assert c.whitelist_from.matches('friend', 'x.tld') and c.whitelist_to.matches('postmaster', 'x')
    assert c.fixed_client_ip == '192.0.2.10' and c.client_ip_nat == {'10.9.9.9': '198.51.100.9'}
    assert c.skip_ndr and not c.skip_auth and c.relaxed_local_part
    assert c.reject_reason.render('s@x', '1.2.3.4', 'mx') == (
        'Rejected: s@x may not send from 1.2.3.4 (see http://mx/spf)')
    assert c.refuse_spf_none and c.refuse_spf_none_helo and not c.refuse_fail
    assert c.soft_fail and not c.accept_temp_error and not c.spf_best_guess
    assert not c.tag_subject and c.tag == '[SPF:FAIL]'
    assert not c.add_header and c.add_received_header and c.authserv_id == 'mail.example.com'
    assert c.quarantine and c.quarantine_box == 'spambox@example.com'
    assert c.ttl == 3600                 # last TTL wins
    assert c.user == 'nobody' and c.socket.port == 2424 and c.syslog == 'local5'
    assert c.log_to == '/dev/stdout' and c.daemonize is False


def test_invalid_nat_lines_are_reported_and_skipped():
    loaded = config.load(os.path.join(DATA, 'nat-invalid-lines.conf'))
    bad = [(p.line, p.severity) for p in loaded.problems]
    assert bad == [(8, ERROR), (10, ERROR), (11, ERROR), (12, ERROR), (14, WARNING)]
    assert all('ClientIPNAT' in p.reason and 'line ignored' in p.reason
               for p in loaded.problems[:-1])
    # RefuseFail off (line 4) wins over the later RefuseFail on (line 14), as in C
    assert loaded.config.refuse_fail is False
    assert 'line 4 (off) takes effect' in loaded.problems[-1].reason
    assert loaded.config.client_ip_nat == {'127.0.0.3': '192.168.0.3',
                                           '127.0.0.1': '54.154.127.152'}
    assert loaded.fatal == []


def test_bundled_default_config_is_valid():
    loaded = config.load(os.path.join(ROOT, 'conf', 'smf-spf.conf'))
    assert loaded.problems == ()
    assert '10.1.1.1' in loaded.config.whitelist_ip and '::1' in loaded.config.whitelist_ip


def test_comments_spacing_and_case():
    c = parse('  wHiTeLiStFrOm   Friend@Example.org   # trailing', '#Tag x',
              'TAG\t[SPF: bad]  # spaces inside the value stay',
              'rejectreason   Go away %s').config
    assert c.whitelist_from.matches('friend', 'example.org')
    assert c.tag == '[SPF: bad]'
    assert c.reject_reason.render('a@b', 'ip', 'mx') == 'Go away a@b'


@pytest.mark.parametrize('value,seconds', [('3600', 3600), ('60s', 60), ('60m', 3600),
                                           ('1h', 3600), ('1D', 86400), ('2d', 172800),
                                           ('0', 0)])
def test_ttl_units(value, seconds):
    assert parse('TTL %s' % value).config.ttl == seconds


@pytest.mark.parametrize('line', ['TTL abc', 'TTL -5', 'TTL 1w', 'SoftFail yes', 'Syslog kern',
                                  'FixedClientIP 1.2.3', 'WhitelistIP 10.0.0.256/8',
                                  'WhitelistIP 10.0.0.08', 'WhitelistIP /8',
                                  'WhitelistIP printer 10.0.0.1', 'ClientIPNAT 1.2.3.4:',
                                  'ClientIPNAT [2001:db8::1]', 'SPFTimeout 0', 'CacheSize many',
                                  'Nameservers 127.0.0.1, dns.example', 'RefuseFail',
                                  'RejectReason %4$s'])
def test_invalid_line_is_an_error_with_line_number_and_keeps_default(line):
    loaded = parse('# first', line)
    assert len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert (problem.path, problem.line, problem.severity) == ('test.conf', 2, ERROR)
    assert str(problem).startswith('test.conf:2: error: ')
    assert loaded.config == parse().config._replace(
        whitelist_ip=loaded.config.whitelist_ip, whitelist_ptr=loaded.config.whitelist_ptr,
        whitelist_from=loaded.config.whitelist_from, whitelist_to=loaded.config.whitelist_to)


def test_unknown_key_is_a_warning():
    loaded = parse('Frobnicate on')
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, WARNING)]
    assert loaded.errors == []


BOOLEANS = [('SkipNDR', 'skip_ndr'), ('SkipAuth', 'skip_auth'), ('RefuseFail', 'refuse_fail'),
            ('TagSubject', 'tag_subject'), ('Daemonize', 'daemonize'),
            ('Quarantine', 'quarantine'), ('RelaxedLocalPart', 'relaxed_local_part'),
            ('RefuseSPFNone', 'refuse_spf_none'), ('RefuseSPFNoneHelo', 'refuse_spf_none_helo'),
            ('SoftFail', 'soft_fail'), ('AcceptTempError', 'accept_temp_error'),
            ('SPFBestGuess', 'spf_best_guess'), ('AddHeader', 'add_header'),
            ('AddReceivedHeader', 'add_received_header')]


@pytest.mark.parametrize('key,field', BOOLEANS)
def test_boolean_line_with_the_non_default_value_wins_wherever_it_stands(key, field):
    default = getattr(parse().config, field)
    other = 'off' if default else 'on'
    same = 'on' if default else 'off'
    for order in ((other, same), (same, other), (same, other, same)):
        loaded = parse(*['%s %s' % (key, value) for value in order])
        assert getattr(loaded.config, field) is (not default), order
        warning, = loaded.problems
        assert warning.severity == WARNING and warning.line == len(order)
        assert 'line %d (%s) takes effect' % (order.index(other) + 1, other) in warning.reason
    assert parse('%s %s' % (key, same), '%s %s' % (key, same.upper())).problems == ()


@pytest.mark.parametrize('lines,effective', [
    (('Tag [A]', 'Tag [B]'), ('tag', '[B]')),
    (('QuarantineBox a@x', 'QuarantineBox b@x'), ('quarantine_box', 'b@x')),
    (('TTL 1h', 'TTL 2h'), ('ttl', 7200)),
    (('User a', 'User b'), ('user', 'b')),
    (('AuthservID a', 'AuthservID b'), ('authserv_id', 'b')),
    (('FixedClientIP 192.0.2.1', 'FixedClientIP 192.0.2.2'), ('fixed_client_ip', '192.0.2.2')),
    (('Syslog daemon', 'Syslog local1'), ('syslog', 'local1')),
])
def test_other_keys_last_line_wins_with_a_warning_naming_both_lines(lines, effective):
    loaded = parse(*lines)
    assert getattr(loaded.config, effective[0]) == effective[1]
    warning, = loaded.problems
    assert (warning.line, warning.severity) == (2, WARNING)
    assert 'line 1: ' in warning.reason and 'line 2: ' in warning.reason
    assert 'line 2 (' in warning.reason and 'takes effect' in warning.reason


def test_repeated_reject_reason_last_wins():
    loaded = parse('RejectReason one %s', 'RejectReason two %s')
    assert loaded.config.reject_reason.render('a@b', 'ip', 'mx') == 'two a@b'
    assert [p.severity for p in loaded.problems] == [WARNING]


@pytest.mark.parametrize('text,expected', [
    ('unix:/run/smfs/smf-spf.sock', ('unix', '/run/smfs/smf-spf.sock', 0)),
    ('local:/tmp/x.sock', ('unix', '/tmp/x.sock', 0)),
    ('inet:10011@127.0.0.1', ('inet', '127.0.0.1', 10011)),
    ('inet:10011', ('inet', '0.0.0.0', 10011)),
    ('inet6:10011@::1', ('inet6', '::1', 10011)),
    ('inet6:10011@[::1]', ('inet6', '::1', 10011)),
    ('/run/smfs/bare.sock', ('unix', '/run/smfs/bare.sock', 0)),
    (':/run/smfs/colon.sock', ('unix', '/run/smfs/colon.sock', 0)),
    ('UNIX:/run/x.sock', ('unix', '/run/x.sock', 0)),
    ('inet:smtp@127.0.0.1', ('inet', '127.0.0.1', 25)),
    ('inet:10011@localhost', ('inet', 'localhost', 10011)),
    ('inet:10011@[127.0.0.1]', ('inet', '127.0.0.1', 10011)),
    ('inet6:10011@[2001:DB8::1]', ('inet6', '2001:db8::1', 10011)),
    ('inet6:10011', ('inet6', '::', 10011)),
])
def test_socket_forms(text, expected):
    spec = parse('Socket %s' % text).config.socket
    assert (spec.family, spec.address, spec.port) == expected and spec.text == text


@pytest.mark.parametrize('text', ['inet:10011', 'inet6:10011', 'inet:10011@0.0.0.0'])
def test_socket_on_every_interface_warns(text):
    loaded = parse('Socket %s' % text)
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, WARNING)]
    assert 'every interface' in loaded.problems[0].reason and not loaded.errors


def test_socket_port_read_as_libmilter_reads_it():
    loaded = parse('Socket inet:10011x@127.0.0.1')
    assert loaded.config.socket.port == 10011
    assert [p.severity for p in loaded.problems] == [WARNING]


@pytest.mark.parametrize('text', ['tcp:1@x', 'inet:0@127.0.0.1', 'inet:70000@127.0.0.1',
                                  'inet:no-such-service@127.0.0.1', 'unix:', 'inet:1@',
                                  'inet:1@[127.0.0.1', 'inet:1@[::1]', 'inet6:1@[127.0.0.1]',
                                  'unix:/' + 'x' * 110])
def test_unusable_socket_is_fatal(text):
    loaded = parse('Socket %s' % text)
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, FATAL)]
    assert loaded.fatal


def test_ipv4_mapped_nat_source_and_fixed_ip_are_stored_as_ipv4():
    # the milter compares unwrapped client addresses, so the config is written the same way
    c = parse('ClientIPNAT [::ffff:10.1.1.1]:192.0.2.1', 'FixedClientIP ::ffff:192.0.2.9').config
    assert c.client_ip_nat == {'10.1.1.1': '192.0.2.1'}
    assert c.fixed_client_ip == '192.0.2.9'


def test_ipv6_nat_and_nameservers():
    c = parse('ClientIPNAT [2001:DB8::1]:[2001:db8::2]', 'ClientIPNAT [fd00::5]:192.0.2.1',
              'Nameservers 127.0.0.1, ::1', 'SPFTimeout 7.5', 'CacheSize 1000').config
    assert c.client_ip_nat == {'2001:db8::1': '2001:db8::2', 'fd00::5': '192.0.2.1'}
    assert c.nameservers == ('127.0.0.1', '::1')
    assert c.spf_timeout == 7.5 and c.cache_size == 1000


def test_spf_timeout_not_below_mta_timeout_warns():
    loaded = parse('SPFTimeout 45')
    assert [p.severity for p in loaded.problems] == [WARNING]
    assert loaded.config.spf_timeout == 45


@pytest.mark.parametrize('seconds,warned', [('25', False), ('25.5', True), ('29', True),
                                            ('20', False)])
def test_spf_timeout_needs_5_s_margin_below_postfix_30_s(seconds, warned):
    loaded = parse('# c', 'SPFTimeout ' + seconds)
    problems = [(p.line, p.severity) for p in loaded.problems]
    assert problems == ([(2, WARNING)] if warned else [])
    if warned:
        assert 'milter_command_timeout' in loaded.problems[0].reason


@pytest.mark.parametrize('seconds,wait,postfix,sendmail', [
    # the default: Postfix's 30 s will do, Sendmail's 10 s will not
    (20, '25s', 'milter_command_timeout = 30s (the default) will do',
     'INPUT_MAIL_FILTER T=R:30s (the default, 10s, is too short)'),
    (5, '10s', 'milter_command_timeout = 30s (the default) will do',
     'INPUT_MAIL_FILTER T=R:10s (the default) will do'),
    (28, '33s', 'milter_command_timeout = 40s (the default, 30s, is too short)',
     'INPUT_MAIL_FILTER T=R:40s (the default, 10s, is too short)'),
    (2.5, '7.5s', 'milter_command_timeout = 30s (the default) will do',
     'INPUT_MAIL_FILTER T=R:10s (the default) will do'),
])
def test_mta_timeout_rule_names_both_mtas_settings(seconds, wait, postfix, sendmail):
    """An MTA that stops waiting lets the message through unchecked: the rule says how
    long each must wait for this SPFTimeout, and what to set where the default is short."""
    rule = config.mta_timeout_rule(seconds)
    assert rule == ('SPFTimeout %gs: MAIL FROM is answered within it, so the MTA must wait '
                    'at least %s for the milter: Postfix: %s; Sendmail: %s; see '
                    'docs/sendmail.md' % (seconds, wait, postfix, sendmail))


def test_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(config.ConfigFileError) as info:
        config.load(str(tmp_path / 'nope.conf'))
    assert 'nope.conf' in str(info.value)


def test_large_whitelists_load(tmp_path):
    lines = ['WhitelistIP 10.%d.%d.0/24' % (i // 256, i % 256) for i in range(20000)]
    lines += ['WhitelistFrom user%d@example.org' % i for i in range(20000)]
    c = parse(*lines).config
    assert len(c.whitelist_ip) == 20000 and '10.78.31.7' in c.whitelist_ip
    assert c.whitelist_from.matches('USER19999', 'example.org')
    assert not c.whitelist_from.matches('user20000', 'example.org')


# -- addresses as smf-spf read them (inet_addr/atoi): warned about, never dropped ------------

@pytest.mark.parametrize('line,inside,outside', [
    ('WhitelistIP 192.168.1.10 printer', ['192.168.1.10'], ['192.168.1.11']),
    ('WhitelistIP 10.0.0.0/8 office LAN', ['10.200.1.1'], ['11.0.0.1']),
    ('WhitelistIP 10.1.2.3/33', ['10.1.2.3'], ['10.1.2.4']),          # clamped to /32
    ('WhitelistIP 10.1.2.0/ 24', ['10.1.2.99'], ['10.1.3.1']),       # atoi skips blanks
    ('WhitelistIP 10.1.2.0/-1', ['10.1.2.0'], ['10.1.2.1']),         # 65535 in C: /32
    ('WhitelistIP 10.1.2.0/24abc', ['10.1.2.9'], ['10.1.3.9']),
    ('WhitelistIP 192.168.001.010', ['192.168.1.8'], ['192.168.1.10']),   # octal, as C
    ('WhitelistIP 2001:db8::/129', ['2001:db8::'], ['2001:db8::1']),   # ours: clamped too
])
def test_whitelist_ip_lines_c_honoured_still_whitelist(line, inside, outside):
    loaded = parse(line)
    assert loaded.errors == []
    assert len(loaded.config.whitelist_ip) == 1
    for address in inside:
        assert address in loaded.config.whitelist_ip
    for address in outside:
        assert address not in loaded.config.whitelist_ip
    remarks = loaded.problems + loaded.compat
    assert remarks and all(p.line == 1 for p in remarks)
    assert all(str(p).startswith('test.conf:1: ') for p in remarks)


def test_whitelist_ip_mask_that_is_no_number_whitelists_everything_as_in_c_and_says_so():
    loaded = parse('WhitelistIP 10.0.0.0/abc')
    assert '198.51.100.1' in loaded.config.whitelist_ip
    assert '2001:db8::1' not in loaded.config.whitelist_ip
    warning, = loaded.problems
    assert warning.severity == WARNING and 'EVERY IPv4 address' in warning.reason


def test_plain_whitelist_lines_raise_no_remark():
    loaded = parse('WhitelistIP 10.0.0.0/8', 'WhitelistIP 192.0.2.1', 'WhitelistIP 0.0.0.0/0')
    assert loaded.problems == () and loaded.compat == ()


def test_trailing_words_are_a_compat_remark_naming_the_versions():
    loaded = parse('WhitelistIP 192.168.1.10 printer')
    remark, = loaded.compat
    assert remark.severity == config.COMPAT and remark.line == 1
    assert "'printer'" in remark.reason and '2.5.1' in remark.reason


def test_ipv6_whitelist_is_ours_and_checks_clean():
    # C ignored IPv6 lines; docs/migrating.md says they count here; the shipped config has ::1
    loaded = parse('WhitelistIP 2001:db8::/32', 'WhitelistIP ::1')
    assert loaded.problems == () and loaded.compat == ()
    assert '2001:db8::5' in loaded.config.whitelist_ip


def test_bundled_default_config_has_no_compat_remark():
    assert config.load(os.path.join(ROOT, 'conf', 'smf-spf.conf')).compat == ()


def test_nat_and_fixed_ip_take_the_first_word_and_octal_as_c():
    loaded = parse('ClientIPNAT 10.0.0.1:192.0.2.1 gw', 'FixedClientIP 192.0.2.9 outbound',
                   'ClientIPNAT 010.0.0.2:192.0.2.2')
    assert loaded.config.client_ip_nat == {'10.0.0.1': '192.0.2.1', '8.0.0.2': '192.0.2.2'}
    assert loaded.config.fixed_client_ip == '192.0.2.9'
    assert [p.line for p in loaded.compat] == [1, 2]
    assert [(p.line, p.severity) for p in loaded.problems] == [(3, WARNING)]


# -- RefuseSPFNone under the best guess, and the compatibility list ---------------------------

@pytest.mark.parametrize('key', ['RefuseSPFNone', 'RefuseSPFNoneHelo'])
def test_refuse_none_with_best_guess_on_is_a_compat_remark(key):
    loaded = parse('# x', '%s on' % key)
    assert loaded.problems == ()
    remark, = loaded.compat
    assert remark.line == 2 and 'SPFBestGuess off' in remark.reason
    assert parse('%s on' % key, 'SPFBestGuess off').compat == ()


def test_compat_lines_are_not_errors():
    loaded = parse('WhitelistIP 192.168.1.10 printer', 'RefuseSPFNone on')
    assert loaded.errors == [] and loaded.fatal == [] and len(loaded.compat) == 2


def test_howto_config_has_nothing_that_differs_from_c():
    loaded = config.load(os.path.join(DATA, 'howto-2.0.4.conf'))
    assert loaded.compat == ()


def test_odd_field_config_decides_as_c_did():
    loaded = config.load(os.path.join(DATA, 'odd-lines-2.x.conf'))
    c = loaded.config
    assert loaded.errors == []
    for address in ('127.0.0.1', '10.1.2.3', '192.168.1.10', '192.168.2.0', '172.16.5.1'):
        assert address in c.whitelist_ip, address
    for address in ('192.168.1.11', '192.168.2.1', '172.16.5.2', '11.0.0.1'):
        assert address not in c.whitelist_ip, address
    assert c.client_ip_nat == {'10.9.9.9': '198.51.100.9'}
    assert c.refuse_fail is False and c.refuse_spf_none is True and c.tag == '[SPF:FAIL]'
    assert c.socket.address == '0.0.0.0' and c.socket.port == 10011
    warned = dict((p.line, p.reason) for p in loaded.problems)
    assert sorted(warned) == [3, 5, 10, 13, 14]
    assert 'line 8 (off) takes effect' in warned[10]
    assert 'line 13 ([SPF:FAIL]) takes effect' in warned[13]
    assert 'every interface' in warned[14]
    assert [p.line for p in loaded.compat] == [4, 6, 7, 11]


def test_words_after_an_address_and_before_a_mask_leave_a_host_entry():
    loaded = parse('WhitelistIP 172.16.5.1 /24')
    assert '172.16.5.1' in loaded.config.whitelist_ip
    assert '172.16.5.2' not in loaded.config.whitelist_ip
    assert [p.line for p in loaded.compat] == [1]


def test_nat_source_twice_last_wins_with_a_warning():
    loaded = parse('ClientIPNAT 10.0.0.1:192.0.2.1', 'ClientIPNAT 10.0.0.1:192.0.2.2',
                   'ClientIPNAT 10.0.0.3:192.0.2.3', 'ClientIPNAT 10.0.0.3:192.0.2.3')
    assert loaded.config.client_ip_nat == {'10.0.0.1': '192.0.2.2', '10.0.0.3': '192.0.2.3'}
    warning, = loaded.problems
    assert (warning.line, warning.severity) == (2, WARNING)
    assert 'line 1: 192.0.2.1, line 2: 192.0.2.2' in warning.reason


@pytest.mark.parametrize('line', ['Tag [SPF: fail]', 'QuarantineBox spam box',
                                  'RejectReason Go away %s', 'AuthservID mx example'])
def test_multi_word_values_are_whole_with_a_compat_remark(line):
    loaded = parse(line)
    assert loaded.problems == ()
    remark, = loaded.compat
    assert remark.line == 1 and 'up to 2.5.0 used only the first word' in remark.reason


# -- MetricsListen ------------------------------------------------------------------

@pytest.mark.parametrize('value, host, port', [
    ('127.0.0.1:9101', '127.0.0.1', 9101),
    ('[::1]:9101', '::1', 9101),
    ('0.0.0.0:9101', '0.0.0.0', 9101),
])
def test_metrics_listen(value, host, port):
    loaded = config.parse_lines(['MetricsListen %s' % value], 'f')
    assert loaded.config.metrics_listen == (host, port, value)


def test_metrics_listen_is_off_by_default():
    assert config.parse_lines([], 'f').config.metrics_listen is None


@pytest.mark.parametrize('value', ['localhost:9101', '::1:9101', '127.0.0.1', '127.0.0.1:0',
                                   '127.0.0.1:70000', '[::1]9101', '[::1]:x'])
def test_bad_metrics_listen_is_an_error_with_its_line(value):
    loaded = config.parse_lines(['TTL 60', 'MetricsListen %s' % value], 'f')
    assert loaded.config.metrics_listen is None
    assert [(p.line, p.severity) for p in loaded.problems] == [(2, 'error')]


def test_metrics_listen_off_loopback_is_a_warning():
    loaded = config.parse_lines(['MetricsListen 192.0.2.1:9101'], 'f')
    assert loaded.config.metrics_listen.host == '192.0.2.1'
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, 'warning')]
    assert 'not a loopback address' in loaded.problems[0].reason


def test_list_entries_keep_the_accepted_lines_as_written():
    loaded = config.parse_lines(['WhitelistIP 10.0.0.0/8', 'WhitelistIP nonsense',
                          'WhitelistPTR .Example.COM', 'ClientIPNAT 10.0.0.1:192.0.2.1',
                          'ClientIPNAT bad'], 'f')
    entries = loaded.config.list_entries
    assert entries['WhitelistIP'] == ('10.0.0.0/8',)
    assert entries['WhitelistPTR'] == ('.Example.COM',)
    assert entries['ClientIPNAT'] == ('10.0.0.1:192.0.2.1',)
    assert entries['WhitelistFrom'] == () and entries['WhitelistTo'] == ()


def test_every_config_field_has_its_key():
    assert set(config.FIELD_KEYS) == set(config.Config._fields) - {'list_entries'}


def test_every_config_field_is_one_rows_of_the_key_table():
    fields = [row.field for row in config.KEY_TABLE]
    assert sorted(fields) == sorted(set(config.Config._fields) - {'list_entries'})
    assert len({row.name.lower() for row in config.KEY_TABLE}) == len(config.KEY_TABLE)


@pytest.mark.parametrize('row', config.KEY_TABLE, ids=lambda row: row.name)
def test_every_row_of_the_key_table_is_a_key_the_parser_knows(row):
    # any value: an unknown key is a warning naming the key, a known one never is
    loaded = config.parse_lines(['%s x' % row.name], 'f')
    assert not [p for p in loaded.problems if 'unknown key' in p.reason]
    assert (row.name.lower() in config._LIST_FIELDS) == (row.parser is config.LIST)
    assert config.FIELD_KEYS[row.field] == row.name


def test_a_key_without_a_table_row_is_unknown():
    loaded = config.parse_lines(['NoSuchKey on'], 'f')
    assert [p.reason for p in loaded.problems] == ["unknown key 'NoSuchKey', line ignored"]


def test_reload_and_the_man_page_use_the_key_tables_sets():
    from smf_spf import reload as reloading
    for name, flag in (('RESTART_ONLY', config.RESTART), ('CACHE_DEPENDS_ON', config.CACHE),
                       ('RESOLVER_DEPENDS_ON', config.RESOLVER)):
        assert getattr(reloading, name) == tuple(
            row.field for row in config.KEY_TABLE if flag in row.reload), name
    assert reloading.LIST_FIELDS == tuple(
        row.field for row in config.KEY_TABLE
        if row.parser is config.LIST and config.WORDS not in row.reload)


def test_the_config_holds_no_mutable_default():
    for field in config.Config._fields:
        assert not isinstance(getattr(config.Config(), field), (dict, list, set)), field


def test_spf_void_limit():
    assert parse().config.spf_void_limit == 2 == config.DEFAULT_VOID_LIMIT
    assert parse('SPFVoidLimit 5').config.spf_void_limit == 5
    loaded = parse('SPFVoidLimit two', 'spfvoidlimit -1')
    assert loaded.config.spf_void_limit == 2
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, 'error'), (2, 'error')]
