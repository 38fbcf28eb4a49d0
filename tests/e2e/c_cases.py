"""What the C smf-spf project's own miltertest suite expects of a milter, as a table.

The facts come from the lua cases and configs of https://github.com/jcbf/smf-spf/tree/master/tests
(commit f8a6736): for each case, the config settings it depends on, what the MTA sends (client,
macros, HELO, envelope, header fields) and the reply it wants at each step, and the header
edits it wants at end of message. The table is ours; test_c_cases.py turns each record into a
miltertest script and runs it against our daemon. A case's `name` is the C file it comes from.

Three replies differ from C's on purpose; each is a `Differs` value that says what C's case
wants and what we answer under which configuration, so that the difference stays asserted.
"""

import typing
from typing import Tuple

# Replies, by miltertest's names for them.
CONTINUE = 'continue'
ACCEPT = 'accept'
REFUSED = 'replycode'         # a reject or tempfail with our own SMTP code and text
ANY = 'any'                   # the C case sends the step but does not look at its reply
NOT_ACCEPT = 'not accept'

# The configurations a case runs under (lines added to its config). Every case runs AS_C;
# a `Differs` names the other configuration that shows the difference.
AS_C = 'as C'
OUR_DEFAULTS = 'our defaults'
ACCEPT_POSTMASTER = 'AcceptPostmaster on'
MODE_CONFIG = {
    AS_C: ('RemoveForgedAuthResults off',),  # C removed no forged Authentication-Results
    OUR_DEFAULTS: (),
    ACCEPT_POSTMASTER: ('RemoveForgedAuthResults off', 'AcceptPostmaster on'),
}


class Differs(typing.NamedTuple):
    """A reply where we differ from C on purpose (README, "differs from C")."""
    c_wants: str
    ours: Tuple[Tuple[str, str], ...]  # (configuration, our reply there)
    why: str


# C accepted the whole message for a whitelisted recipient; we pass that recipient only.
WHITELISTED_RECIPIENT = Differs(ACCEPT, ((AS_C, CONTINUE),),
                                'WhitelistTo passes the one recipient, not the whole message')
# A skipped sender (SkipAuth, verified TLS, SkipNDR): C accepted at MAIL FROM. To remove forged
# Authentication-Results (RemoveForgedAuthResults, on by default) we follow it to end of message.
FOLLOWED_TO_EOM = Differs(ACCEPT, ((AS_C, ACCEPT), (OUR_DEFAULTS, CONTINUE)),
                          'skipped senders are followed to end of message to remove forged '
                          'Authentication-Results')
# An SPF refusal at MAIL FROM, as C; AcceptPostmaster makes it at RCPT TO instead.
REFUSED_AT_MAIL = Differs(REFUSED, ((AS_C, REFUSED), (ACCEPT_POSTMASTER, CONTINUE)),
                          'AcceptPostmaster refuses at RCPT TO, so mail to postmaster gets through')


class HeaderEdit(typing.NamedTuple):
    """A header field the milter must write at end of message, and what its value holds."""
    field: str
    ways: Tuple[str, ...]  # any of 'insert', 'add', 'change'
    contains: str = ''
    lacks: str = ''


class Step(typing.NamedTuple):
    command: str  # connect, helo, mail, rcpt, header, eom, wait
    args: Tuple[str, ...]
    reply: object = ANY  # a reply name, or a Differs
    macros: Tuple[Tuple[str, str], ...] = ()
    edits: Tuple[HeaderEdit, ...] = ()


class Case(typing.NamedTuple):
    name: str
    shows: str
    config: Tuple[str, ...]  # our config lines that the facts depend on
    steps: Tuple[Step, ...]  # a second connect step opens a new connection


MTA_NAME = 'mx.receiver.test'
QUEUE_ID = '4C5Q1X2Y3Z'
CLIENT = 'mail.client.test'
SENDER = '<user@underspell.com>'

