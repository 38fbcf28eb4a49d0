"""A tiny authoritative DNS responder on loopback port 53 for tests that run the daemon.

SPF records for a few names under stub.test; everything else is NXDOMAIN. Its address
is SMF_SPF_E2E_DNS with the third octet plus one, so checkouts that run side by side
(each with its own SMF_SPF_E2E_DNS) and the end-to-end nsd never share it.
"""

import os
import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

ZONE = 'stub.test'
TXT = {
    'pass.stub.test.': 'v=spf1 ip4:127.0.0.0/8 -all',
    'fail.stub.test.': 'v=spf1 ip4:192.0.2.0/24 -all',
    'softfail.stub.test.': 'v=spf1 ~all',
    # three names that do not exist before the match: a permerror at SPFVoidLimit 2
    'void.stub.test.': 'v=spf1 a:v1.stub.test a:v2.stub.test a:v3.stub.test '
                       'ip4:127.0.0.0/8 -all',
    # a fail that explains itself (RFC 7208 section 6.2)
    'exp.stub.test.': 'v=spf1 ip4:192.0.2.0/24 -all exp=why.stub.test',
    'why.stub.test.': '%{i} may not send for %{d}',
    # a domain RefuseNotPass protects: softfail from loopback, neutral below it
    'own.stub.test.': 'v=spf1 ip4:192.0.2.0/24 ~all',
    'news.own.stub.test.': 'v=spf1 ?all',
    # an include whose server fails: a temperror
    'broken.stub.test.': 'v=spf1 include:servfail.stub.test -all',
    # three includes deep to a pass for 192.0.2.0/24
    'chain.stub.test.': 'v=spf1 include:chain2.stub.test -all',
    'chain2.stub.test.': 'v=spf1 include:chain3.stub.test ~all',
    'chain3.stub.test.': 'v=spf1 include:chain4.stub.test ?all',
    'chain4.stub.test.': 'v=spf1 ip4:192.0.2.0/24 -all',
}
# names answered with SERVFAIL, as a resolver answers for a zone it cannot reach
SERVFAIL = {'servfail.stub.test.'}


def stub_address(third_octet_plus=1):
    """SMF_SPF_E2E_DNS with the third octet plus one: this stub's; other servers of the
    tests take plus two (tests/slowdns.py on port 53) and so on."""
    octets = os.environ.get('SMF_SPF_E2E_DNS', '127.53.53.53').split('.')
    octets[2] = str((int(octets[2]) + third_octet_plus) % 256)
    return '.'.join(octets)


class DnsStub(object):
    def __init__(self, address=None, txt=None):
        self.address = address or stub_address()
        self.txt = dict(TXT, **(txt or {}))      # more records: {'name.': 'v=spf1 ...'}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # no SO_REUSEADDR: a second stub on the same address (another checkout's test run
        # without its own SMF_SPF_E2E_DNS) fails to bind instead of taking half the queries
        self.sock.bind((self.address, 53))
        self.thread = threading.Thread(target=self._serve, name='dns-stub')
        self.thread.daemon = True
        self.running = True

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(wire), peer)
            except Exception:        # a malformed query gets no answer
                pass

    def _answer(self, wire):
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        if name in SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.txt and question.rdtype == dns.rdatatype.TXT:
            response.answer.append(dns.rrset.from_text(question.name, 60, 'IN', 'TXT',
                                                       '"%s"' % self.txt[name]))
        elif name not in self.txt:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
