"""The C smf-spf's rules, as pure functions, and the facts and verdicts every rule uses.

Nothing here talks to the MTA, DNS or the clock.  smf_spf.policy puts these rules, those
beyond C (smf_spf.extra_rules) and the HELO identity's (smf_spf.helo) together into one
decision per SMTP stage.
"""

from socket import AF_INET, inet_ntop, inet_pton
from typing import NamedTuple, Optional, Tuple

from smf_spf import headers
from smf_spf.outcomes import (ACCEPT, ADD_HEADER, ADD_RCPT, CHG_HEADER, CONTINUE, DEL_HEADER,
                              DEL_RCPT, FAIL, INS_HEADER, NONE, REJECT, RESULTS, SOFTFAIL,
                              TEMPERROR, TEMPFAIL)
from smf_spf.ipaddr import parse_ip
from smf_spf.mailbox import (POSTMASTER, Mailbox, ascii_lower, helo_identity, identity_text,
                             mailfrom_identity, split_path)

INFO = 'info'
NOTICE = 'notice'
WARNING = 'warning'

MAX_LOCAL_PART = 64
UNDEFINED_HELO = 'undefined'
DEFAULT_MTA_NAME = 'localhost'
# RefuseFailEmptySender: what an SPF refusal of an empty sender becomes
EMPTY_SENDER_REFUSE, EMPTY_SENDER_TEMPFAIL, EMPTY_SENDER_TAG = 'refuse', 'tempfail', 'tag'
EMPTY_SENDER_CHOICES = (EMPTY_SENDER_REFUSE, EMPTY_SENDER_TEMPFAIL, EMPTY_SENDER_TAG)
# a refusal's own log prefix: `SPF <result>:` lines stay one per decision, as C wrote them,
# so a pattern such as `SPF fail: .*ip=` counts each message once
REFUSED = 'SPF refused:'


class Verdict(NamedTuple):
    action: str
    code: Optional[str] = None
    xcode: Optional[str] = None
    text: Optional[str] = None
    logs: Tuple[Tuple[str, str], ...] = ()   # (level, message) to log, in order
    skipped_by: Optional[str] = None         # the whitelist or rule that skips the check
    dry_run: Optional[str] = None            # DryRun let it through: 'refuse' or 'tempfail'
    rule: Optional[str] = None               # what refuses (or would): RefuseFail, ...


class Connection(NamedTuple):
    client_ip: str           # as the MTA saw it (IPv4-mapped IPv6 unwrapped)
    spf_ip: str              # after ClientIPNAT / FixedClientIP
    hostname: str            # the MTA's name for the client (PTR or [ip])
    mta_name: str            # {j}, or localhost


class Mail(NamedTuple):
    """The identity one SPF check is for: its local part and domain as smf_spf.mailbox
    reads them (lower-cased; the domain alone names what is checked and cached)."""
    raw_from: str            # MAIL FROM as given, with <>
    local: str               # the identity's local part ('' when the path had none)
    domain: str              # the identity's domain: after the last '@' outside quotes
    identity: str            # 'mailfrom' or 'helo'
    helo: str

    @property
    def sender(self):
        """The identity as one address: `local@domain`, or postmaster@helo."""
        return identity_text(self.local, self.domain)

    @property
    def mailbox(self):
        return Mailbox(self.local, self.domain)


class Edit(NamedTuple):
    """One change to the message at end of message, in the order to apply."""
    operation: str           # one of outcomes.EDIT_OPERATIONS
    name: Optional[str] = None
    value: Optional[str] = None   # for delheader: the authserv-id it claimed (for the log)
    index: int = 0
    needs_quarantine_box: bool = False   # only once the quarantine box was added


# octets of one client value (HELO, MAIL FROM, host name ...) in a log line; the rest is
# cut, and the line says how much: a 60,000-octet HELO must not make a 60 kB log line
MAX_LOGGED_VALUE = 1000