# Addresses underspell.com's record (tests/e2e/services.py C_SUITE_ZONES) passes, and some it
# fails.
PASSING, PASSING_TOO = '54.194.147.141', '54.194.157.134'
FIXED_PASSING = '54.154.126.152'
FAILING, FAILING_TOO, UNLISTED = '10.11.12.13', '192.0.0.194', '195.22.26.194'


def connect(ip, host='localhost', reply=CONTINUE, mta_macro='j'):
    """The connection, with the MTA's name in `mta_macro` (None: not sent)."""
    return Step('connect', (host, ip), reply, ((mta_macro, MTA_NAME),) if mta_macro else ())


def helo(name, reply=CONTINUE):
    return Step('helo', (name,), reply)


def mail(sender, reply=CONTINUE, macros=(('i', QUEUE_ID),)):
    return Step('mail', (sender,), reply, macros)


def rcpt(address, reply=CONTINUE, queue_id=True):
    return Step('rcpt', (address,), reply, (('i', QUEUE_ID),) if queue_id else ())


def headers(*fields):
    return tuple(Step('header', field, CONTINUE) for field in fields)


FROM = ('From', 'user')  # no address in it: the C cases send a malformed From:
DATE = ('Date', 'Sun, 29 Nov 2026 12:00:00 +0000')
MESSAGE_HEADERS = headers(FROM, DATE, ('Subject', 'c suite case'))


def spf_result(result):
    """Authentication-Results written at end of message, naming the SPF result."""
    return HeaderEdit('Authentication-Results', ('insert', 'add'), contains='spf=' + result)


def checked_message(ip, sender, edit, host='localhost', helo_name=None, recipients=(),
                    fields=MESSAGE_HEADERS, mta_macro='j'):
    """A whole message from `ip` that goes on to end of message, where `edit` is written (C's
    cases did not look at the end-of-message reply; C, like us, continues there)."""
    steps = (connect(ip, host, mta_macro=mta_macro),)
    if helo_name:
        steps += (helo(helo_name),)
    return steps + (mail(sender),) + tuple(recipients) + fields + (
        Step('eom', (), CONTINUE, edits=(edit,)),)


def local_part_of(length):
    return '<%s@underspell.com>' % ('x' * length)


NO_REFUSAL = ('RefuseFail off',)
# C's main config had SoftFail on: a malformed address gets a 450, which miltertest sees as a
# reply code like any other
MALFORMED_AS_C = NO_REFUSAL + ('SoftFail on',)
NAT_TABLE = (
    'ClientIPNAT 127.0.0.11:%s' % FIXED_PASSING,
    'ClientIPNAT 127.0.0.1:54.154.127.152',
    # C's NAT config carried bad lines; they are skipped and the good ones still apply
    'ClientIPNAT 127.0.0.zz:54.154.127.152',   # no address on the left
    'ClientIPNAT 127.0.0.12:54.1x4.126.152',   # no address on the right
    'ClientIPNAT 127.0.0.12:254.154.326.152',  # an octet over 255 on the right
    'ClientIPNAT 300.0.0.2:192.168.0.1',       # an octet over 255 on the left
    'ClientIPNAT 127.0.0.12',                  # nothing to map to
)
AUTHENTICATED = (('{i}', QUEUE_ID), ('{auth_authen}', 'someone@example.net'))
VERIFIED_TLS = (('{i}', QUEUE_ID), ('{verify}', 'OK'))


def skip_candidate(reply, macros):
    """A client the MTA vouches for at MAIL FROM; its MTA-name macro comes misspelt, as in C's
    cases, so the milter sees none."""
    return (connect(FAILING_TOO, mta_macro='{j)'), helo('underspell.com'),
            mail(SENDER, reply, macros))


def tagged_without_subject(mta_macro):
    """A failing message with no Subject: field; the tag makes one."""
    return checked_message(
        FAILING, SENDER, HeaderEdit('Subject', ('change', 'add', 'insert'), contains='SPF:fail'),
        recipients=(rcpt('<one@underspell.com>', ANY, False),
                    rcpt('<two@underspell.com>', ANY, False)),
        fields=headers(FROM, DATE), mta_macro=mta_macro)


