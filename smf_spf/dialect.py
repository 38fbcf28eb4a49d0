"""Keys of the other smf-spf line, the fork at github redvw/smf-spf (2.1.0), read here.

Its configs carry keys the jcbf line never had (WhitelistIP6, RejectPermError,
RejectTempError, AddAuthResultHeader) and booleans spelt yes/no/true/false as well as
on/off.  Each is read as the key of ours that does the same, and the config check says
how (config.parse_lines reports the note for the line).
"""


class DialectError(ValueError):
    """A value the fork's key cannot take."""


_TRUE = ('on', 'yes', 'true')
_FALSE = ('off', 'no', 'false')


def boolean(value):
    """The fork's on/off words: on, yes, true / off, no, false (any case)."""
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise DialectError('expected on/yes/true or off/no/false, got %r' % value)


def inverse_boolean(value):
    """RejectTempError on is AcceptTempError off."""
    return not boolean(value)


def auth_result_header(value):
    """AddAuthResultHeader on|off|verbose: whether to add Authentication-Results."""
    if value.lower() == 'verbose':
        return True
    return boolean(value)


# the fork's keys that have no counterpart here, and why they need none
IGNORED = {
    'delaychecks': 'the check is made at MAIL FROM; AcceptPostmaster on makes its '
                   'refusals at RCPT TO',
    'addsignatureheader': 'no X-SPF-Scan-By header is added here',
    'wrapheader': 'headers are folded as smf-spf (jcbf) folds them',
    'headerwidth': 'headers are folded as smf-spf (jcbf) folds them',
}
_RECEIVED_SPF_FORMAT = ('result', 'description', 'verbose', 'receiver', 'clientip', 'ip',
                        'envfrom', 'helo')


def ignored(key):
    """Why a key of the fork's is ignored here, or None."""
    why = IGNORED.get(key.lower())
    if why is None:
        return None
    return '%s (smf-spf redvw fork) has no effect: %s; line ignored' % (key, why)


def hint(key, value):
    """More to say about a value our key refused, when it is the fork's, or ''."""
    tokens = [token.strip().lower() for token in value.split(',')]
    if key.lower() == 'addheader' and all(token in _RECEIVED_SPF_FORMAT for token in tokens):
        return ('; in the smf-spf redvw fork, AddHeader %s chose the Received-SPF fields: '
                'here write AddReceivedHeader on (and AddHeader for Authentication-Results)'
                % value)
    return ''


def note(key, value, parsed=None):
    """How a line of the fork's dialect is read here, or None for a key of ours."""
    lowered = key.lower()
    if lowered == 'whitelistip6':
        return ('%s (smf-spf redvw fork) is read as WhitelistIP, which takes IPv4 and IPv6 '
                'networks alike' % key)
    if lowered == 'rejectpermerror':
        return ('%s %s (smf-spf redvw fork): SPF permerror is %s (redvw answered '
                '550 5.5.2)' % (key, value, 'refused with 550 5.7.24, or 450 4.7.24 with '
                                'SoftFail on, and the RejectReason text' if parsed
                                else 'not refused'))
    if lowered == 'rejecttemperror':
        return ('%s %s (smf-spf redvw fork) is read as AcceptTempError %s%s'
                % (key, value, 'on' if parsed else 'off',
                   '' if parsed else ': SPF temperror is answered 451 4.4.3'))
    if lowered == 'addauthresultheader':
        return ('%s %s (smf-spf redvw fork) is read as AddHeader %s%s'
                % (key, value, 'on' if parsed else 'off',
                   ': Authentication-Results is inserted as the first header%s'
                   % (' (verbose: without the explanation comment)'
                      if value.lower() == 'verbose' else '') if parsed else ''))
    return None