def shown(value):
    """`value` as a log line carries it: at most MAX_LOGGED_VALUE octets, then a marker
    saying how many more there were."""
    if value is None or len(value) * 4 <= MAX_LOGGED_VALUE:
        return value       # too short to be over, whatever it holds
    octets = value.encode('utf-8', 'surrogateescape')
    if len(octets) <= MAX_LOGGED_VALUE:
        return value
    return '%s...[%d more octets]' % (
        octets[:MAX_LOGGED_VALUE].decode('utf-8', 'surrogateescape'),
        len(octets) - MAX_LOGGED_VALUE)


def _reply(action, code, xcode, text, *logs, skipped_by=None, rule=None):
    return Verdict(action, code, xcode, text, tuple(logs), skipped_by, rule=rule)


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
                      (NOTICE, 'unknown sender IP address, skipping SPF check'),
                      skipped_by='NoClientIP'), None
    if address in config.whitelist_ip:
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : client ip=%s, fqdn=%s whitelisted by WhitelistIP'
                       % (address, shown(hostname))), skipped_by='WhitelistIP'), None
    if config.whitelist_ptr.matches(hostname):
        return _reply(ACCEPT, None, None, None,
                      (INFO, 'SPF skip : client ip=%s, fqdn=%s whitelisted by WhitelistPTR'
                       % (address, shown(hostname))), skipped_by='WhitelistPTR'), None
    logs = ()
    spf_ip = config.client_ip_nat.get(address)
    if spf_ip is not None:
        logs = ((INFO, nat_log(address, spf_ip)),)
    elif config.fixed_client_ip:
        spf_ip = config.fixed_client_ip
    else:
        spf_ip = address
    connection = Connection(address, spf_ip, hostname, mta_name or DEFAULT_MTA_NAME)
    return Verdict(CONTINUE, logs=logs), connection


def nat_log(address, spf_ip):
    """C's line, two spaces and all; its number is the in_addr as a little-endian long."""
    parsed = parse_ip(spf_ip)
    number = '%d ' % int.from_bytes(parsed.packed, 'little') if parsed.version == 4 else ''
    return 'Found  NAT IP address. Original: %s . Final %s(%s)' % (address, number, spf_ip)


# -- addresses ------------------------------------------------------------------

def envelope_address(raw, relaxed_local_part):
    """The address between the first `<` and the last `>`, or None when it breaks
    the C milter's RFC 2821 checks (no @ outside a quoted local part, blank or control
    edges, long local part)."""
    address = headers.angle_bracketed(raw)
    if address is None or len(address) < 2:
        return None
    for edge in (address[0], address[-1]):
        if edge == ' ' or '\x07' <= edge <= '\x0d':
            return None
    mailbox = split_path(address)
    if mailbox is None:
        return None
    if not relaxed_local_part and len(mailbox.local) > MAX_LOCAL_PART:
        return None
    return address


def whitelisted_to(config, address):
    """Whether WhitelistTo matches the recipient `address` (as envelope_address gives it),
    read as split_path reads it."""
    mailbox = split_path(address)
    return config.whitelist_to.matches(mailbox.local, mailbox.domain)


# -- MAIL FROM ------------------------------------------------------------------

def skip_action(config):
    """What a message we do not SPF-check gets: ACCEPT ends filtering (as C did), unless
    forged Authentication-Results are to be removed at end of message."""
    return CONTINUE if config.remove_forged_auth_results else ACCEPT


def is_empty_sender(raw_from):
    """MAIL FROM:<> (a bounce), read as C read it: `<>` anywhere in the argument."""
    return '<>' in raw_from


