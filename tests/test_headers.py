"""The emitter: what we write is read back, by independent parsers, as exactly what we meant.

Authentication-Results is read by the `authres` package (RFC 8601); Received-SPF by a
small parser written here from RFC 7208 section 9.1's ABNF; reply lines by RFC 5321's
textstring rule. HELO, sender and local part are arbitrary text, including bytes that are
not UTF-8 (surrogate-escaped, as pymilter 1.0.5 hands them over).
"""

import base64
import re

import authres
import pytest
from hypothesis import given, settings, strategies as st

from smf_spf import headers
from smf_spf.c_rules import RESULTS

AUTHSERV_ID = 'mx.receiver.test'
EMITTER = settings(max_examples=300, deadline=None)

# -- strategies -------------------------------------------------------------------

_NASTY = ' ;=()"\\<>@.[]:,\t\r\n\x00%'
raw_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list(_NASTY) + list('abcXYZ09-_'))),
    st.binary().map(lambda b: b.decode('utf-8', 'surrogateescape')),
)
label = st.from_regex(r'\A[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\Z')
host_name = st.lists(label, min_size=1, max_size=4).map('.'.join)
helo = st.one_of(host_name, raw_text,
                 st.ip_addresses(v=4).map(lambda a: '[%s]' % a),
                 st.ip_addresses(v=6).map(lambda a: '[IPv6:%s]' % a),
                 st.builds(lambda h, tail: h + tail, host_name, raw_text))
local_part = st.one_of(st.from_regex(r'\A[a-z0-9.+_-]{1,20}\Z'), raw_text,
                       raw_text.map(lambda t: '"%s"' % t))
# an identity as smf_spf.mailbox reads it: (local part, domain); the domain may hold
# anything a HELO can (an empty sender's identity is postmaster@<HELO>)
identity = st.one_of(
    st.tuples(local_part, host_name),
    st.tuples(local_part, raw_text),
    helo.map(lambda h: ('postmaster', h)),
)


def _ar(value):
    return authres.AuthenticationResultsHeader.parse('Authentication-Results: ' + value)


def _unescape(text):
    return re.sub(r'\\(.)', r'\1', text, flags=re.S)


def _read_pvalue(value):
    """What authres returned, as the address it stands for (quotes and quoted-pairs off)."""
    if re.match(r'"((?:[^"\\]|\\.)*)"(@.*)\Z', value, re.S):
        return value, True         # a quoted local part: compared by its content below
    return _unescape(value), False


def _is_ascii_printable(text):
    return re.match(r'[\t\x20-\x7e]*\Z', text) is not None


def _strip_quotes(local):
    """A local part given quoted ("a;b") and the same quoted by us compare equal."""
    if re.match(r'"((?:[^"\\]|\\.)*)"\Z', local, re.S):
        return _unescape(local[1:-1])
    return local


# -- Authentication-Results -----------------------------------------------------------

@EMITTER
@given(result=st.sampled_from(RESULTS), identity=identity, helo=helo)
def test_authres_reads_one_spf_resinfo_with_the_true_result_and_sender(result, identity, helo):
    value = headers.authentication_results(AUTHSERV_ID, result, identity, helo)
    local, domain = identity
    sender = '%s@%s' % identity
    value.encode('utf-8')                        # what pymilter's "s" format demands
    assert '\n' not in value and '\r' not in value
    parsed = _ar(value)
    assert parsed.authserv_id == AUTHSERV_ID
    assert [(r.method, r.result) for r in parsed.results] == [('spf', result)]
    props = {(p.type, p.name): p.value for p in parsed.results[0].properties}
    assert set(props) <= {('smtp', 'mailfrom'), ('smtp', 'helo')}
    assert len(parsed.results[0].properties) == len(props)
    if ('smtp', 'mailfrom') in props:
        read, quoted_local = _read_pvalue(props[('smtp', 'mailfrom')])
        if quoted_local:
            read_local, _, read_domain = read.rpartition('@')
            assert read_domain == domain
            assert _strip_quotes(read_local) == _strip_quotes(local)
        elif read != sender:
            # only the local part could not be written: the domain is the true one
            assert read == '@' + domain
            assert not _is_ascii_printable(local) or _strip_quotes(local) == ''
    else:
        # not representable, or the HELO identity of a HELO that is no domain name (no
        # address a reader could take for a sender of the domain after its last '@')
        assert not _is_ascii_printable(sender) or identity == ('postmaster', helo)
    if ('smtp', 'helo') in props:
        assert _unescape(props[('smtp', 'helo')]) == helo
        assert headers.is_helo_name(helo)
    else:
        # no HELO name, or an address literal yielding its place to a quoted smtp.mailfrom
        assert not headers.is_helo_name(helo) or (
            helo.startswith('[') and _unescape(props[('smtp', 'mailfrom')]) == sender)


