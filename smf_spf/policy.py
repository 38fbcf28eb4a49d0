"""Pure decisions: connection facts + config + SPF result -> verdict.

Nothing here talks to the MTA, DNS or the clock; the milter adapter gathers
facts, asks these functions, and carries out what they return.
"""

from socket import AF_INET, inet_ntop, inet_pton
from typing import NamedTuple, Optional, Tuple

from smf_spf import headers
from smf_spf.ipaddr import parse_ip

CONTINUE = 'continue'
ACCEPT = 'accept'      # stop filtering: the connection (at connect) or this message
REJECT = 'reject'
TEMPFAIL = 'tempfail'

INFO = 'info'
NOTICE = 'notice'
WARNING = 'warning'

MAX_LOCAL_PART = 64
UNDEFINED_HELO = 'undefined'
DEFAULT_MTA_NAME = 'localhost'
RESULTS = ('pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror')


class Verdict(NamedTuple):
    action: str
    code: Optional[str] = None
    xcode: Optional[str] = None
    text: Optional[str] = None
    logs: Tuple[Tuple[str, str], ...] = ()   # (level, message) to log, in order
    dry_run: Optional[str] = None            # DryRun let it through: 'refuse' or 'tempfail'


class Connection(NamedTuple):
    client_ip: str           # as the MTA saw it (IPv4-mapped IPv6 unwrapped)
    spf_ip: str              # after ClientIPNAT / FixedClientIP
    hostname: str            # the MTA's name for the client (PTR or [ip])
    mta_name: str            # {j}, or localhost


class Mail(NamedTuple):
    raw_from: str            # MAIL FROM as given, with <>
    sender: str              # identity checked: lower-cased address, or postmaster@helo
    identity: str            # 'mailfrom' or 'helo'
    helo: str


class Edit(NamedTuple):
    """One change to the message at end of message, in the order to apply."""
    operation: str           # chgheader, addheader, insheader, delrcpt, addrcpt
    name: Optional[str] = None
    value: Optional[str] = None
    index: int = 0


def _reply(action, code, xcode, text, *logs):
    return Verdict(action, code, xcode, text, tuple(logs))


def unwrap_ip(address):
    """Canonical text of an IP; IPv4-mapped IPv6 becomes IPv4; None if not an IP."""
    try:
        if inet_ntop(AF_INET, inet_pton(AF_INET, address)) == address:
            return address    # the common case, already canonical, without an object
    except (OSError, ValueError, TypeError):
        pass
    parsed = parse_ip(address)
    return None if parsed is None else str(parsed)


# -- connect --------------------------------------------------------------------

def on_connect(config, client_ip, hostname, mta_name):
    """(Verdict, Connection or None) for a new SMTP client."""
    address = unwrap_ip(client_ip) if client_ip else None
    if address is None:
        return _reply(ACCEPT, None, None, None,
                      (NOTICE, 'unknown sender IP address, skipping SPF check')), None
    if address in config.whitelist_ip:
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : client ip=%s, fqdn=%s whitelisted by WhitelistIP'
                       % (address, hostname))), None
    if config.whitelist_ptr.matches(hostname):
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : client ip=%s, fqdn=%s whitelisted by WhitelistPTR'
                       % (address, hostname))), None
    logs = ()
    spf_ip = config.client_ip_nat.get(address)
    if spf_ip is not None:
        logs = ((INFO, 'Found NAT IP address. Original: %s . Final %s' % (address, spf_ip)),)
    elif config.fixed_client_ip:
        spf_ip = config.fixed_client_ip
    else:
        spf_ip = address
    connection = Connection(address, spf_ip, hostname, mta_name or DEFAULT_MTA_NAME)
    return Verdict(CONTINUE, logs=logs), connection


# -- addresses ------------------------------------------------------------------

def envelope_address(raw, relaxed_local_part):
    """The address between the first `<` and the last `>`, or None when it breaks
    the C milter's RFC 2821 checks (no @, blank or control edges, long local part)."""
    start = raw.find('<')
    stop = raw.rfind('>')
    if start < 0 or stop < 0 or stop - start < 3:
        return None
    address = raw[start + 1:stop]
    for edge in (address[0], address[-1]):
        if edge == ' ' or '\x07' <= edge <= '\x0d':
            return None
    at = address.find('@')
    if at < 0:
        return None
    if not relaxed_local_part and at > MAX_LOCAL_PART:
        return None
    return address


_ASCII_LOWER = str.maketrans('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')


def ascii_lower(text):
    """Lower-case A-Z only, as C's strtolower does; other characters stay as they are."""
    return text.translate(_ASCII_LOWER)


def sender_domain(sender):
    return sender.rpartition('@')[2]


# -- MAIL FROM ------------------------------------------------------------------

def on_mail(config, connection, raw_from, helo, verify=None, auth_authen=None):
    """(Verdict, Mail or None) before any DNS: CONTINUE with a Mail means check SPF."""
    helo = helo or UNDEFINED_HELO
    if verify == 'OK':
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : verified TLS client, from=%s' % raw_from)), None
    if '<>' in raw_from:
        if config.skip_ndr:
            return _reply(ACCEPT, None, None, None,
                          (INFO, 'SPF skip : empty sender, helo=%s, ip=%s'
                           % (helo, connection.spf_ip))), None
        helo = ascii_lower(helo)
        mail = Mail(raw_from, 'postmaster@' + helo, 'helo', helo)
    else:
        address = envelope_address(raw_from, config.relaxed_local_part)
        if address is None:
            return _syntax_reject(config, '1.7', 'Sender', raw_from), None
        mail = Mail(raw_from, ascii_lower(address), 'mailfrom', helo)
    if config.skip_auth and auth_authen:
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : username %s, from=%s' % (auth_authen, raw_from))), None
    if mail.identity == 'mailfrom' and config.whitelist_from.matches(mail.sender):
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : from=%s whitelisted by WhitelistFrom' % raw_from)), None
    return Verdict(CONTINUE), mail