def on_mail(config, connection, raw_from, helo, verify=None, auth_authen=None):
    """(Verdict, Mail or None) before any DNS: CONTINUE with a Mail means check SPF;
    no Mail means the message is not checked (its verdict may still continue to EOM)."""
    helo = helo or UNDEFINED_HELO
    skip = skip_action(config)
    if verify == 'OK':
        return _reply(skip, None, None, None,
                      (INFO, 'SPF skip : verified TLS client, from=%s' % shown(raw_from)),
                      skipped_by='TLS'), None
    if is_empty_sender(raw_from):
        if config.skip_ndr:
            return _reply(skip, None, None, None,
                          (INFO, 'SPF skip : empty sender, helo=%s, ip=%s'
                           % (shown(helo), connection.spf_ip)), skipped_by='SkipNDR'), None
        local, domain = helo_identity(helo)
        mail = Mail(raw_from, local, domain, 'helo', domain)
    else:
        address = envelope_address(raw_from, config.relaxed_local_part)
        if address is None:
            return _syntax_reject(config, '1.7', 'Sender', raw_from), None
        local, domain = mailfrom_identity(address)
        mail = Mail(raw_from, local, domain, 'mailfrom', helo)
    if config.skip_auth and auth_authen:
        return _reply(skip, None, None, None,
                      (INFO, 'SPF skip : username %s, from=%s' % (shown(auth_authen),
                                                                    shown(raw_from))),
                      skipped_by='SkipAuth'), None
    if mail.identity == 'mailfrom' and config.whitelist_from.matches(mail.local, mail.domain):
        return _reply(skip, None, None, None,
                      (INFO, 'SPF skip : from=%s whitelisted by WhitelistFrom' % shown(raw_from)),
                      skipped_by='WhitelistFrom'), None
    return Verdict(CONTINUE), mail


def unreadable_sender():
    """MAIL FROM that neither the callback nor the {mail_addr} macro let us read."""
    return _reply(TEMPFAIL, '451', '4.3.0', 'Sender address could not be read',
                  (NOTICE, 'MAIL FROM could not be read (not UTF-8, no {mail_addr}): '
                   '451 4.3.0'), rule='Unreadable')


def _syntax_reject(config, status, role, raw):
    text = '%s address does not conform to RFC-2821 syntax' % role
    if config.soft_fail:
        code, xcode = '450', '4.' + status
    else:
        code, xcode = '550', '5.' + status
    return _reply(REJECT if code == '550' else TEMPFAIL, code, xcode, text,
                  (NOTICE, '%s %s %s %s: %s' % (REFUSED, code, xcode, text, shown(raw))),
                  rule='Syntax')


def cache_key(connection, mail):
    """The result cache's key: client IP and the domain the identity was checked for."""
    return '%s|%s' % (connection.spf_ip, mail.domain)


def detailed_cache_key(connection, mail):
    """Key for results of records that expand %{l}, %{s} or %{h}: the whole sender
    and HELO too (NUL-separated: no MTA passes a NUL through libmilter)."""
    return '%s\0%s\0%s' % (cache_key(connection, mail), mail.sender, mail.helo)


def is_cacheable(result):
    return result != TEMPERROR


def _refusal(action, code, xcode, text, rule, result, details):
    """A refusal, logged `SPF refused: CODE XCODE by RULE (SPF RESULT), DETAILS`."""
    return _reply(action, code, xcode, text,
                  (NOTICE, '%s %s %s by %s (SPF %s), %s'
                   % (REFUSED, code, xcode, rule, result, details)), rule=rule)


def reject_reason(config, connection, mail, result, explanation=''):
    """The RejectReason text for `mail` and its SPF `result`; `explanation` is what %{exp}
    shows (a temperror's only as the short reason a client may learn)."""
    if result == TEMPERROR:
        explanation = headers.temperror_reason(explanation)
    return config.reject_reason.render(mail.sender, connection.spf_ip, connection.mta_name,
                                       mail.domain, mail.local, mail.helo, result, explanation)


def refuse(config, connection, mail, code_suffix, rule, result=FAIL, explanation='',
           label=None):
    """The refusal of `mail` by `rule` for its SPF `result` (logged as `label`, or the
    result): 550 5.<code_suffix> with the RejectReason text, or 450 4.<code_suffix> with
    SoftFail on. An empty sender's as RefuseFailEmptySender says: refused so, tempfailed
    (450), or let through (tag: the headers and Subject tag of mail not refused)."""
    text = reject_reason(config, connection, mail, result, explanation)
    details = 'ip=%s, from=%s' % (connection.spf_ip, shown(mail.raw_from))
    empty_sender = (config.refuse_fail_empty_sender != EMPTY_SENDER_REFUSE
                    and mail.identity == 'helo' and is_empty_sender(mail.raw_from))
    if empty_sender:
        details += ', helo=%s, RefuseFailEmptySender %s' % (
            shown(mail.helo), config.refuse_fail_empty_sender)
    if config.soft_fail or empty_sender:
        code, xcode, action = '450', '4.' + code_suffix, TEMPFAIL
    else:
        code, xcode, action = '550', '5.' + code_suffix, REJECT
    if empty_sender and config.refuse_fail_empty_sender == EMPTY_SENDER_TAG:
        if not config.soft_fail:
            code, xcode = '550', '5.' + code_suffix
        return _reply(CONTINUE, None, None, None,
                      (NOTICE, 'SPF not refused: empty sender, would be %s %s by %s (SPF %s), '
                               '%s' % (code, xcode, rule, label or result, details)),
                      rule=rule)
    return _refusal(action, code, xcode, text, rule, label or result, details)


