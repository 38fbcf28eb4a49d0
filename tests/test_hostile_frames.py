"""Frames no MTA sends, played with a raw milter client against the running daemon,
and the guarded macro lookup on its own (smf_spf/_symguard.c)."""

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import example, given, settings, strategies as st

import rawmilter
from rawmilter import CONNECT, HELO, MAIL, RCPT, Client, connect_data, final, session
from smf_spf import interpose, symguard

REJECTED = b'550 5.7.23 '
HERE = os.path.dirname(os.path.abspath(__file__))


def assert_still_serving(daemon):
    assert daemon.alive(), daemon.stop()
    answer = session(daemon.port, b'someone@fail.stub.test')
    assert answer[0] == b'y' and answer[1].startswith(REJECTED), answer
    assert session(daemon.port, b'someone@pass.stub.test') == (b'c', b'')


def test_the_guard_is_in_effect():
    guard_problem, _ = interpose.install()      # tests/conftest.py installed it
    assert guard_problem is None
    assert symguard._symguard.active()


def test_the_adapter_installs_nothing_at_import_and_a_late_install_says_why():
    """Only the daemon puts the C layer in (smf_spf/__main__.py, before pymilter):
    importing smf_spf.milter loads neither module, and once pymilter is loaded an
    install() would be bound to nothing, so it says so instead."""
    code = ('import sys\nimport smf_spf.milter\n'
            'print([m for m in ("smf_spf._symguard", "smf_spf._tcpack") if m in sys.modules])\n'
            'from smf_spf import interpose, symguard\nprint(interpose.install())\n'
            'print(symguard.pass_on(), symguard.stashed())')
    out = subprocess.check_output([sys.executable, '-c', code], universal_newlines=True,
                                  cwd=os.path.dirname(HERE)).splitlines()
    late = "pymilter's milter.so was loaded first: it is bound to libmilter's own"
    assert out == ['[]', repr((late, late)), 'None None']


@pytest.mark.parametrize('stage', [CONNECT, HELO, MAIL])
@pytest.mark.parametrize('count', [1, 3, 5, 9, 15])
def test_odd_macro_frame_does_not_kill_the_milter(daemon, stage, count):
    """`D` + stage + an odd number of strings, then MAIL: libmilter's own lookup reads
    past the array here (SIGSEGV, every session gone); the guarded one stops."""
    for attempt in range(3):      # freed frames of the same size leave garbage behind
        client = Client(daemon.port)
        try:
            client.negotiate()
            client.macros(CONNECT, b'j', b'mx.receiver.test')
            client.macros(stage, *[b'{m%d}' % i for i in range(count)])
            client.step(CONNECT, connect_data(b'client.test', '127.0.0.1'))
            client.macros(stage, *[b'%040x' % i for i in range(count)])
            client.step(HELO, b'mx.client.test\0')
            client.macros(stage, *[b'{m%d}' % i for i in range(count)])
            answer = final(client.step(MAIL, b'<a@fail.stub.test>\0'))
        finally:
            client.close()
        # the message is still evaluated: -all
        assert answer[0] == b'y' and answer[1].startswith(REJECTED), answer
    assert_still_serving(daemon)


def test_macro_named_last_in_an_odd_frame_has_no_value(daemon):
    answer = session(daemon.port, b'a@fail.stub.test', macros=(b'{x}', b'y', b'{auth_authen}'))
    assert answer[0] == b'y' and answer[1].startswith(REJECTED), answer
    assert_still_serving(daemon)


@pytest.mark.parametrize('name', [b'{verify}', b'j', b'{j}', b'{x}'])
def test_macro_values_that_are_not_utf8_do_not_bypass_the_check(daemon, name):
    answer = session(daemon.port, b'a@fail.stub.test', macros=(name, b'\xff\xfe bad \xc3'))
    assert answer[0] == b'y' and answer[1].startswith(REJECTED), answer
    assert 'internal error' not in daemon.log()


