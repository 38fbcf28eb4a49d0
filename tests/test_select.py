import os
import subprocess
import sys

import smf_spf
from smf_spf import _select, cache, cidr, match


def test_the_modules_in_use_are_those_the_environment_asks_for():
    # make test-twins runs this suite with SMF_SPF_NO_EXTENSIONS=1, the others without
    forced = _select.twins_forced()
    suffix = '_py' if forced else '_c'
    assert smf_spf.EXTENSIONS is not forced
    assert cidr.CidrSet.__module__ == 'smf_spf._cidr' + suffix
    assert match.AddressMatcher.__module__ == 'smf_spf._match' + suffix
    assert match.DomainMatcher.__module__ == 'smf_spf._match' + suffix
    assert cache.ResultCache.__module__ == 'smf_spf._cache' + suffix


def test_the_compiled_modules_are_built():
    # whatever the environment asks for: a build that lost one would silently run the twin
    import importlib
    for name in ('_cidr_c', '_match_c', '_cache_c'):
        assert importlib.import_module('smf_spf.' + name).__name__ == 'smf_spf.' + name


def test_environment_forces_the_twins():
    code = ('import smf_spf, smf_spf.cidr, smf_spf.match, smf_spf.cache as c; '
            'print(smf_spf.EXTENSIONS, smf_spf.cidr.CidrSet.__module__, '
            'smf_spf.match.DomainMatcher.__module__, c.ResultCache.__module__)')
    out = subprocess.check_output([sys.executable, '-c', code],
                                  env=dict(os.environ, SMF_SPF_NO_EXTENSIONS='1'),
                                  universal_newlines=True)
    assert out.split() == ['False', 'smf_spf._cidr_py', 'smf_spf._match_py', 'smf_spf._cache_py']


def test_test_module_names_are_unique():
    """make test36 collects tests/ and tests/e2e/ in one run: pytest's default import mode
    refuses two test modules of the same name there."""
    import collections
    import os
    root = os.path.dirname(os.path.abspath(__file__))
    names = collections.Counter(name for _, _, files in os.walk(root) for name in files
                                if name.startswith('test_') and name.endswith('.py'))
    assert [name for name, count in names.items() if count > 1] == []