def spf_result_log(result, cached, connection, mail):
    """The one `SPF <result>: ...` line per decision, at C's levels: info for a cache hit
    and for none, notice for a fresh result."""
    level = INFO if cached or result == NONE else NOTICE
    return (level, result_line('SPF', result, cached, connection, mail))


def result_line(label, result, cached, connection, mail):
    """`<label> <result>[ (cached)]: ip=..., fqdn=..., helo=..., from=...`: the layout
    of every line that states an SPF result."""
    return ('%s %s%s: ip=%s, fqdn=%s, helo=%s, from=%s'
            % (label, result, ' (cached)' if cached else '', connection.spf_ip,
               shown(connection.hostname), shown(mail.helo), shown(mail.raw_from)))


def after_spf(config, connection, mail, result, explanation=''):
    """Verdict at MAIL FROM once the SPF result is known (fresh or cached).

    With SPFBestGuess on, `none` is never refused: in C the best-guess result stood in
    for it before the RefuseSPFNone checks (no guess is evaluated here)."""
    if result == NONE and not config.spf_best_guess:
        if config.refuse_spf_none and mail.identity == 'mailfrom':
            text = 'Sorry %s, we only accept mail from SPF enabled domains.' % mail.sender
            return _refusal(REJECT, '550', '5.7.1', text, 'RefuseSPFNone', NONE,
                            'from=%s' % shown(mail.raw_from))
        if config.refuse_spf_none_helo and mail.identity == 'helo':
            text = ('Sorry %s, we only accept empty senders from enabled servers '
                    '(HELO identity)' % mail.sender)
            return _refusal(REJECT, '550', '5.7.1', text, 'RefuseSPFNoneHelo', NONE,
                            'from=%s, helo=%s' % (shown(mail.raw_from), shown(mail.helo)))
    if result == TEMPERROR and not config.accept_temp_error:
        text = 'Found a problem processing SFP for %s. Error: %s' % (
            mail.sender, headers.temperror_reason(explanation))
        return _refusal(TEMPFAIL, '451', '4.4.3', text, 'AcceptTempError off', TEMPERROR,
                        'from=%s: %s' % (shown(mail.raw_from), shown(explanation)))
    if result == FAIL and config.refuse_fail and not len(config.whitelist_to):
        return refuse(config, connection, mail, '7.23', 'RefuseFail', explanation=explanation)
    return Verdict(CONTINUE)


# -- RCPT TO --------------------------------------------------------------------

def on_rcpt(config, connection, mail, result, raw_rcpt, explanation=''):
    """(Verdict, quarantine) for one recipient; quarantine means redirect it at the end.
    `explanation`: the SPF result's, for RejectReason's %{exp}."""
    address = envelope_address(raw_rcpt, config.relaxed_local_part)
    if address is None:
        return _syntax_reject(config, '1.3', 'Recipient', raw_rcpt), False
    if len(config.whitelist_to):
        if whitelisted_to(config, address):
            return _reply(CONTINUE, None, None, None,
                          (INFO, 'SPF skip : to=%s whitelisted by WhitelistTo' % shown(raw_rcpt)),
                          skipped_by='WhitelistTo'), False
        if result == FAIL and config.refuse_fail:
            return refuse(config, connection, mail, '1.1', 'RefuseFail',
                          explanation=explanation), False
    quarantine = config.quarantine and result in (FAIL, SOFTFAIL)
    return Verdict(CONTINUE), quarantine