def test_auth_user_that_is_not_utf8_is_still_an_authenticated_user(daemon):
    answer = session(daemon.port, b'a@fail.stub.test',
                     macros=(b'{auth_authen}', b'caf\xe9-user'))
    # SkipAuth: not checked, as for any user; followed to EOM for forged A-R removal
    assert answer == (b'c', b'')
    line = 'SPF skip : username caf\\udce9-user, from=<a@fail.stub.test>'
    assert rawmilter.wait_for(lambda: line in daemon.log())    # written as the session ends
    log = daemon.log()
    assert 'internal error' not in log


# -- the guarded walk, without a session ------------------------------------------

def reference_lookup(strings, name):
    """What libmilter's lookup means: pairs of name and value, `x` and `{x}` alike,
    a trailing name without a value found as None."""
    def same(stored):
        if stored == name:
            return True
        if len(name) == 3 and name[:1] == b'{' and name[2:] == b'}':
            return stored == name[1:2]
        if len(name) == 1:
            return stored == b'{' + name + b'}'
        return False
    for index in range(0, len(strings), 2):
        if same(strings[index]):
            return strings[index + 1] if index + 1 < len(strings) else None
    return None


def walk(strings, name, careful=False):
    return symguard._symguard._walk(b'M' + b''.join(s + b'\0' for s in strings), name, careful)


def test_walk_examples():
    assert walk([b'{x}', b'y', b'z'], b'z') is None
    assert walk([b'{x}', b'y', b'z'], b'{x}') == b'y'
    assert walk([b'{x}', b'y', b'z'], b'x') == b'y'
    assert walk([b'j', b'mx'], b'{j}') == b'mx'
    assert walk([b'{x}', b'y', b'z'], b'q') is None
    assert walk([], b'j') is None
    assert walk([b'j', b'\xff\xfe'], b'j') == b'\xff\xfe'


names = st.sampled_from([b'j', b'{j}', b'{x}', b'x', b'{auth_authen}', b'v', b'{v}', b''])
texts = st.one_of(names, st.binary(max_size=12).map(lambda b: b.replace(b'\0', b'')))


@settings(max_examples=500, deadline=None)
@given(st.lists(texts, max_size=11), names.filter(bool))
def test_walk_agrees_with_the_reference_for_any_number_of_strings(strings, name):
    assert walk(strings, name) == reference_lookup(strings, name)
    # the checks of a proof (every pointer probed first) accept every array the parser makes
    assert walk(strings, name, careful=True) == reference_lookup(strings, name)


@pytest.mark.parametrize('careful', [False, True])
def test_frame_without_a_terminating_nul(careful):
    assert symguard._symguard._walk(b'Mj\0mx.example', b'j', careful) is None
    assert symguard._symguard._walk(b'Mj', b'j', careful) is None


# -- the same through pymilter's TestCtx --------------------------------------------

@pytest.mark.parametrize('name', ['{verify}', 'j', '{auth_type}'])
def test_testctx_macro_bytes_that_are_not_utf8_are_still_evaluated(name):
    import Milter
    from miltertools import Harness
    h = Harness(fail_example='fail')
    h.connect(ip='192.0.2.1')
    h.macro(name, b'\xff\xfe not utf-8')
    assert h.mail('<a@fail.example>') == Milter.REJECT
    assert h.checker.calls == [('192.0.2.1', 'a@fail.example', 'mx.sender.example')]
    assert not any('internal error' in line for line in h.logs)


def test_testctx_auth_user_that_is_not_utf8_is_kept_losslessly():
    import Milter
    from miltertools import Harness
    h = Harness(fail_example='fail')
    h.connect(ip='192.0.2.1')
    h.macro('{auth_authen}', b'caf\xe9')
    assert h.mail('<a@fail.example>') == Milter.CONTINUE     # kept for forged A-R removal
    assert h.checker.calls == []
    h.ctx._close()      # no queue ID came: the held line is written as the session ends
    assert 'SPF skip : username caf\udce9, from=<a@fail.example>' in h.logs


