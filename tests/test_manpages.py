"""smf-spf.conf(5) against the code: every key, its default and the redvw fork's
spellings as smf_spf.config and smf_spf.dialect have them (the shipped config:
tests/test_default_conf.py)."""

import importlib.util
import os
import re

import pytest

from smf_spf import config as configuration, dialect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, 'man', 'smf-spf.conf.5')
DEFAULTS = configuration.Config()
LIST_KEYS = {configuration.FIELD_KEYS[field] for field in configuration._LIST_FIELDS.values()}


def _generator():
    spec = importlib.util.spec_from_file_location(
        'manpage', os.path.join(ROOT, 'tools', 'manpage.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page():
    with open(PAGE, encoding='ascii') as handle:
        return handle.read()


def _unroff(text):
    """What a roff line prints: fonts dropped, \\- and \\e and \\& undone."""
    text = re.sub(r'\\f[BIRP]', '', text)
    return text.replace('\\-', '-').replace('\\&', '').replace('\\e', '\\')


def entries():
    """{key: lines of its .TP entry} of the committed page, as roff."""
    found = {}
    lines = _page().splitlines()
    for index, line in enumerate(lines):
        if line == '.TP' and index + 1 < len(lines):
            match = re.match(r'\\fB([A-Za-z0-9]+)\\fR', lines[index + 1])
            if match:
                end = index + 2
                while end < len(lines) and not lines[end].startswith(('.TP', '.SS', '.SH',
                                                                       '.\\"')):
                    end += 1
                found[match.group(1)] = lines[index + 1:end]
    return found


def _field_value(value):
    return getattr(value, 'text', value)


def test_the_key_sections_are_what_tools_manpage_writes_from_the_code():
    page = _page()
    assert _generator().render(page) == page, 'run: python tools/manpage.py'


def test_every_key_of_the_code_has_an_entry_and_so_has_each_redvw_key_without_effect():
    documented = set(entries())
    assert set(configuration.KEYS) <= documented
    assert {key.lower() for key in documented - set(configuration.KEYS)} == set(dialect.IGNORED)


@pytest.mark.parametrize('key', configuration.KEYS)
def test_the_pages_default_is_the_codes(key):
    """A default the page sets in bold reads back, through the config parser, as the
    value Config() has; a default in words is a key Config() leaves without a value."""
    lines = entries()[key]
    default = [line for line in lines if line.startswith('Default: ')]
    assert len(default) == 1, lines
    field = configuration._KEY_FIELDS[key.lower()]
    written = re.match(r'Default: \\fB(.*)\\fR\Z', default[0])
    if written is None:
        assert key in LIST_KEYS or getattr(DEFAULTS, field) in (None, ()), default[0]
        return
    loaded = configuration.parse_lines(['%s %s' % (key, _unroff(written.group(1)))], 'page')
    assert loaded.problems == ()
    assert (_field_value(getattr(loaded.config, field))
            == _field_value(getattr(DEFAULTS, field))), default[0]


def test_a_list_keys_default_is_no_entry():
    assert all(entries == () for entries in
               configuration.parse_lines([], 'empty').config.list_entries.values())


@pytest.mark.parametrize('alias', sorted(configuration.ALIAS_NAMES))
def test_each_redvw_spelling_is_named_at_the_key_it_is_read_as(alias):
    key = configuration.FIELD_KEYS[configuration._KEY_FIELDS[
        configuration.LIST_ALIASES.get(alias, alias)]]
    text = _unroff(' '.join(entries()[key])).lower()
    assert re.search(r"redvw fork's %s\b" % alias, text), (alias, key)
