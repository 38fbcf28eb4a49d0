"""The HELO identity (RFC 7208 section 2.3), checked on its own beside MAIL FROM.

With CheckHelo (or RefuseHeloFail) on, every message gets a second SPF result: the one
for the domain the client gave in HELO/EHLO, evaluated as `postmaster@<helo>`, exactly
as an empty sender's is.  Pure functions; smf_spf.policy.mail_from runs the check through
the same result cache as MAIL FROM.
"""

from smf_spf.mailbox import helo_identity, malformed_domain
from smf_spf.c_rules import INFO, NOTICE, Mail, result_line, shown

# seconds: a HELO check is not started with less left of SPFTimeout
MIN_BUDGET = 1.0
# why the HELO identity's result is temperror when MAIL FROM's check left no time for it
OUT_OF_TIME = 'no time left of SPFTimeout after MAIL FROM'


def wanted(config):
    """Whether the HELO identity is checked at all."""
    return config.check_helo or config.refuse_helo_fail


def checkable(helo):
    """RFC 7208 section 2.3: only a multi-label domain name can be checked; an address
    literal, a bare word or a malformed name (and `undefined`, no HELO) cannot."""
    return malformed_domain(helo) is None


def identity(config, mail):
    """(Mail, logs): the Mail to evaluate for the HELO identity, `mail` itself when it
    already is the HELO identity (empty sender), None when HELO is not checked or cannot
    be (then logs say why)."""
    if not wanted(config):
        return None, ()
    if mail.identity == 'helo':
        return mail, ()
    local, domain = helo_identity(mail.helo)
    if not checkable(domain):
        return None, ((INFO, 'SPF helo skipped: helo=%s is not a domain name (RFC 7208 '
                             'section 2.3), from=%s' % (shown(mail.helo), shown(mail.raw_from))),)
    return Mail(mail.raw_from, local, domain, 'helo', domain), ()


def result_log(result, cached, connection, helo_mail):
    """`SPF helo <result>: ...`, worded apart from the MAIL FROM line (`SPF <result>:`), so
    a count of those stays one per message."""
    return (NOTICE if not cached else INFO,
            result_line('SPF helo', result, cached, connection, helo_mail))


def budget(config, elapsed):
    """Seconds the HELO check may take: what the MAIL FROM check (`elapsed` seconds) left
    of SPFTimeout, so that both answer MAIL FROM within it, below the MTA's milter
    timeout; None when less than MIN_BUDGET (or a shorter SPFTimeout) is left."""
    left = config.spf_timeout - elapsed
    return left if left >= min(MIN_BUDGET, config.spf_timeout) else None


def out_of_time_log(connection, helo_mail):
    return (NOTICE, 'SPF helo temperror: %s, ip=%s, helo=%s, from=%s'
            % (OUT_OF_TIME, connection.spf_ip, shown(helo_mail.helo),
               shown(helo_mail.raw_from)))