# The C suite's main config, in the line shapes it used: tab separators, comments after the
# value, a trailing blank, a commented-out line, TTL given three times with units.
MAIN_CONFIG = tuple(
    ['WhitelistIP\t%s' % net for net in ('127.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16')]
    + ['#WhitelistIP\t10.0.0.0/8']
    + ['WhitelistPTR\t.example.%s' % tld for tld in ('com', 'net', 'org')]
    + ['WhitelistFrom\t%s' % who for who in ('friend@', '@example.org', 'friend2@mail.example.org')]
    + ['WhitelistTo\tpostmaster@', 'WhitelistTo\tspamlover@example.com',
       'RefuseFail\toff\t# on or off', 'SoftFail       on      # on or off',
       'AcceptTempError on ', 'TagSubject\ton', 'Tag\t\t[SPF:FAIL]', 'AddHeader\ton',
       'Quarantine\toff', 'QuarantineBox\tpostmaster', 'TTL\t\t1D', 'TTL\t\t1d', 'TTL\t\t1s',
       'Syslog\t\tmail\t# a facility', 'Daemonize off # on or off',
       'AuthservID  mail.example.com', 'AddReceivedHeader on'])

# The quarantine config, then the odd lines of C's other configs (each case started with one).
SECOND_CONFIG = (
    'WhitelistIP     127.0.0.0/8', 'RefuseFail      off     # on or off', 'SoftFail       off',
    'AcceptTempError off', 'AddReceivedHeader on', 'TagSubject      on', 'AddHeader       off',
    'Quarantine      on', 'QuarantineBox \tpostmaster', 'TTL             60m', '',
    'TagSubject\tof',               # neither on nor off
    'TTL 60m', 'TTL 3600s', 'TTL 1h', 'TTL 1H',
    'RejectReason \tRefused by SPF policy, see the record of %s',  # spaces in the value
    'relaxedlocalpart on', 'tagsubject off', 'RefuseSPFnone on',  # keys in any case
    'Syslog none',
) + NAT_TABLE + ('SkipNDR on',)     # the runner ends the file after the last line, no newline