@EMITTER
@given(host=host_name)
def test_every_host_name_is_a_helo_name(host):
    assert headers.is_helo_name(host)


@pytest.mark.parametrize('identity,helo,expected', [
    # C 2.5.x layout for ordinary values
    (('alice', 'sender.example'), 'mx.sender.example',
     'mx; spf=softfail smtp.mailfrom=alice@sender.example smtp.helo=mx.sender.example'),
    # the injection: a multi-word HELO, as Postfix joins it
    (('a', 'soft.example'), 'x; spf=pass smtp.mailfrom=ceo@bank.example',
     'mx; spf=softfail smtp.mailfrom=a@soft.example'),
    # an empty sender's identity for a HELO that is no domain name: no smtp.mailfrom
    # (a reader would take `postmaster@x@victim.example` for victim.example's)
    (('postmaster', 'x; spf=pass'), 'x; spf=pass', 'mx; spf=softfail'),
    (('postmaster', 'x@victim.example'), 'x@victim.example', 'mx; spf=softfail'),
    (('postmaster', '[192.0.2.1]'), '[192.0.2.1]', 'mx; spf=softfail smtp.helo="[192.0.2.1]"'),
    (('"a;spf=pass"', 'example'), 'h.example',
     'mx; spf=softfail smtp.mailfrom="a;spf=pass"@example smtp.helo=h.example'),
    (('a;spf=pass', 'example.com'), 'h.example',
     'mx; spf=softfail smtp.mailfrom="a;spf=pass"@example.com smtp.helo=h.example'),
    # a quoted local part with '@' in it: the domain checked is the one after the quotes
    (('"ceo@x"', 'victim.example'), 'h.example',
     'mx; spf=softfail smtp.mailfrom="ceo@x"@victim.example smtp.helo=h.example'),
    (('caf\udce9', 'example.com'), '[192.0.2.1]',
     'mx; spf=softfail smtp.mailfrom=@example.com smtp.helo="[192.0.2.1]"'),
    (('a', 'b.example'), 'helo\udcff.example', 'mx; spf=softfail smtp.mailfrom=a@b.example'),
])
def test_authentication_results_examples(identity, helo, expected):
    value = headers.authentication_results('mx', 'softfail', identity, helo)
    assert value == expected
    assert [(r.method, r.result) for r in _ar(value).results] == [('spf', 'softfail')]


def test_authserv_id_that_is_no_token_is_quoted():
    assert headers.authentication_results('mx one', 'pass', ('a', 'b.c'), 'h').startswith(
        '"mx one"; spf=pass')


# -- authserv-id of incoming fields -------------------------------------------------------

@pytest.mark.parametrize('value,claimed', [
    ('mx.receiver.test; spf=pass', {'mx.receiver.test'}),
    ('  MX.Receiver.Test ; spf=pass', {'MX.Receiver.Test'}),
    ('(comment (nested)) mx.receiver.test; spf=pass', {'mx.receiver.test'}),
    ('\n\tmx.receiver.test 1; dkim=pass', {'mx.receiver.test'}),
    ('"mx.receiver.test"; spf=pass', {'mx.receiver.test'}),
    ('mx.receiver.test(c); spf=pass', {'mx.receiver.test'}),
    ('other.example; spf=pass smtp.mailfrom=mx.receiver.test', {'other.example'}),
    ('', set()),
    ('(unclosed', set()),
])
def test_authserv_ids_claimed(value, claimed):
    assert headers.authserv_ids_claimed(value) == claimed