# -- envelope strings that are not UTF-8 ---------------------------------------------

def envelope(daemon, host=b'client.test', helo=b'mx.client.test',
             sender=b'<a@pass.stub.test>', rcpt=b'<b@receiver.test>'):
    """Final replies to CONNECT, HELO, MAIL and RCPT (up to the first that is not
    continue)."""
    client = Client(daemon.port)
    answers = []
    try:
        client.negotiate()
        for command, data in ((CONNECT, connect_data(host, '127.0.0.1')),
                              (HELO, helo + b'\0'), (MAIL, sender + b'\0'),
                              (RCPT, rcpt + b'\0')):
            answers.append(final(client.step(command, data)))
            if answers[-1] != (b'c', b''):
                break
    finally:
        client.close()
    return answers


@pytest.mark.parametrize('field, value, logged', [
    ('host', b'cl\xffent.test', 'fqdn=cl\\udcffent.test'),
    ('helo', b'mx\xfe\xff.client.test', 'helo=mx\\udcfe\\udcff.client.test'),
    ('sender', b'<caf\xe9@fail.stub.test>', 'from=<caf\\udce9@fail.stub.test>'),
    ('sender', b'<a@fail.stub.test>\0SIZE=\xff', 'from=<a@fail.stub.test>'),
])
def test_envelope_bytes_that_are_not_utf8_are_still_evaluated(daemon, field, value, logged):
    """pymilter decodes these strictly and answered 451 without calling the milter (or
    a log line); the wrapped callbacks hand the original bytes over."""
    fields = {'sender': b'<a@fail.stub.test>'}
    fields[field] = value
    answers = envelope(daemon, **fields)
    assert answers[:2] == [(b'c', b''), (b'c', b'')]
    assert answers[2][0] == b'y' and answers[2][1].startswith(REJECTED), answers
    log = daemon.log()
    assert 'SPF fail: ip=127.0.0.1' in log and logged in log
    assert 'internal error' not in log


def test_recipient_that_is_not_utf8_is_answered(daemon):
    answers = envelope(daemon, rcpt=b'<m\xfcller@receiver.test>')
    assert answers == [(b'c', b'')] * 4


def test_utf8_envelope_strings_are_untouched(daemon):
    answers = envelope(daemon, helo='m\u00fcller.example'.encode(),
                       sender='<m\u00fcller@fail.stub.test>'.encode())
    assert answers[2][0] == b'y', answers
    assert 'from=<m\u00fcller@fail.stub.test>' in daemon.log()


def _python_says_utf8(raw):
    try:
        raw.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


# the edges: overlong forms, surrogates, past U+10FFFF, the 4-octet and top 3-octet
# forms, sequences cut short
@example(b'\xc0\x80')
@example(b'\xe0\x80\x80')
@example(b'\xed\xa0\x80')
@example(b'\xf4\x90\x80\x80')
@example(b'\xf0\x9f\x98\x80')
@example(b'\xef\xbf\xbf')
@example(b'\xc3')
@example(b'\xe2\x82')
@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=16).map(lambda b: b.replace(b'\0', b'')))
def test_utf8_check_agrees_with_python(raw):
    assert symguard._symguard._utf8(raw) is _python_says_utf8(raw)


# -- sequences only a hostile client sends (found by tests/test_fuzz.py) -------------

def test_mail_after_an_accepted_connect_is_accepted_again_without_error():
    import Milter
    from miltertools import Harness
    h = Harness('WhitelistIP 192.0.2.0/24', fail_example='fail')
    assert h.connect(ip='192.0.2.1') == Milter.ACCEPT
    assert h.mail('<a@fail.example>') == Milter.ACCEPT
    assert h.checker.calls == []
    assert not any('internal error' in line for line in h.logs)


def test_end_of_message_without_an_evaluated_mail_adds_no_spf_headers():
    from smf_spf import c_rules, config as configuration
    conf = configuration.parse_lines(['AddHeader on', 'AddReceivedHeader on'], 't.conf').config
    assert c_rules.on_eom(conf, None, None, None, None, []) == []


