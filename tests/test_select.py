import os
import subprocess
import sys

import smf_spf
from smf_spf import cache, cidr, match


def test_compiled_modules_are_in_use():
    assert smf_spf.EXTENSIONS is True
    assert cidr.CidrSet.__module__ == 'smf_spf._cidr_c'
    assert match.AddressMatcher.__module__ == 'smf_spf._match_c'
    assert cache.ResultCache.__module__ == 'smf_spf._cache_c'


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
