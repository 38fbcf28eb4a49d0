"""Policy beyond the C milter, as pure functions around c_rules.py's verdicts.

- per-result refusals: RefuseSoftFail, RejectPermError, RefuseHeloFail (SoftFail makes
  them 4xx, as for RefuseFail);
- TrustedForwarder: a forwarder's or backup MX's mail is checked and reported, never
  refused, tagged or quarantined for SPF;
- AcceptPostmaster on: an SPF refusal decided at MAIL FROM is carried out at RCPT TO, so
  that mail to postmaster (RFC 5321 section 4.5.1) is accepted while every other
  recipient gets the refusal MAIL FROM would have had; off (the default): at MAIL FROM,
  as C did;
- DryRun: every refusal is decided and logged as what it would have been, none is made.
- RefuseNotPass: mail claiming a listed domain (or a name below it) must get SPF pass;
  any other result but temperror (which AcceptTempError answers) is refused, for the
  HELO identity too when it is checked;
- WhitelistTo: as C refuses a fail per recipient when it is set, so are this policy's
  refusals: decided at MAIL FROM, made at each RCPT TO that WhitelistTo does not name.

smf_spf.policy applies them after C's rules at each stage; the adapter keeps the
MessageState it returns for the message and hands it back at the next stage.
"""

from typing import NamedTuple, Optional

from smf_spf import c_rules, headers
from smf_spf.mailbox import POSTMASTER, ascii_lower, domain_key, split_path
from smf_spf.outcomes import FAIL, PASS, PERMERROR, SOFTFAIL, TEMPERROR
from smf_spf.c_rules import CONTINUE, NOTICE, REJECT, TEMPFAIL, Verdict, shown

REFUSALS = (REJECT, TEMPFAIL)
# what RefuseNotPass lets through: a pass, and a temperror (AcceptTempError decides)
NOT_REFUSED_FOR_NOT_PASS = (PASS, TEMPERROR)


class MessageState(NamedTuple):
    helo_result: Optional[str] = None     # the HELO identity's result; None: not checked
    helo: Optional[str] = None            # the HELO name that result is for
    pending: Optional[Verdict] = None     # the refusal MAIL FROM decided, made at RCPT TO
    trusted: Optional[str] = None         # why the client is a TrustedForwarder


NO_STATE = MessageState()


# -- what refuses ------------------------------------------------------------------

def result_refusal(config, connection, mail, result, helo_mail, helo_result,
                   explanation='', helo_explanation=''):
    """The refusal of this policy's keys for a message C's rules let through, or None.
    Codes as RFC 7372 names them: 5.7.23 for an SPF fail (MAIL FROM or HELO), 5.7.24 for an
    SPF error; softfail, which RFC 7208 has no code for, the generic 5.7.1. The
    explanations are each identity's, for RejectReason's %{exp}."""
    if result == SOFTFAIL and config.refuse_softfail:
        return c_rules.refuse(config, connection, mail, '7.1', 'RefuseSoftFail', SOFTFAIL,
                             explanation)
    if result == PERMERROR and config.reject_perm_error:
        return c_rules.refuse(config, connection, mail, '7.24', 'RejectPermError', PERMERROR,
                             explanation)
    if helo_result == FAIL and config.refuse_helo_fail:
        return c_rules.refuse(config, connection, helo_mail, '7.23', 'RefuseHeloFail',
                             FAIL, helo_explanation, label='helo fail')
    if result not in NOT_REFUSED_FOR_NOT_PASS and must_pass(config, mail.domain):
        return c_rules.refuse(config, connection, mail, '7.23', 'RefuseNotPass', result,
                             explanation)
    if (helo_mail is not None and helo_mail is not mail
            and helo_result not in NOT_REFUSED_FOR_NOT_PASS
            and must_pass(config, helo_mail.domain)):
        return c_rules.refuse(config, connection, helo_mail, '7.23', 'RefuseNotPass',
                             helo_result, helo_explanation, label='helo ' + helo_result)
    return None


def must_pass(config, domain):
    """RefuseNotPass: `domain` is a listed domain or a name below it (whole labels)."""
    return bool(len(config.refuse_not_pass)) and config.refuse_not_pass.matches(
        domain_key(domain))


def trusted_forwarder(config, connection):
    """Why the client is a TrustedForwarder (its address or its host name), or None."""
    return config.trusted_forwarders.why(connection.client_ip, connection.hostname)


def is_postmaster(raw_rcpt):
    """RCPT TO:<postmaster> or <postmaster@any.domain>, in any case (RFC 5321 4.5.1)."""
    address = headers.angle_bracketed(raw_rcpt)
    if address is None:
        return False
    mailbox = split_path(address)
    local = address if mailbox is None else mailbox.local
    return ascii_lower(local) == POSTMASTER