def test_idna_codecs_are_loaded_before_the_switch_to_user():
    import sys
    from smf_spf.spfcheck import preload_dns_modules
    preload_dns_modules()
    assert 'encodings.idna' in sys.modules and 'encodings.punycode' in sys.modules


def test_header_that_is_not_utf8_is_not_deferred(daemon):
    """pymilter 1.0.4 (el7) decoded header values strictly: a raw Latin-1 Subject got
    451 4.3.0 at the header, so the message was deferred and finally bounced."""
    client = Client(daemon.port)
    try:
        client.negotiate()
        replies = [final(client.step(command, data)) for command, data in (
            (CONNECT, connect_data(b'client.test', '127.0.0.1')), (HELO, b'mx.client.test\0'),
            (MAIL, b'<a@pass.stub.test>\0'), (RCPT, b'<b@receiver.test>\0'),
            (rawmilter.DATA, b''), (rawmilter.HEADER, b'Subject\0caf\xe9 cr\xe8me\0'),
            (rawmilter.HEADER, b'X-\xff\0\xfe\0'), (rawmilter.EOH, b''),
            (rawmilter.BODY, b'hello\r\n'))]
        end = client.step(rawmilter.EOM)
    finally:
        client.close()
    assert replies == [(b'c', b'')] * 9
    assert end[-1] == (b'c', b'')
    assert [name for name, _ in end[:-1]] == [b'i']       # our Authentication-Results
    assert b'spf=pass' in end[0][1]
    assert 'untrapped' not in daemon.log()



def test_the_daemon_recognised_libmilters_session_layout(daemon):
    assert_still_serving(daemon)
    assert 'not laid out as the macro guard expects' not in daemon.log()


def test_a_context_of_another_layout_goes_to_libmilter_and_is_reported_once():
    import ctypes
    import logging
    from miltertools import ListHandler
    guard = ctypes.CDLL(symguard._symguard.__file__)
    guard.smfi_getsymval.restype = ctypes.c_char_p
    foreign = ctypes.create_string_buffer(4096)         # all zero: protocol version 0
    before = symguard._unexpected_contexts()
    assert guard.smfi_getsymval(foreign, b'j') is None
    assert symguard._unexpected_contexts() == before + 1
    handler = ListHandler()
    log = logging.getLogger('symguard-test')
    log.addHandler(handler)
    symguard._reported.clear()
    try:
        symguard.report(log)
        symguard.report(log)
    finally:
        symguard._reported.clear()
    assert [message for _, message in handler.lines] == [
        "[WARNING] a libmilter session context did not look as the macro guard expects: "
        "that lookup went to libmilter's own, which a malformed macro frame can crash; "
        "keep the socket for the MTA only"]


# -- the proof of the layout (tests/sessionprobe.py) ---------------------------------