@EMITTER
@given(result=st.sampled_from(RESULTS), identity=identity, helo=helo)
def test_our_own_field_claims_our_id(result, identity, helo):
    value = headers.authentication_results(AUTHSERV_ID, result, identity, helo)
    assert AUTHSERV_ID in headers.authserv_ids_claimed(value)


@EMITTER
@given(raw_text)
def test_authserv_ids_claimed_never_raises(value):
    headers.authserv_ids_claimed(value)


# -- Received-SPF: a parser from RFC 7208 section 9.1 -----------------------------------

class ReceivedSpf(object):
    """header-field = "Received-SPF:" [CFWS] result FWS [comment FWS] [key-value-list] CRLF
    key-value-list = key-value-pair *( ";" [CFWS] key-value-pair ) [";"]
    key-value-pair = key [CFWS] "=" ( dot-atom / quoted-string )"""

    ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
    WSP = re.compile(r'(?:\r?\n)?[ \t]+')

    def __init__(self, text):
        self.text = text
        self.at = 0

    def fail(self, what):
        raise ValueError('%s at %d: %r' % (what, self.at, self.text[self.at:self.at + 30]))

    def fws(self, required=False):
        start = self.at
        while True:
            match = self.WSP.match(self.text, self.at)
            if not match or not match.group(0):
                break
            self.at = match.end()
        if required and self.at == start:
            self.fail('FWS expected')

    def comment(self):
        if self.text[self.at] != '(':
            self.fail('comment expected')
        depth, out = 0, []
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == '\\':
                out.append(self.text[self.at + 1])
                self.at += 2
                continue
            self.at += 1
            if char == '(':
                depth += 1
                if depth == 1:
                    continue
            elif char == ')':
                depth -= 1
                if depth == 0:
                    return ''.join(out)
            elif ord(char) < 32 and char not in '\t\r\n' or char == '\x7f':
                self.fail('control character in comment')
            out.append(char)
        self.fail('unterminated comment')

    def cfws(self):
        while True:
            self.fws()
            if self.at < len(self.text) and self.text[self.at] == '(':
                self.comment()
            else:
                return

    def value(self):
        if self.text[self.at:self.at + 1] == '"':
            match = re.compile(r'"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e])*)"').match(
                self.text, self.at)
            if not match:
                self.fail('bad quoted-string')
            self.at = match.end()
            return _unescape(match.group(1))
        match = re.compile(r'%s+(?:\.%s+)*' % (self.ATEXT, self.ATEXT)).match(self.text, self.at)
        if not match:
            self.fail('dot-atom or quoted-string expected')
        self.at = match.end()
        return match.group(0)

    def parse(self):
        self.cfws()
        match = re.compile(r'(pass|fail|softfail|neutral|none|temperror|permerror)\b',
                           re.I).match(self.text, self.at)
        if not match:
            self.fail('result expected')
        self.at = match.end()
        result, comment, pairs = match.group(1).lower(), None, []
        self.fws(required=True)
        if self.text[self.at:self.at + 1] == '(':
            comment = self.comment()
            self.fws(required=True)
        while self.at < len(self.text):
            key = re.compile(r'[A-Za-z][A-Za-z0-9_.-]*').match(self.text, self.at)
            if not key:
                self.fail('key expected')
            self.at = key.end()
            self.cfws()
            if self.text[self.at:self.at + 1] != '=':
                self.fail('= expected')
            self.at += 1
            pairs.append((key.group(0), self.value()))
            if self.text[self.at:self.at + 1] == ';':
                self.at += 1
                self.cfws()
            elif self.at < len(self.text):
                self.fail('; expected')
        return result, comment, pairs


