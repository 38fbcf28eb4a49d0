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


def test_howto_config_loads_without_problems():
    loaded = config.load(os.path.join(DATA, 'howto-2.0.4.conf'))
    assert loaded.problems == ()
    c = loaded.config
    assert c.socket == config.SocketSpec('inet', '192.168.0.70', 10011, 'inet:10011@192.168.0.70')
    assert '127.0.0.1' in c.whitelist_ip and '192.168.2.9' in c.whitelist_ip
    assert '10.0.0.1' not in c.whitelist_ip and '192.168.3.1' not in c.whitelist_ip
    assert c.refuse_fail is True     # "# default: RefuseFail off" is a comment


def test_sample_25_config_sets_every_key():
    loaded = config.load(os.path.join(DATA, 'sample-2.5.conf'))
    assert loaded.problems == ()
    c = loaded.config
    assert c.whitelist_ptr.matches('mx.EXAMPLE.net') and c.whitelist_ptr.matches('a.example.com')
    assert c.whitelist_from.matches('friend@x.tld') and c.whitelist_to.matches('postmaster@x')
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
    assert bad == [(8, ERROR), (10, ERROR), (11, ERROR), (12, ERROR)]
    assert all('ClientIPNAT' in p.reason and 'line ignored' in p.reason for p in loaded.problems)
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
    assert c.whitelist_from.matches('friend@example.org')
    assert c.tag == '[SPF: bad]'
    assert c.reject_reason.render('a@b', 'ip', 'mx') == 'Go away a@b'


@pytest.mark.parametrize('value,seconds', [('3600', 3600), ('60s', 60), ('60m', 3600),
                                           ('1h', 3600), ('1D', 86400), ('2d', 172800),
                                           ('0', 0)])
def test_ttl_units(value, seconds):
    assert parse('TTL %s' % value).config.ttl == seconds


@pytest.mark.parametrize('line', ['TTL abc', 'TTL -5', 'TTL 1w', 'SoftFail yes', 'Syslog kern',
                                  'FixedClientIP 1.2.3', 'WhitelistIP 10.0.0.0/33',
                                  'WhitelistIP 2001:db8::/129', 'ClientIPNAT 1.2.3.4:',
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


@pytest.mark.parametrize('key,field', [('SkipNDR', 'skip_ndr'), ('SkipAuth', 'skip_auth'),
                                       ('RefuseFail', 'refuse_fail'), ('TagSubject', 'tag_subject'),
                                       ('Daemonize', 'daemonize'), ('Quarantine', 'quarantine')])
def test_booleans_take_on_and_off_last_wins(key, field):
    assert getattr(parse('%s on' % key, '%s OFF' % key).config, field) is False
    assert getattr(parse('%s off' % key, '%s On' % key).config, field) is True


@pytest.mark.parametrize('text,expected', [
    ('unix:/run/smfs/smf-spf.sock', ('unix', '/run/smfs/smf-spf.sock', 0)),
    ('local:/tmp/x.sock', ('unix', '/tmp/x.sock', 0)),
    ('inet:10011@127.0.0.1', ('inet', '127.0.0.1', 10011)),
    ('inet:10011', ('inet', '0.0.0.0', 10011)),
    ('inet6:10011@::1', ('inet6', '::1', 10011)),
    ('inet6:10011@[::1]', ('inet6', '::1', 10011)),
])
def test_socket_forms(text, expected):
    spec = parse('Socket %s' % text).config.socket
    assert (spec.family, spec.address, spec.port) == expected and spec.text == text


@pytest.mark.parametrize('text', ['tcp:1@x', 'inet:0@127.0.0.1', 'inet:70000@127.0.0.1',
                                  'inet:abc@127.0.0.1', 'unix:', 'nonsense'])
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


def test_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(config.ConfigFileError) as info:
        config.load(str(tmp_path / 'nope.conf'))
    assert 'nope.conf' in str(info.value)


def test_large_whitelists_load(tmp_path):
    lines = ['WhitelistIP 10.%d.%d.0/24' % (i // 256, i % 256) for i in range(20000)]
    lines += ['WhitelistFrom user%d@example.org' % i for i in range(20000)]
    c = parse(*lines).config
    assert len(c.whitelist_ip) == 20000 and '10.78.31.7' in c.whitelist_ip
    assert c.whitelist_from.matches('<USER19999@example.org>')


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