# -- end of message -------------------------------------------------------------

AUTHENTICATION_RESULTS = 'Authentication-Results'


def our_authserv_ids(config, connection):
    """The authserv-ids this host writes and answers for, lower-cased."""
    ids = [config.authserv_id or connection.mta_name] + list(config.authserv_id_aliases)
    return frozenset(ascii_lower(one) for one in ids)


def forged_auth_results(config, connection, values):
    """(index, authserv-id) of each incoming Authentication-Results value (in order of
    arrival; index 1-based among them) that claims one of our authserv-ids, highest index
    first, so deleting one never shifts the index of the next (RFC 8601 section 5)."""
    if not values or not config.remove_forged_auth_results or connection is None:
        return ()      # no connection: skipped at connect, a trusted internal MTA (RFC 8601 5)
    ours = our_authserv_ids(config, connection)
    found = []
    for index, value in enumerate(values, 1):
        for claimed in headers.authserv_ids_claimed(value):
            if ascii_lower(claimed) in ours:
                found.append((index, claimed))
                break
    return tuple(reversed(found))


def header_helo(mail):
    """The HELO name the headers report, or None to leave it out: a client that gave no
    HELO (Sendmail takes MAIL FROM without one) has none to report. C's stand-in,
    `undefined`, stays in the log lines (as C wrote them) and in the check (as C's);
    a client that says `HELO undefined` names no host either."""
    return None if mail.helo.lower() == UNDEFINED_HELO else mail.helo


def on_eom(config, connection, mail, result, subject, quarantined, auth_results=(),
           headers_unseen=False, trusted_forwarder_ip=None, helo_check=None):
    """The edits to make, in order: forged Authentication-Results removed, Subject tag,
    headers, quarantine. No mail: a message we did not check; only the removal applies.
    headers_unseen: a header may have been withheld (by pymilter), so a Subject not seen
    may still be there; none is added then (two Subject fields are worse than no tag).
    trusted_forwarder_ip, helo_check: what policy beyond C adds to Authentication-Results
    (extra_rules.auth_results_additions)."""
    # deletions go first: Postfix counts a header a milter inserted in the same EOM when
    # it resolves a later chgheader index (index 1 after our insert at 0 is ours)
    edits = [Edit(DEL_HEADER, AUTHENTICATION_RESULTS, claimed, index)
             for index, claimed in forged_auth_results(config, connection, auth_results)]
    if mail is None:
        return edits
    if config.tag_subject and result in (FAIL, SOFTFAIL):
        if subject is None:
            if not headers_unseen:
                edits.append(Edit(ADD_HEADER, 'Subject', config.tag))
        else:
            edits.append(Edit(CHG_HEADER, 'Subject', headers.tagged_subject(config.tag, subject),
                              1))
    helo = header_helo(mail)
    if config.add_header:
        edits.append(Edit(INS_HEADER, AUTHENTICATION_RESULTS, headers.authentication_results(
            config.authserv_id or connection.mta_name, result, mail.mailbox, helo,
            trusted_forwarder_ip, helo_check), 0))
    if config.add_received_header:
        edits.append(Edit(ADD_HEADER, 'Received-SPF', headers.received_spf(
            result, connection.mta_name, mail.sender, connection.spf_ip, mail.identity,
            mail.raw_from, helo)))
        if helo_check is not None:      # RFC 7208 section 9.1: one for each identity
            helo_result, helo_name = helo_check
            edits.append(Edit(ADD_HEADER, 'Received-SPF', headers.received_spf(
                helo_result, connection.mta_name, identity_text(POSTMASTER, helo_name),
                connection.spf_ip, 'helo', mail.raw_from, helo)))
    if quarantined:
        # the quarantine box first: a recipient is only removed once it is there
        edits.append(Edit(ADD_RCPT, value=config.quarantine_box))
        for rcpt in quarantined:
            edits.append(Edit(ADD_HEADER, 'X-SPF-Original-To',
                              headers.original_recipient(rcpt), needs_quarantine_box=True))
            edits.append(Edit(DEL_RCPT, value=rcpt, needs_quarantine_box=True))
    return edits