@EMITTER
@given(result=st.sampled_from(RESULTS), local=local_part, domain=st.one_of(host_name, raw_text),
       helo=helo, ip=st.one_of(st.ip_addresses().map(str), raw_text))
def test_received_spf_parses_to_exactly_the_true_pairs(result, local, domain, helo, ip):
    address = '%s@%s' % (local, domain)
    value = headers.received_spf(result, 'mx.receiver.test', address.lower(), ip, 'mailfrom',
                                 '<%s>' % address, helo)
    value.encode('utf-8')
    parsed_result, comment, pairs = ReceivedSpf(value).parse()
    assert parsed_result == result
    assert comment is not None
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys))
    pairs = dict(pairs)
    assert pairs['receiver'] == 'mx.receiver.test'
    assert pairs['identity'] == 'mailfrom'
    for key, true in (('envelope-from', address), ('helo', helo), ('client-ip', ip)):
        if key in pairs:
            assert pairs[key] == true
        else:
            assert not headers.representable(true)
    # nothing breaks out of the comment: the folded layout ends in the key-value list
    assert value.split('\n')[-1].startswith('\tenvelope-from=') or 'envelope-from' not in pairs


def test_received_spf_keeps_c_layout_and_quotes_ipv6():
    value = headers.received_spf('pass', 'mx.r.test', 'a@b.example', '2001:db8::1', 'mailfrom',
                                 '<a@b.example>', 'x; helo=forged.example')
    assert value == ('Pass (mx.r.test: domain of a@b.example\n\tdesignates 2001:db8::1 as '
                     'permitted sender)\n\treceiver=mx.r.test; client-ip="2001:db8::1"; '
                     'identity=mailfrom;\n\tenvelope-from="a@b.example"; '
                     'helo="x; helo=forged.example";')


def test_received_spf_comment_cannot_be_closed_by_the_sender():
    value = headers.received_spf('fail', 'mx.r.test', 'a)b@x.example', '192.0.2.1', 'mailfrom',
                                 '<a)b@x.example>', 'h.example')
    result, comment, pairs = ReceivedSpf(value).parse()
    assert 'a)b@x.example' in comment
    assert dict(pairs)['envelope-from'] == 'a)b@x.example'


def test_received_spf_empty_sender_is_empty_quoted_string():
    value = headers.received_spf('pass', 'mx', 'postmaster@h.example', '192.0.2.1', 'helo',
                                 '<>', 'h.example')
    assert dict(ReceivedSpf(value).parse()[2])['envelope-from'] == ''


# -- Subject tag ---------------------------------------------------------------------

def _decode_words(value, tag):
    assert value.startswith(tag + ' ')
    words = value[len(tag) + 1:].split('\n\t')
    raw = b''
    for word in words:
        match = re.match(r'=\?unknown-8bit\?b\?([A-Za-z0-9+/=]*)\?=\Z', word)
        assert match and len(word) <= 75
        raw += base64.b64decode(match.group(1))
    return raw


@EMITTER
@given(st.binary(min_size=1))
def test_tagged_subject_keeps_every_byte(raw):
    subject = raw.decode('utf-8', 'surrogateescape')
    value = headers.tagged_subject('[SPF:fail]', subject)
    value.encode('utf-8')
    try:
        raw.decode('utf-8')
    except UnicodeDecodeError:
        assert _decode_words(value, '[SPF:fail]') == raw
    else:
        assert value == '[SPF:fail] ' + subject


# -- SMTP replies ---------------------------------------------------------------------

_TEXTSTRING = re.compile(r'[\t\x20-\x7e]+\Z')


@EMITTER
@given(code=st.sampled_from([('550', '5.7.23'), ('451', '4.4.3'), ('450', '4.1.7')]),
       text=st.one_of(raw_text, st.text(min_size=600)))