CASES = (
    Case('01-loadconfig', 'the main config of the C suite loads and the daemon listens',
         MAIN_CONFIG, ()),
    Case('01-loadconfig-q', 'the quarantine config and the odd lines of the other C configs '
         '(bad NAT lines, a bad boolean, repeated keys, no newline at the end) load',
         SECOND_CONFIG, ()),
    Case('02-host-whitelisted', 'an IPv6 client whose name ends in a WhitelistPTR suffix is '
         'accepted at connect', ('WhitelistPTR .example.org',),
         (connect('2001:0101:DEAD:BEEF::1', 'server.example.org', ACCEPT),)),
    Case('02-ip-whitelisted', 'a client in a WhitelistIP network is accepted at connect',
         ('WhitelistIP 127.0.0.0/8',), (connect('127.0.0.1', CLIENT, ACCEPT),)),
    Case('02-to-whitelisted', 'a WhitelistTo recipient of an unchecked client is passed',
         NO_REFUSAL + ('WhitelistTo spamlover@example.com',),
         (connect('10.0.0.1', CLIENT), mail('<something@underspell.com>'),
          rcpt('<spamlover@example.com>', WHITELISTED_RECIPIENT))),
    Case('03-bad-dns', 'a sender domain that does not exist is answered', (),
         (connect(FAILING, CLIENT, ANY), mail('<user@bad.underspell.com>', ANY))),
    Case('03-invalid-dns', 'a record with no terms after v=spf1 does not refuse', (),
         (connect(FAILING, CLIENT, ANY), mail('<user@badspf2.underspell.com>'))),
    Case('03-loop-spf', 'a record that redirects to itself does not refuse', (),
         (connect(FAILING, CLIENT, ANY), mail('<user@badspf.underspell.com>'))),
    Case('03-invalid-mta-name', 'a checked client goes on without the MTA-name macro', (),
         (connect(FAILING, mta_macro=None),)),
    Case('03-no-mta-name', 'a whitelisted client is accepted without the MTA-name macro',
         ('WhitelistIP 127.0.0.0/8',), (connect('127.0.0.1', reply=ACCEPT, mta_macro=None),)),
    Case('03-null-ip', 'a client of unknown address family is accepted at connect', (),
         (connect('unspec', CLIENT, ACCEPT),)),
    Case('03-invalid-sender', 'a sender with no angle brackets or a local part over 64 octets '
         'is refused; 64 octets go on (an SPF fail, not refused)', MALFORMED_AS_C,
         (connect(FAILING, CLIENT, ANY), mail('underspell.com', REFUSED),
          mail(local_part_of(64)), mail(local_part_of(65), REFUSED))),
    Case('03-invalid-sender-soft', 'RelaxedLocalPart on: a 65-octet local part is checked, and '
         'its SPF fail refused; no angle brackets is still refused', ('RelaxedLocalPart on',),
         (connect(FAILING, CLIENT, ANY), mail('underspell.com', REFUSED),
          mail(local_part_of(65), REFUSED_AT_MAIL))),
    Case('03-invalid-to', 'a recipient with no angle brackets is refused', MALFORMED_AS_C,
         (connect(FAILING, CLIENT, ANY), mail(SENDER), rcpt('user@underspell.com', REFUSED))),
    Case('04-fixed-client-auth-fail', 'RefuseFail off then RefuseFail on leaves refusal off (as '
         'C: only the non-default line counts); a client not in the NAT table is itself',
         NAT_TABLE + ('RefuseFail off', 'RefuseFail on'),
         checked_message(FAILING, SENDER, spf_result('fail'))),
    Case('04-fixed-client-auth-pass', 'an SMTP-authenticated sender is not checked (SkipAuth is '
         'on by default)', (), skip_candidate(FOLLOWED_TO_EOM, AUTHENTICATED)),
    Case('04-fixed-client-verify-pass', 'a client with a verified TLS certificate is not checked',
         (), skip_candidate(FOLLOWED_TO_EOM, VERIFIED_TLS)),
    Case('04-skip-auth-pass', 'SkipAuth off: an SMTP-authenticated sender is checked',
         ('SkipAuth off',), skip_candidate(NOT_ACCEPT, AUTHENTICATED)),
    Case('04-fixed-client-fail', 'an SPF fail is refused at MAIL FROM (RefuseFail on by default)',
         (), (connect(FAILING_TOO), mail(SENDER, REFUSED_AT_MAIL))),
    Case('04-fixed-client-pass', 'FixedClientIP: every client is checked as that address',
         ('FixedClientIP %s' % FIXED_PASSING,),
         checked_message(FAILING_TOO, SENDER, spf_result('pass'),
                         recipients=(rcpt('<user@example.net>'),))),
    Case('04-fulltest-fail-tag', 'a failing message with no Subject gets a tagged one (no '
         'MTA-name macro, quarantine on)', NO_REFUSAL + ('Quarantine on',),
         tagged_without_subject(None)),
    Case('04-fulltest-fail-tag-nosubject', 'a failing message with no Subject gets a tagged '
         'one (MTA-name macro sent, quarantine on)',
         NO_REFUSAL + ('Quarantine on',), tagged_without_subject('j')),
    Case('04-fulltest-fail', 'an SPF fail that is not refused is reported at end of message',
         NO_REFUSAL, checked_message(FAILING, SENDER, spf_result('fail'))),
    Case('04-fulltest', 'an SPF fail that is not refused is reported at end of message, with a '
         'recipient', NO_REFUSAL,
         checked_message(FAILING, SENDER, spf_result('fail'),
                         recipients=(rcpt('<yada@bla.example.com>', ANY),))),
    Case('04-fulltest-nat-pass', 'ClientIPNAT: a NATed client is checked as its public address',
         NAT_TABLE, checked_message('127.0.0.11', SENDER, HeaderEdit(
             'Authentication-Results', ('insert', 'add'), lacks='spf=fail'),
             recipients=(rcpt('<user@example.net>'),))),
    Case('04-fulltest-neutral', 'a ?all record is reported neutral', (),
         checked_message(UNLISTED, '<user@neutral.underspell.com>', spf_result('neutral'))),
    Case('04-fulltest-none', 'a domain without a record is reported none', (),
         checked_message(UNLISTED, '<user@nospf.underspell.com>', spf_result('none'))),
    Case('04-fulltest-soft', 'a ~all record is reported softfail', (),
         checked_message(UNLISTED, '<user@softfail.underspell.com>', spf_result('softfail'))),
    Case('04-fulltest-pass', 'a listed client is reported pass, with two recipients', (),
         checked_message(PASSING, SENDER, spf_result('pass'), recipients=(
             rcpt('<user@example.com>'), rcpt('<user@example.net>')))),
    Case('04-fulltest-refusefail', 'RefuseFail on: an SPF fail is refused at MAIL FROM',
         ('RefuseFail on',), (connect(UNLISTED), mail(SENDER, REFUSED_AT_MAIL))),
    Case('04-fulltest-refusenone', 'RefuseSPFNone (with SPFBestGuess off) refuses a domain '
         'without a record', ('RefuseSPFNone on', 'SPFBestGuess off'),
         (connect(UNLISTED), mail('<user@nospf.underspell.com>', REFUSED_AT_MAIL))),
    Case('04-fulltest-refusenonehelo', 'RefuseSPFNoneHelo (with SPFBestGuess off) refuses an '
         'empty sender whose HELO name has no record', ('RefuseSPFNoneHelo on', 'SPFBestGuess off'),
         (connect('192.0.0.1'), helo('nospf.underspell.com'), mail('<>', REFUSED_AT_MAIL))),
    Case('04-helo-pass', 'an empty sender is checked by its HELO name, whose record lists '
         'the client', (),
         checked_message(FAILING, '<>', spf_result('pass'), host='helo.underspell.com',
                         helo_name='helo.underspell.com')),
    Case('04-helo-skipndr-pass', 'SkipNDR on: an empty sender is not checked', ('SkipNDR on',),
         (connect(FAILING, 'helo.underspell.com'), helo('helo.underspell.com'),
          mail('<>', FOLLOWED_TO_EOM))),
    Case('05-cache-test', 'results stay right across clients and after the TTL runs out',
         ('TTL 1s',),
         checked_message(PASSING_TOO, SENDER, spf_result('pass'))
         + checked_message(PASSING, '<user2@underspell.com>', spf_result('pass'))
         + (Step('wait', ('5',)),)
         + checked_message(PASSING_TOO, SENDER, spf_result('pass'))),
    Case('05-cache-test-fail', 'a fail answered from the cache is still a fail', NO_REFUSAL,
         checked_message(FAILING, SENDER, spf_result('fail'), recipients=tuple(
             rcpt('<%s@example.com>' % who, queue_id=False) for who in ('one', 'two', 'three')))
         + checked_message(FAILING, SENDER, spf_result('fail'))),
)

# C cases whose facts another case states word for word.
SAME_FACTS = {'04-spf-fail': '04-fulltest-fail'}
C_SUITE_SIZE = 37


def modes_of(case):
    """AS_C, then every other configuration a Differs in the case names."""
    found = [AS_C]
    for step in case.steps:
        if isinstance(step.reply, Differs):
            found += [mode for mode, _ in step.reply.ours if mode not in found]
    return found


def expected_reply(step, mode):
    """The reply the step wants under `mode`."""
    if isinstance(step.reply, Differs):
        ours = dict(step.reply.ours)
        return ours.get(mode, ours[AS_C])
    return step.reply
