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