def probe(case):
    """What the guard answered for `j` in a context built by sessionprobe.py, in a
    process of its own: a read through a bad pointer ends it with SIGSEGV (-11)."""
    done = subprocess.run([sys.executable, os.path.join(HERE, 'sessionprobe.py'), case],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def test_libmilters_own_lookup_proves_the_layout():
    assert probe('libmilter') == {'answer': 'mx.helo.test', 'asked': [],
                                  'layout': ['proven', None]}


def test_the_guard_steps_aside_when_its_answer_and_libmilters_differ():
    """Its idea of the layout wrong (the CONNECT and HELO stages' slots swapped), the
    guard finds the CONNECT stage's `j` first; libmilter's own answer wins."""
    assert probe('swapped') == {
        'answer': 'mx.helo.test', 'asked': [],
        'layout': ['foreign', "its answer and libmilter's own differ"]}


@pytest.mark.parametrize('case, problem', [
    ('unreadable array', 'a macro array cannot be read'),
    ('entry elsewhere', 'a macro string is not where its frame has it'),
    ('unreadable frame', 'a macro string cannot be read'),
    ('shifted', 'a macro array cannot be read'),     # an int read as a pointer: 6
])
def test_a_pointer_that_cannot_be_read_makes_the_guard_step_aside_unharmed(case, problem):
    """Before the proof no pointer is read through unchecked (the guard's first layout
    check read strings[0] of a context it did not know yet: SIGSEGV for the first,
    third and fourth case); the call goes to libmilter's own lookup (faked here)."""
    assert probe(case) == {'answer': None, 'asked': ['j'], 'layout': ['foreign', problem]}


def test_libmilter_is_not_asked_while_its_own_walk_would_overrun():
    """An array that ends on a value slot (a later stage's) would take libmilter's own
    walk past its end: the guard answers alone, and the layout stays unproven."""
    assert probe('odd array') == {'answer': 'mx.helo.test', 'asked': [],
                                  'layout': ['unproven', None]}


# before the daemon's own install(), which then returns this one's answer
SWAP_STAGES = ('from smf_spf import interpose, symguard\ninterpose.install()\n'
               'symguard._symguard._perturb(0, True)')


def test_on_a_live_session_the_guard_steps_aside_logged_once(tmp_path, dns):
    """The daemon with the guard's idea of the layout wrong (the CONNECT and HELO
    stages' slots swapped): at MAIL FROM, {auth_authen} is in both stages, the guard
    finds the CONNECT stage's first, libmilter's own lookup the HELO stage's.  From
    then on every lookup is libmilter's own, and the log says so once."""
    running = rawmilter.Daemon(tmp_path, dns.address, prelude=SWAP_STAGES).start()
    try:
        for attempt in range(2):
            client = Client(running.port)
            try:
                client.negotiate()
                client.macros(CONNECT, b'{auth_authen}', b'conn-user')
                replies = [final(client.step(CONNECT,
                                             connect_data(b'client.test', '127.0.0.1')))]
                client.macros(HELO, b'{auth_authen}', b'helo-user')
                replies.append(final(client.step(HELO, b'mx.client.test\0')))
                replies.append(final(client.step(MAIL, b'<a@fail.stub.test>\0')))
            finally:
                client.close()
            # SkipAuth: an authenticated sender is not checked
            assert replies == [(b'c', b'')] * 3
        assert rawmilter.wait_for(lambda: running.log().count(
            'SPF skip : username helo-user, from=<a@fail.stub.test>') == 2), running.log()
        log = running.log()
        assert 'username conn-user' not in log
        assert log.count("not laid out as the macro guard expects (its answer and "
                         "libmilter's own differ): it stepped aside") == 1, log
        assert running.alive()
    finally:
        running.stop()


def test_unknown_command_and_unix_client_path_that_are_not_utf8(daemon):
    """pymilter decodes an unknown SMTP command and a unix-domain client's path
    strictly as well; neither may turn into 451 or an error."""
    client = Client(daemon.port)
    try:
        client.negotiate()
        unix_connect = b'localhost\0L\0\0/run/\xff\xfe.sock\0'
        replies = [final(client.step(CONNECT, unix_connect))]
        client.send(b'U', b'XCMD caf\xe9\0')
        replies.append(client.read())
    finally:
        client.close()
    assert replies[0] == (b'a', b'')        # no client IP: accepted unchecked, as in C
    assert replies[1] == (b'c', b'')
    assert 'untrapped' not in daemon.log()


# -- header fields the milter does not read, answered by the guard ----------------

@pytest.fixture
def read_only_subject_and_ar():
    from smf_spf.milter import HEADERS_READ
    symguard.pass_on(headers=HEADERS_READ, data=False)
    yield
    symguard.pass_on()


def test_guard_gives_no_reply_where_the_session_negotiated_none():
    """libmilter would not send this CONTINUE either (the MTA reads none), but would log
    an error for every HELO and header field."""
    import Milter
    symguard.pass_on()      # hands the guard pymilter's CONTINUE and NOREPLY
    went_on = symguard._symguard._went_on
    for step in (Milter.P_NR_HDR, Milter.P_NR_HELO):
        assert went_on(Milter.CONTINUE, step, step) == Milter.NOREPLY
        assert went_on(Milter.NOREPLY, step, step) == Milter.NOREPLY
        assert went_on(Milter.CONTINUE, 0, step) == Milter.CONTINUE     # the MTA waits
        assert went_on(Milter.REJECT, step, step) == Milter.REJECT
        # a context of another layout: libmilter decides
        assert went_on(Milter.CONTINUE, None, step) == Milter.CONTINUE
    assert went_on(Milter.CONTINUE, Milter.P_NR_HELO, Milter.P_NR_HDR) == Milter.CONTINUE


def test_the_guard_answers_with_the_constants_python_hands_it():
    """pass_on() hands the guard pymilter's answers and no-reply flags: it keeps no copy
    of its own (other numbers given, it answers with those)."""
    guard = symguard._symguard
    try:
        guard.pass_on(None, True, None, (0x1, 0x2, 0x4), (10, 20))
        assert guard._went_on(10, 0x4, 0x4) == 20
        assert guard._went_on(0, 0x4, 0x4) == 0
    finally:
        symguard.pass_on()
    import Milter
    assert guard._went_on(Milter.CONTINUE, Milter.P_NR_HDR, Milter.P_NR_HDR) == Milter.NOREPLY


@pytest.mark.usefixtures('read_only_subject_and_ar')
def test_guard_passes_on_only_the_fields_the_milter_reads_in_any_ascii_case():
    read = symguard._symguard._header_read
    assert read(b'Subject') and read(b'SUBJECT') and read(b'subject')
    assert read(b'Authentication-Results') and read(b'AUTHENTICATION-RESULTS')
    for other in (b'From', b'To', b'Received', b'Subjec', b'Subjects', b'', b'X-\xff',
                  b'Authentication-Results-Original', b'Sub\xc4\xb1ect'):
        assert not read(other), other


def test_guard_passes_on_every_field_until_told():
    symguard.pass_on()
    assert symguard._symguard._header_read(b'X-Anything')


@pytest.mark.usefixtures('read_only_subject_and_ar')
@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=30).map(lambda b: b.replace(b'\0', b'')))
def test_guard_header_choice_agrees_with_python(name):
    from smf_spf.milter import HEADERS_READ
    assert symguard._symguard._header_read(name) == (
        name.lower() in [wanted.encode('ascii') for wanted in HEADERS_READ])


