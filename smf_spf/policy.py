"""Pure decisions, one per SMTP stage: connection facts + config (+ SPF results) -> all
the adapter needs to answer the MTA, log and count.

Each stage applies the C milter's rules (smf_spf.c_rules), then those beyond C
(smf_spf.extra_rules).  MAIL FROM needs SPF results: mail_from() describes each lookup
(SpfLookup) and calls the `evaluate` it is given, the adapter's way to the cache and the
DNS, so the decision itself still touches neither the DNS nor the clock.
"""

from typing import NamedTuple, Optional, Tuple

from smf_spf import c_rules, extra_rules, helo as helo_identity
from smf_spf.c_rules import CONTINUE, Mail, Verdict
from smf_spf.extra_rules import NO_STATE, MessageState
from smf_spf.mailbox import Mailbox
from smf_spf.outcomes import TEMPERROR


class SpfLookup(NamedTuple):
    """One SPF evaluation to run through the result cache."""
    key: str                    # the result cache's key
    detailed_key: str           # its key for records that expand %{l}, %{s} or %{h}
    ip: str
    identity: Mailbox
    helo: str
    timeout: Optional[float]    # seconds; None: SPFTimeout


class Evaluation(NamedTuple):
    """What `evaluate` found for one SpfLookup."""
    result: str
    explanation: str
    cached: bool
    seconds: Optional[float]    # how long it took; None: not run (no time left)


class MailDecision(NamedTuple):
    """MAIL FROM's answer and what the message's later stages need."""
    verdict: Verdict
    mail: Optional[Mail]        # the identity checked; None: the message is not checked
    result: Optional[str]       # its SPF result
    explanation: str
    state: MessageState
    evaluations: Tuple[Tuple[str, Evaluation], ...] = ()   # (identity, Evaluation) made


class RcptDecision(NamedTuple):
    verdict: Verdict
    state: MessageState
    quarantine: bool            # redirect this recipient to the quarantine box at the end


def connect(config, client_ip, hostname, mta_name):
    """(Verdict, Connection or None) for a new SMTP client: None when it is not checked."""
    return c_rules.on_connect(config, client_ip, hostname, mta_name)


def _lookup(connection, mail, timeout=None):
    return SpfLookup(c_rules.cache_key(connection, mail),
                     c_rules.detailed_cache_key(connection, mail), connection.spf_ip,
                     mail.mailbox, mail.helo, timeout)


def mail_from(config, connection, raw_from, helo, verify, auth_authen, evaluate):
    """MAIL FROM, `raw_from` as given (None: it could not be read), with the SPF checks
    it needs: `evaluate(SpfLookup) -> Evaluation`, for the sender's identity and then,
    with CheckHelo, the HELO identity's in what the first left of SPFTimeout."""
    if raw_from is None:
        return MailDecision(c_rules.unreadable_sender(), None, None, '', NO_STATE)
    verdict, mail = c_rules.on_mail(config, connection, raw_from, helo, verify, auth_authen)
    if mail is None:
        return MailDecision(extra_rules.dry_run(config, verdict,
                                                instead=c_rules.skip_action(config)),
                            None, None, '', NO_STATE)
    checked = evaluate(_lookup(connection, mail))
    evaluations = [(mail.identity, checked)]
    logs = [c_rules.spf_result_log(checked.result, checked.cached, connection, mail)]
    helo_mail, helo_logs = helo_identity.identity(config, mail)
    logs.extend(helo_logs)
    helo_checked = None
    if helo_mail is mail:       # an empty sender: its identity is the HELO identity
        helo_checked = checked
    elif helo_mail is not None:
        timeout = helo_identity.budget(config, checked.seconds)
        if timeout is None:
            logs.append(helo_identity.out_of_time_log(connection, helo_mail))
            helo_checked = Evaluation(TEMPERROR, helo_identity.OUT_OF_TIME, False, None)
        else:
            helo_checked = evaluate(_lookup(connection, helo_mail, timeout))
            logs.append(helo_identity.result_log(helo_checked.result, helo_checked.cached,
                                                 connection, helo_mail))
        evaluations.append(('helo', helo_checked))
    verdict = c_rules.after_spf(config, connection, mail, checked.result, checked.explanation)
    verdict, state = extra_rules.at_mail(
        config, connection, mail, checked.result, helo_mail,
        helo_checked and helo_checked.result, verdict, checked.explanation,
        helo_checked and helo_checked.explanation)
    return MailDecision(verdict._replace(logs=tuple(logs) + verdict.logs), mail,
                        checked.result, checked.explanation, state, tuple(evaluations))


def rcpt_to(config, connection, mail, result, explanation, state, raw_rcpt):
    """RCPT TO of a checked message (`mail`, its SPF `result` and `explanation`, the
    MessageState MAIL FROM left)."""
    verdict, quarantine = c_rules.on_rcpt(config, connection, mail,
                                          extra_rules.rcpt_result(state, result), raw_rcpt,
                                          explanation)
    verdict, state = extra_rules.at_rcpt(config, state, verdict, raw_rcpt)
    return RcptDecision(verdict, state, quarantine and verdict.action == CONTINUE)


def end_of_message(config, connection, mail, result, state, subject, quarantined,
                   auth_results, headers_unseen):
    """The edits to make, in order (smf_spf.c_rules.on_eom says which and why); `mail`
    None: a message not checked, whose forged Authentication-Results may still go."""
    forwarder_ip, helo_check = extra_rules.auth_results_additions(connection, mail, state)
    return extra_rules.at_eom(state, c_rules.on_eom(
        config, connection, mail, result, subject, quarantined, auth_results, headers_unseen,
        forwarder_ip, helo_check))