def _whitelisted_to(config, raw_rcpt):
    address = c_rules.envelope_address(raw_rcpt, config.relaxed_local_part)
    return address is not None and c_rules.whitelisted_to(config, address)


def _code(verdict):
    return '%s %s' % (verdict.code, verdict.xcode)


# -- stages ------------------------------------------------------------------------

def at_mail(config, connection, mail, result, helo_mail, helo_result, verdict,
            explanation='', helo_explanation=''):
    """(Verdict for MAIL FROM, MessageState), given c_rules.after_spf's verdict.

    A refusal is made here, as C did, or with AcceptPostmaster on kept for RCPT TO; a
    TrustedForwarder's is dropped."""
    per_recipient = False
    # a rule that decided and let through (RefuseFailEmptySender tag) is not asked again
    if verdict.action not in REFUSALS and verdict.rule is None:
        refusal = result_refusal(config, connection, mail, result, helo_mail, helo_result,
                                 explanation, helo_explanation)
        if refusal is not None:
            verdict, per_recipient = refusal, bool(len(config.whitelist_to))
    trusted = trusted_forwarder(config, connection)
    state = MessageState(helo_result, helo_mail.helo if helo_mail else None, None, trusted)
    if trusted is not None:
        acted = verdict.action in REFUSALS or result in (FAIL, SOFTFAIL)
        if not acted:
            return Verdict(CONTINUE), state
        return Verdict(CONTINUE, logs=((NOTICE, 'SPF not refused: client %s is a '
                                        'TrustedForwarder (SPF %s%s), from=%s'
                                        % (shown(trusted), result, ', would be %s'
                                           % _code(verdict) if verdict.action in REFUSALS
                                           else '', shown(mail.raw_from))),)), state
    if verdict.action in REFUSALS and (config.accept_postmaster or per_recipient):
        return Verdict(CONTINUE), state._replace(pending=verdict)
    return dry_run(config, verdict), state


def rcpt_result(state, result):
    """The SPF result on_rcpt acts on (C's per-recipient refusal, Quarantine): none for a
    TrustedForwarder."""
    return None if state.trusted is not None else result


def at_rcpt(config, state, verdict, raw_rcpt):
    """(Verdict for this RCPT TO, MessageState), given c_rules.on_rcpt's verdict."""
    if config.accept_postmaster and is_postmaster(raw_rcpt):
        refusal = verdict if verdict.action in REFUSALS else state.pending
        if refusal is None:
            return verdict, state
        return Verdict(CONTINUE, logs=((NOTICE, 'SPF not refused: to=%s, mail to postmaster '
                                        'is accepted (RFC 5321 section 4.5.1), would be %s'
                                        % (shown(raw_rcpt), _code(refusal))),)), state
    if (verdict.action == CONTINUE and state.pending is not None
            and not _whitelisted_to(config, raw_rcpt)):
        # logged with the first recipient it refuses, once
        verdict = state.pending
        state = state._replace(pending=verdict._replace(logs=()))
    return dry_run(config, verdict), state


def dry_run(config, verdict, instead=CONTINUE):
    """DryRun: a refusal becomes `instead`, logged and marked as what it would have been."""
    if not config.dry_run or verdict.action not in REFUSALS:
        return verdict
    would = 'refuse' if verdict.action == REJECT else 'tempfail'
    return Verdict(instead, logs=tuple((level, _would(would, message))
                                       for level, message in verdict.logs), dry_run=would,
                   rule=verdict.rule)


def _would(would, message):
    """A refusal's log line as DryRun writes it: `SPF would refuse (DryRun): 550 ...`, so
    that a count of `SPF refused:` lines stays a count of refusals."""
    if message.startswith(c_rules.REFUSED):
        message = message[len(c_rules.REFUSED):].lstrip()
    return 'SPF would %s (DryRun): %s' % (would, message)


def auth_results_additions(connection, mail, state):
    """(trusted_forwarder_ip, helo_check) for c_rules.on_eom's Authentication-Results:
    the client's IP when a TrustedForwarder's mail was let through, and the HELO
    identity's (result, name) when it was checked beside a sender's MAIL FROM (an empty
    sender's one resinfo already is the HELO identity's)."""
    forwarder_ip = connection.client_ip if state.trusted is not None else None
    checked = (mail is not None and mail.identity == 'mailfrom'
               and state.helo_result is not None)
    return forwarder_ip, (state.helo_result, state.helo) if checked else None


def at_eom(state, edits):
    """c_rules.on_eom's edits for this policy: a TrustedForwarder's Subject is not
    tagged."""
    if state.trusted is None:
        return edits
    return [edit for edit in edits if edit.name != 'Subject']