def _syntax_reject(config, status, role, raw):
    text = '%s address does not conform to RFC-2821 syntax' % role
    if config.soft_fail:
        code, xcode = '450', '4.' + status
    else:
        code, xcode = '550', '5.' + status
    return _reply(REJECT if code == '550' else TEMPFAIL, code, xcode, text,
                  (NOTICE, '%s %s %s: %s' % (code, xcode, text, raw)))


def cache_key(connection, mail):
    return '%s|%s' % (connection.spf_ip, sender_domain(mail.sender))


def is_cacheable(result):
    return result != 'temperror'


def _refuse(config, connection, mail, code_suffix, rule, result='fail'):
    text = config.reject_reason.render(mail.sender, connection.spf_ip, connection.mta_name)
    if config.soft_fail:
        code, xcode, action = '450', '4.' + code_suffix, TEMPFAIL
    else:
        code, xcode, action = '550', '5.' + code_suffix, REJECT
    return _reply(action, code, xcode, text,
                  (NOTICE, 'SPF %s: %s %s by %s, ip=%s, from=%s'
                   % (result, code, xcode, rule, connection.spf_ip, mail.raw_from)))


def spf_result_log(result, cached, connection, mail):
    return (NOTICE, 'SPF %s%s: ip=%s, fqdn=%s, helo=%s, from=%s'
            % (result, ' (cached)' if cached else '', connection.spf_ip, connection.hostname,
               mail.helo, mail.raw_from))


def after_spf(config, connection, mail, result, explanation=''):
    """Verdict at MAIL FROM once the SPF result is known (fresh or cached)."""
    if result == 'none':
        if config.refuse_spf_none and mail.identity == 'mailfrom':
            text = 'Sorry %s, we only accept mail from SPF enabled domains.' % mail.sender
            return _reply(REJECT, '550', '5.7.1', text,
                          (NOTICE, 'SPF none: 550 5.7.1 by RefuseSPFNone, from=%s'
                           % mail.raw_from))
        if config.refuse_spf_none_helo and mail.identity == 'helo':
            text = ('Sorry %s, we only accept empty senders from enabled servers '
                    '(HELO identity)' % mail.sender)
            return _reply(REJECT, '550', '5.7.1', text,
                          (NOTICE, 'SPF none: 550 5.7.1 by RefuseSPFNoneHelo, from=%s, helo=%s'
                           % (mail.raw_from, mail.helo)))
    if result == 'temperror' and not config.accept_temp_error:
        text = 'Found a problem processing SFP for %s. Error: %s' % (
            mail.sender, explanation or '(no reason)')
        return _reply(TEMPFAIL, '451', '4.4.3', text,
                      (NOTICE, 'SPF temperror: 451 4.4.3 (AcceptTempError off), from=%s: %s'
                       % (mail.raw_from, explanation)))
    if result == 'fail' and config.refuse_fail and not len(config.whitelist_to):
        return _refuse(config, connection, mail, '7.23', 'RefuseFail')
    return Verdict(CONTINUE)


# -- RCPT TO --------------------------------------------------------------------

def on_rcpt(config, connection, mail, result, raw_rcpt):
    """(Verdict, quarantine) for one recipient; quarantine means redirect it at the end."""
    address = envelope_address(raw_rcpt, config.relaxed_local_part)
    if address is None:
        return _syntax_reject(config, '1.3', 'Recipient', raw_rcpt), False
    if len(config.whitelist_to):
        if config.whitelist_to.matches(address):
            return _reply(CONTINUE, None, None, None,
                          (INFO, 'SPF skip : to=%s whitelisted by WhitelistTo' % raw_rcpt)), False
        if result == 'fail' and config.refuse_fail:
            return _refuse(config, connection, mail, '1.1', 'RefuseFail'), False
    quarantine = config.quarantine and result in ('fail', 'softfail')
    return Verdict(CONTINUE), quarantine


# -- end of message -------------------------------------------------------------

def on_eom(config, connection, mail, result, subject, quarantined):
    """The edits to make, in order: Subject tag, headers, quarantine."""
    edits = []
    if config.tag_subject and result in ('fail', 'softfail'):
        if subject is None:
            edits.append(Edit('addheader', 'Subject', config.tag))
        else:
            edits.append(Edit('chgheader', 'Subject', '%s %s' % (config.tag, subject), 1))
    if config.add_header:
        edits.append(Edit('insheader', 'Authentication-Results', headers.authentication_results(
            config.authserv_id or connection.mta_name, result, mail.sender, mail.helo), 0))
    if config.add_received_header:
        edits.append(Edit('addheader', 'Received-SPF', headers.received_spf(
            result, connection.mta_name, mail.sender, connection.spf_ip, mail.identity,
            mail.raw_from, mail.helo)))
    if quarantined:
        # the quarantine box first: a recipient is only removed once it is there
        edits.append(Edit('addrcpt', value=config.quarantine_box))
        for rcpt in quarantined:
            edits.append(Edit('addheader', 'X-SPF-Original-To', rcpt))
            edits.append(Edit('delrcpt', value=rcpt))
    return edits
