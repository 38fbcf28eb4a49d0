import importlib

import pytest


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
