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
