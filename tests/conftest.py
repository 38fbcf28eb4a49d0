import importlib

import pytest

from smf_spf import interpose

# The daemon puts the C layer between libmilter and pymilter before pymilter is loaded
# (smf_spf/__main__.py); so do the tests, before any test module imports Milter. A later
# install() returns this first answer: (guard_problem, quickack_problem).
interpose.install()


def _pair(compiled, twin):
    return [importlib.import_module('smf_spf.' + compiled),
            importlib.import_module('smf_spf.' + twin)]


@pytest.fixture(params=['compiled', 'twin'])
def cidr_impl(request):
    return _pair('_cidr_c', '_cidr_py')[request.param == 'twin']


@pytest.fixture(params=['compiled', 'twin'])
def match_impl(request):
    return _pair('_match_c', '_match_py')[request.param == 'twin']


@pytest.fixture(params=['compiled', 'twin'])
def cache_impl(request):
    return _pair('_cache_c', '_cache_py')[request.param == 'twin']


@pytest.fixture(scope='module')
def dns():
    """The DNS stub on loopback (tests/dnsstub.py) for a module's daemons."""
    from dnsstub import DnsStub
    stub = DnsStub().start()
    yield stub
    stub.stop()


@pytest.fixture(scope='module')
def daemon_config():
    """Config lines of the module's `daemon` beyond rawmilter.Daemon's own; a module that
    wants others defines its own daemon_config."""
    return ()


@pytest.fixture(scope='module')
def daemon(tmp_path_factory, dns, daemon_config, request):
    """`python -m smf_spf -f` answering from `dns`, one for the whole module."""
    import rawmilter
    running = rawmilter.Daemon(tmp_path_factory.mktemp(request.module.__name__), dns.address,
                               *daemon_config).start()
    yield running
    running.stop()