def test_reply_is_one_rfc5321_line_within_512_octets(code, text):
    reply = headers.reply_text(code[0], code[1], text + 'x')
    # pymilter's own check (a lone % raises) and libmilter's un-doubling
    assert 1 not in [len(m) & 1 for m in re.findall(r'%+', reply)]
    sent = reply.replace('%%', '%')
    line = '%s %s %s\r\n' % (code[0], code[1], sent)
    assert len(line.encode('ascii')) <= headers.MAX_REPLY_LINE
    assert _TEXTSTRING.match(sent)


def test_reply_keeps_ordinary_text():
    assert headers.reply_text('550', '5.7.1', 'Sorry a@b.example, 100% no.') == \
        'Sorry a@b.example, 100%% no.'


@pytest.mark.parametrize('explanation,reason', [
    ('DNS Timeout', 'DNS timeout'),
    ('The DNS operation timed out after 5.0 seconds', 'DNS timeout'),
    ('All nameservers failed to answer the query example.com. IN TXT: Server 192.0.2.53 '
     'UDP port 53 answered SERVFAIL', 'DNS lookup failed'),
    ('internal error: TypeError', 'internal error'),
    ('', 'DNS lookup failed'),
])
def test_temperror_reasons_come_from_a_fixed_set(explanation, reason):
    assert headers.temperror_reason(explanation) == reason
    assert reason in headers.TEMPERROR_REASONS


@EMITTER
@given(raw_text)
def test_original_recipient_is_written_or_encoded_never_lost(rcpt):
    value = headers.original_recipient(rcpt)
    value.encode('utf-8')
    if value != rcpt:
        raw = b''
        for word in value.split('\n\t'):
            raw += base64.b64decode(re.match(r'=\?unknown-8bit\?b\?(.*)\?=\Z', word).group(1))
        assert raw == rcpt.encode('utf-8', 'surrogateescape')
    else:
        assert headers.representable(rcpt)


@pytest.mark.parametrize('helo', ['[IPv6:fe80::1%\x01x]', '[IPv6:fe80::1%eth0]',
                                  '[IPv6:fe80::1%\r\nX-Forged: 1]', '[1.2.3.04]', '[1.2.3.4\x00]'])
def test_address_literal_is_read_as_inet_pton_reads_it_on_every_interpreter(helo):
    """ipaddress takes a scope ID from 3.9 on (any text after %, control characters
    included) and 3.6 took leading zeros: neither may reach smtp.helo."""
    assert not headers.is_helo_name(helo)
    value = headers.authentication_results('mx.receiver.test', 'pass', ('a', 'example.com'), helo)
    assert 'smtp.helo' not in value
    assert headers.authentication_results('mx.receiver.test', 'pass', ('a', 'example.com'), helo,
                                          helo_check=('pass', helo)) == value


def test_address_literals_inet_pton_reads_are_helo_names():
    for helo in ('[192.0.2.1]', '[IPv6:2001:db8::1]', '[ipv6:::1]', '[IPv6:::ffff:192.0.2.1]'):
        assert headers.is_helo_name(helo)
    assert not headers.is_helo_name('[IPv6:192.0.2.1]')
    assert not headers.is_helo_name('[2001:db8::1]')


# -- angle brackets ------------------------------------------------------------------

_BRACKETED = re.compile(r'[^<]*<(.*)>[^>]*\Z', re.S)   # first `<` ... last `>`


@EMITTER
@given(raw_text)
def test_angle_bracketed_takes_the_first_open_and_the_last_close(raw):
    match = _BRACKETED.match(raw)
    assert headers.angle_bracketed(raw) == (match.group(1) if match else None)


@pytest.mark.parametrize('raw, inside', [
    ('<a@b>', 'a@b'), ('<>', ''), ('FROM:<a<b>c>  SIZE=5', 'a<b>c'), ('a@b', None),
    ('>a@b<', None), ('<a@b', None), ('a@b>', None)])
def test_angle_bracketed_examples(raw, inside):
    assert headers.angle_bracketed(raw) == inside
