"""The peer in bench/e2e.py: spf-engine's pyspf-milter (PyPI `spf-engine`), asking only
the bench's nsd.

    python bench/pyspf_milter.py NAMESERVER CONFIG

pyspf-milter has no setting for its nameservers: pyspf resolves through dnspython's
default resolver, which reads /etc/resolv.conf.  This replaces that resolver with one that
asks NAMESERVER alone, with no search list (as smf-spf-py's `Nameservers` does), and then
runs pyspf-milter's own entry point on CONFIG, unchanged.
"""

import sys

import dns.resolver


def main(nameserver, config):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    dns.resolver.default_resolver = resolver
    from spf_engine import milter_spf
    sys.argv = ['pyspf-milter', config]
    milter_spf.main()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