@pytest.mark.parametrize('names', [tuple(b'h%d' % i for i in range(9)), (b'',), (b'x' * 65,),
                                   ('Subject',), [b'Subject']])
def test_guard_header_list_is_checked(names):
    with pytest.raises((ValueError, TypeError)):
        symguard._symguard.pass_on(names, False, None, *symguard._pymilter_constants())
    symguard.pass_on()


def test_daemon_still_sees_subject_and_every_authentication_results_among_other_fields(
        daemon):
    """The daemon reads only Subject and Authentication-Results; a forged A-R among
    other fields is still removed at its own index (indices count that field only)."""
    client = Client(daemon.port)
    try:
        client.negotiate()
        client.macros(CONNECT[:1], b'j', b'mx.receiver.test')
        replies = [final(client.step(command, data)) for command, data in (
            (CONNECT, connect_data(b'client.test', '127.0.0.1')), (HELO, b'mx.client.test\0'),
            (MAIL, b'<a@pass.stub.test>\0'), (RCPT, b'<b@receiver.test>\0'),
            (rawmilter.DATA, b''),
            (rawmilter.HEADER, b'Received\0from a\0'),
            (rawmilter.HEADER, b'Authentication-Results\0elsewhere.example; spf=pass\0'),
            (rawmilter.HEADER, b'X-Other\0x\0'),
            (rawmilter.HEADER, b'authentication-results\0mx.receiver.test; spf=pass\0'),
            (rawmilter.HEADER, b'Subject\0hello\0'),
            (rawmilter.EOH, b''), (rawmilter.BODY, b'hello\r\n'))]
        end = client.step(rawmilter.EOM)
    finally:
        client.close()
    assert replies == [(b'c', b'')] * 12
    assert end[-1] == (b'c', b'')
    edits = end[:-1]
    assert (b'm', b'\0\0\0\x02Authentication-Results\0\0') in edits, edits
    assert 'removed forged Authentication-Results header #2' in daemon.log()


