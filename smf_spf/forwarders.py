"""TrustedForwarder: the forwarders and backup MXs whose mail is never refused for SPF.

Lines are client networks (CIDR, IPv4 or IPv6) or host names; a host name stands for
itself and the names under it, matched on whole labels (mx.example.net is not
evilmx.example.net), against the MTA's name for the client; a leading dot changes nothing.
"""

from smf_spf.cidr import CidrSet
from smf_spf.ipaddr import parse_ip
from smf_spf.mailbox import is_host_name
from smf_spf.match import DomainMatcher


class TrustedForwarders(object):
    __slots__ = ('networks', 'names')

    def __init__(self, networks=CidrSet(()), names=DomainMatcher(())):
        self.networks = networks
        self.names = names     # each without a leading dot: itself and the names under it

    def __len__(self):
        return len(self.networks) + len(self.names)

    def why(self, client_ip, hostname):
        """What makes the client a trusted forwarder (`ip=...` or `fqdn=...`), or None."""
        if not self:        # none configured, the usual case: nothing to look up per message
            return None
        if client_ip in self.networks:
            return 'ip=%s' % client_ip
        if self.names.matches(hostname):
            return 'fqdn=%s' % hostname
        return None


NONE = TrustedForwarders()


def _is_ascii(text):
    """The MTA names a client by its PTR name, in ASCII (A-labels)."""
    return all(ord(char) < 128 for char in text)


def parse(entries, report):
    """TrustedForwarders from (line, value) pairs; report(line, reason) for each bad one."""
    networks = []
    names = []
    for line_no, value in entries:
        if '/' in value or parse_ip(value) is not None:
            networks.append((line_no, value))
        elif _is_ascii(value) and is_host_name(value.strip('.'), numeric_top_label=False):
            names.append(value.strip('.'))
        else:
            report(line_no, 'TrustedForwarder %r is neither an IP network nor a host name, '
                            'line ignored' % value)

    def bad_network(index, entry, message):
        report(networks[index][0], 'TrustedForwarder %s, line ignored' % message)

    return TrustedForwarders(CidrSet([v for _, v in networks], on_error=bad_network),
                             DomainMatcher(names))
