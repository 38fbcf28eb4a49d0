"""Header field values the milter adds: Authentication-Results and Received-SPF."""

# RFC 7208 section 2.6 result -> the word Received-SPF starts with
_RECEIVED_SPF_WORD = {
    'pass': 'Pass', 'fail': 'Fail', 'softfail': 'SoftFail', 'neutral': 'Neutral',
    'none': 'None', 'temperror': 'TempError', 'permerror': 'PermError',
}


def authentication_results(authserv_id, result, sender, helo):
    """RFC 8601 value; temperror and permerror are written as such (C wrote none)."""
    return '%s; spf=%s smtp.mailfrom=%s smtp.helo=%s' % (authserv_id, result, sender, helo)


def _comment(result, receiver, sender, ip):
    if result == 'pass':
        return '%s: domain of %s\n\tdesignates %s as permitted sender' % (receiver, sender, ip)
    if result == 'fail':
        return '%s: domain of %s\n\tdoes not designate %s as permitted sender' % (
            receiver, sender, ip)
    if result == 'softfail':
        return '%s: transitioning domain of %s\n\tdoes not designate %s as permitted sender' % (
            receiver, sender, ip)
    if result == 'neutral':
        return '%s: %s is neither permitted\n\tnor denied by domain of %s' % (receiver, ip, sender)
    if result == 'temperror':
        return '%s: error in processing during lookup of %s' % (receiver, sender)
    if result == 'permerror':
        return '%s: permanent error in processing domain of %s' % (receiver, sender)
    return '%s: domain of %s\n\tdoes not designate permitted sender hosts' % (receiver, sender)


def received_spf(result, receiver, sender, ip, identity, raw_from, helo):
    """Received-SPF value in the C milter's folded layout; `<` and `>` of the
    envelope-from become `"` (what OpenDMARC parses)."""
    envelope_from = raw_from.replace('<', '"').replace('>', '"')
    return ('%s (%s)\n\treceiver=%s; client-ip=%s; identity=%s;\n\tenvelope-from=%s; helo=%s;'
            % (_RECEIVED_SPF_WORD.get(result, 'None'), _comment(result, receiver, sender, ip),
               receiver, ip, identity, envelope_from, helo))


def authentication_results_extended(value, trusted_forwarder_ip, helo_result, helo):
    """Authentication-Results with what policy beyond C adds: `policy.trusted-forwarder`
    on the MAIL FROM resinfo when a TrustedForwarder's mail was not acted on, and the HELO
    identity's own resinfo after it (parsers that want one spf result take the first)."""
    if trusted_forwarder_ip is not None:
        address = trusted_forwarder_ip
        if ':' in address:
            address = '"%s"' % address
        value = '%s policy.trusted-forwarder=%s' % (value, address)
    if helo_result is not None:
        value = '%s; spf=%s smtp.helo=%s' % (value, helo_result, helo)
    return value