@pytest.mark.parametrize('offered', [0x1fffff, 0x1ff, 0x3ff7f, 0x80, 0x100000, 0x1a5a5a])
def test_negotiation_the_guard_answers_is_what_the_adapter_would_answer(daemon, offered):
    """... but for DATA, which the guard takes without reply (this daemon's TCP socket
    acknowledges it at once: smf_spf.tcpack)."""
    # (an offer of 0 is replaced by libmilter's version-1 defaults before any callback)
    import struct
    import Milter
    from smf_spf.milter import SpfMilter
    client = Client(daemon.port)
    try:
        client.send(rawmilter.OPTNEG, struct.pack('!III', 6, rawmilter.ALL_ACTIONS, offered))
        command, data = client.read()
        # the session goes on as usual after it
        client.protocol = struct.unpack('!III', data[:12])[2]
        answer = final(client.step(CONNECT, connect_data(b'client.test', '127.0.0.1')))
    finally:
        client.close()
    opts = [rawmilter.ALL_ACTIONS, offered, 0, 0]
    SpfMilter.negotiate(SpfMilter.__new__(SpfMilter), opts)
    assert command == b'O'
    assert struct.unpack('!III', data[:12]) == (6, opts[0],
                                                opts[1] | offered & Milter.P_NR_DATA)
    assert answer == (b'c', b'')


@pytest.mark.parametrize('queue_id', [b'Q1\nNov 29 00:00:00 vm smf-spf[1]: SPF pass forged',
                                      b'Q2\r\xff\xfe; "x" y', b'Q3' + b'A' * 5000])
def test_hostile_queue_id_prefixes_the_held_line_escaped_on_one_line(daemon, queue_id):
    """The MTA's queue ID (macro i) goes in front of the decision line it releases: a
    client's CR, LF or bytes that are not UTF-8 there cannot split or forge log lines."""
    sender = b'qid%d@pass.stub.test' % len(queue_id)
    client = Client(daemon.port)
    try:
        client.negotiate()
        client.macros(CONNECT[:1], b'j', b'mx.receiver.test')
        assert final(client.step(CONNECT, connect_data(b'client.test', '127.0.0.1'))) == \
            (b'c', b'')
        assert final(client.step(HELO, b'mx.client.test\0')) == (b'c', b'')
        assert final(client.step(MAIL, b'<' + sender + b'>\0')) == (b'c', b'')
        client.macros(RCPT, b'i', queue_id)
        assert final(client.step(RCPT, b'<b@receiver.test>\0')) == (b'c', b'')
    finally:
        client.close()
    tail = 'from=<%s>' % sender.decode()
    assert rawmilter.wait_for(lambda: tail in daemon.log())
    lines = [line for line in daemon.log().splitlines() if tail in line]
    assert len(lines) == 1, lines
    assert lines[0].endswith(tail)
    assert re.search(r': SPF pass( \(cached\))?: ip=127\.0\.0\.1, ', lines[0]), lines[0]
    assert not any(line.startswith('Nov 29 00:00:00 vm') for line in daemon.log().splitlines())
    if b'\n' in queue_id:
        assert 'Q1\\x0aNov 29 00:00:00' in lines[0]
    if b'\xff' in queue_id:
        assert 'Q2\\x0d\\udcff\\udcfe; "x" y: SPF pass' in lines[0], lines[0]
