"""Build smf-spf-py: the package, its console script and the compiled hot paths.

The extensions are cythonized from pyx/*.pyx when Cython is installed; the
sdist ships the generated C, so a build then needs only a C compiler
(SMF_SPF_NO_CYTHON=1 builds from that C even where Cython is installed).
"""

import io
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ('_cidr_c', '_match_c', '_cache_c')
# the C modules, each from its files (one job a file: see smf_spf/_symguard.h)
C_MODULES = (('_symguard', ('_symguard', '_symguard_macros', '_symguard_utf8', '_symguard_steps',
                            '_symguard_hooks')),
             ('_tcpack', ('_tcpack',)))


def version():
    with io.open(os.path.join(HERE, 'smf_spf', '__init__.py'), encoding='utf-8') as source:
        for line in source:
            if line.startswith('__version__'):
                return line.split('=')[1].strip().strip("'\"")
    raise RuntimeError('no __version__ in smf_spf/__init__.py')


def extensions():
    cythonize = None
    if os.environ.get('SMF_SPF_NO_CYTHON', '') in ('', '0'):
        try:
            from Cython.Build import cythonize
        except ImportError:
            pass
    suffix = '.pyx' if cythonize else '.c'
    exts = [Extension('smf_spf.' + name, [os.path.join('pyx', name + suffix)])
            for name in MODULES]
    if cythonize:
        exts = cythonize(exts, language_level=3, compiler_directives={'embedsignature': True})
    # plain C: interpose libmilter's smfi_getsymval, smfi_register and mi_rd_cmd (see each
    # file's head); both find libmilter's own functions with _libmilter_dl.c
    return exts + [Extension('smf_spf.' + name,
                             [os.path.join('smf_spf', part + '.c')
                              for part in parts + ('_libmilter_dl',)],
                             depends=[os.path.join('smf_spf', header) for header in
                                      ('_symguard.h', '_libmilter_dl.h')],
                             libraries=['dl'])
                   for name, parts in C_MODULES]


setup(
    name='smf-spf-py',
    version=version(),
    description='SPF milter for Postfix and Sendmail, a drop-in replacement for smf-spf',
    long_description=io.open(os.path.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='GPL-2.0-or-later',
    packages=['smf_spf'],
    ext_modules=extensions(),
    python_requires='>=3.6',
    install_requires=['pymilter>=1.0.4', 'pyspf>=2.0.12', 'dnspython>=1.16'],
    # MetricsListen serves Prometheus metrics through it: pip install 'smf-spf-py[metrics]'
    extras_require={'metrics': ['prometheus_client']},
    entry_points={'console_scripts': ['smf-spf = smf_spf.__main__:main']},
    zip_safe=False,
)
