"""A small authoritative DNS server on loopback UDP that answers after a delay.

Test tool only: answers A, TXT, PTR and CNAME chains from a dict, NXDOMAIN otherwise; names listed in
`silent` are never answered, names in `servfail` get SERVFAIL; with `negative_ttl`, an answer
without data carries its top-level zone's SOA, as an authoritative server's does.  Each query is answered from its
own timer thread, so a slow answer does not hold up the next query. It listens on a free
port of `host` unless given `port` (53 for a daemon, whose Nameservers take no port).
"""

import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class SlowDns(object):
    def __init__(self, records, delay=0.0, silent=(), host='127.0.0.1', servfail=(),
                 negative_ttl=None, port=0):
        self.records = dict(((name.lower(), rtype), values)
                            for (name, rtype), values in records.items())
        self.delay = delay
        self.silent = set(name.lower() for name in silent)
        self.servfail = set(name.lower() for name in servfail)
        self.negative_ttl = negative_ttl
        self.asked = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.host = host
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self._timers = []
        self._thread = threading.Thread(target=self._serve)
        self._thread.daemon = True
        self._running = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._running = False
        for timer in self._timers:
            timer.cancel()
        self.sock.close()

    def _serve(self):
        while self._running:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                continue
            question = query.question[0]
            name = question.name.to_text(True).lower()
            rtype = dns.rdatatype.to_text(question.rdtype)
            self.asked.append((name, rtype))
            if name in self.silent:
                continue
            timer = threading.Timer(self.delay, self._answer, (query, name, rtype, peer))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def _answer(self, query, name, rtype, peer):
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            self._send(response, peer)
            return
        owner = name
        for _ in range(8):   # CNAMEs followed in the answer, loops cut short as nsd does
            target = self.records.get((owner, 'CNAME'))
            if not target or rtype == 'CNAME':
                break
            response.answer.append(dns.rrset.from_text_list(
                owner + '.', 60, dns.rdataclass.IN, 'CNAME', [target[0] + '.']))
            owner = target[0].lower()
        values = self.records.get((owner, rtype))
        if values:
            if rtype == 'TXT':
                values = ['"%s"' % value for value in values]
            elif rtype in ('PTR', 'CNAME'):
                values = [value + '.' for value in values]
            response.answer.append(dns.rrset.from_text_list(
                owner + '.', 60, dns.rdataclass.IN, rtype, values))
        elif not response.answer and not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        if not values and self.negative_ttl is not None:
            # the asked name's top label is the zone (as a Name: its text may hold escapes)
            zone = dns.name.Name(query.question[0].name.labels[-2:])
            soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA,
                                      'ns hostmaster 1 3600 600 86400 %d' % self.negative_ttl,
                                      origin=zone, relativize=False)
            response.authority.append(dns.rrset.from_rdata(zone, self.negative_ttl, soa))
        self._send(response, peer)

    def _send(self, response, peer):
        try:
            self.sock.sendto(response.to_wire(), peer)
        except OSError:
            pass

    def resolver(self, timeout):
        """Point the default resolver (pyspf's) at this server as the daemon would."""
        from smf_spf import spfcheck
        return point_resolver([self], timeout)


def point_resolver(servers, timeout):
    """The daemon's resolver set-up (Nameservers, SPFTimeout), aimed at these servers."""
    from smf_spf import spfcheck
    resolver = spfcheck.use_nameservers([server.host for server in servers], timeout)
    resolver.port = servers[0].port
    if hasattr(resolver, 'nameserver_ports'):
        resolver.nameserver_ports = dict((server.host, server.port) for server in servers)
    return resolver
