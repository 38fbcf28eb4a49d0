"""Adding a config key is one row of smf_spf.config.KEY_TABLE plus its parser, its words
in tools/manpage.py and its line in conf/smf-spf.conf: every place derived from the table
knows every row, the hand-written ones are checked, and a row added alone is shown to be
caught.  And no default of the table or of Config can be changed in place."""

import importlib.util
from types import MappingProxyType

import pytest

from smf_spf import config as configuration, dialect
from smf_spf.config import CACHE, LIST, RESOLVER, RESTART, WORDS, Key

from test_default_conf import CONF, conf_keys
from test_manpages import _generator, entries

MANPAGE = _generator()
# the sets a reload consults, by the flag of a row's reload column that puts a field there
RELOAD_SETS = ((RESTART, 'RESTART_ONLY'), (CACHE, 'CACHE_DEPENDS_ON'),
               (RESOLVER, 'RESOLVER_DEPENDS_ON'))


def missing_places(row, config=configuration, conf_lines=None):
    """The places that do not know row (a Key) as its columns say, by name: those config
    (the smf_spf.config module, or one built from another table) derives from its table,
    then the hand-written ones: how smf_spf.dialect and the man page speak of the redvw
    fork's keys read as it, the man page's words and sections, the committed page and
    the shipped config (conf_lines: its lines, if not the file's)."""
    missing = []
    lowered = row.name.lower()
    derived = (
        ('KEYS', row.name in config.KEYS),
        ('FIELD_KEYS', config.FIELD_KEYS.get(row.field) == row.name),
        ('_KEY_FIELDS', config._KEY_FIELDS.get(lowered) == row.field),
        ('ABOUT', config.ABOUT.get(row.field) == row.about),
        ('Config field', row.field in config.Config._fields),
        ('Config default', getattr(config.Config(), row.field, object()) is row.default),
        ('_TAKES_NOTES', (lowered in config._TAKES_NOTES) == row.notes),
        ('LIST_FIELDS', (row.field in config.LIST_FIELDS)
         == (row.parser is LIST and WORDS not in row.reload)))
    missing += [place for place, known in derived if not known]
    if row.parser is LIST:
        if config._LIST_FIELDS.get(lowered) != row.field or lowered not in config._LISTS:
            missing.append('list maps')
        if row.name not in config.parse_lines([], 'none').config.list_entries:
            missing.append('list_entries')
    elif config._SCALARS.get(lowered) != (row.field, row.parser):
        missing.append('_SCALARS')
    for flag, name in RELOAD_SETS:
        if (row.field in getattr(config, name)) != (flag in row.reload):
            missing.append(name)
    for alias, parser in row.aliases:
        known = config.ALIAS_NAMES.get(alias.lower()) == alias and (
            config.LIST_ALIASES.get(alias.lower()) == lowered if parser is None
            else config._SCALARS.get(alias.lower()) == (row.field, parser))
        if not known:
            missing.append('alias %s' % alias)
        if parser is None and dialect.note(alias, 'on') is None:
            missing.append('dialect note for %s' % alias)
        if (MANPAGE.SPELLING.get(alias.lower()) != alias
                or alias.lower() not in MANPAGE.ALIAS_TEXT):
            missing.append('man words for %s' % alias)
    listed = [key for _, keys in MANPAGE.SECTIONS for key in keys]
    missing += [place for place, known in (
        ('KEY_TEXT', row.name in MANPAGE.KEY_TEXT),
        ('SECTIONS', listed.count(row.name) == 1),
        ('man page', row.name in entries()),
        ('conf/smf-spf.conf', row.name in conf_keys(conf_lines))) if not known]
    return missing


def test_a_rows_columns_hold_what_they_may():
    for row in configuration.KEY_TABLE:
        assert set(row.reload) <= {RESTART, CACHE, RESOLVER, WORDS}, row.name
        assert WORDS not in row.reload or row.parser is LIST, row.name
        assert row.about and '\n' not in row.about and row.about == row.about.strip()
        assert row.parser is LIST or callable(row.parser), row.name
    assert len({row.name.lower() for row in configuration.KEY_TABLE}) == len(
        configuration.KEY_TABLE)
    assert len({row.field for row in configuration.KEY_TABLE}) == len(configuration.KEY_TABLE)


@pytest.mark.parametrize('row', configuration.KEY_TABLE, ids=lambda row: row.name)
def test_every_place_knows_every_row(row):
    assert missing_places(row) == []


def test_nothing_is_derived_from_a_row_that_is_not_in_the_table():
    assert set(configuration.KEYS) == {row.name for row in configuration.KEY_TABLE}
    assert configuration.Config._fields == tuple(
        row.field for row in configuration.KEY_TABLE) + ('list_entries',)
    assert set(configuration.FIELD_KEYS) == {row.field for row in configuration.KEY_TABLE}


# -- a row added alone ---------------------------------------------------------------

EXTRA = Key('ExtraKey', 'extra_key', configuration._boolean, False, 'a key added in a test',
            reload=(CACHE,), aliases=(('ExtraForkKey', None),))
# the line of smf_spf/config.py that ends its table, where the copy adds the extra row
_TABLE_END = '\n# -- derived from KEY_TABLE'


def config_with(*rows):
    """A fresh copy of smf_spf.config whose KEY_TABLE ends with rows: what the module
    derives, derived from that table by its own code."""
    with open(configuration.__file__, encoding='utf-8') as handle:
        source = handle.read()
    assert source.count(_TABLE_END) == 1
    source = source.replace(_TABLE_END, '\nKEY_TABLE += EXTRA_ROWS\n' + _TABLE_END)
    spec = importlib.util.spec_from_loader('config_with_extra_rows', loader=None)
    module = importlib.util.module_from_spec(spec)
    module.EXTRA_ROWS = rows
    exec(compile(source, configuration.__file__, 'exec'), module.__dict__)
    return module


def test_a_row_added_alone_is_derived_everywhere_but_the_words_the_page_and_the_conf(
        monkeypatch):
    """The one-row claim: a table with one more row derives every place of the code
    from it; what is written by hand (the man page's words and sections, the committed
    page, the shipped config) is named missing, and tools/manpage.py refuses to write."""
    extended = config_with(EXTRA)
    assert extended.KEYS[-1] == 'ExtraKey' and extended.Config().extra_key is False
    assert missing_places(EXTRA, extended) == [
        'dialect note for ExtraForkKey', 'man words for ExtraForkKey', 'KEY_TEXT',
        'SECTIONS', 'man page', 'conf/smf-spf.conf']
    for line in ('ExtraKey on', 'ExtraForkKey on'):
        loaded = extended.parse_lines([line], 'extra')
        assert loaded.config.extra_key is True and loaded.problems == ()
    monkeypatch.setattr(MANPAGE, 'configuration', extended)
    with pytest.raises(SystemExit) as refused:
        MANPAGE.keys_section()
    assert 'ExtraKey' in str(refused.value)


def test_a_row_the_code_does_not_derive_is_named_missing_everywhere():
    """The checker fails on each derived place: the running module never saw EXTRA."""
    assert missing_places(EXTRA) == [
        'KEYS', 'FIELD_KEYS', '_KEY_FIELDS', 'ABOUT', 'Config field', 'Config default',
        '_SCALARS', 'CACHE_DEPENDS_ON', 'alias ExtraForkKey', 'dialect note for ExtraForkKey',
        'man words for ExtraForkKey', 'KEY_TEXT', 'SECTIONS', 'man page', 'conf/smf-spf.conf']
    assert missing_places(EXTRA._replace(parser=LIST, reload=(WORDS,), notes=True))[:8] == [
        'KEYS', 'FIELD_KEYS', '_KEY_FIELDS', 'ABOUT', 'Config field', 'Config default',
        '_TAKES_NOTES', 'list maps']


def test_a_row_whose_columns_disagree_with_a_derived_place_is_named(monkeypatch):
    """A real row with one column changed, as if a place were derived by hand and
    missed the change."""
    ttl = [row for row in configuration.KEY_TABLE if row.name == 'TTL'][0]
    assert missing_places(ttl._replace(reload=(RESTART,))) == ['RESTART_ONLY',
                                                               'CACHE_DEPENDS_ON']
    assert missing_places(ttl._replace(about='other words')) == ['ABOUT']
    assert missing_places(ttl._replace(default=3600.0)) == ['Config default']
    monkeypatch.delitem(MANPAGE.KEY_TEXT, 'TTL')
    assert missing_places(ttl) == ['KEY_TEXT']
    monkeypatch.undo()
    with open(CONF, encoding='utf-8') as handle:
        lines = [line for line in handle.read().splitlines() if 'TTL' not in line]
    assert missing_places(ttl, conf_lines=lines) == ['conf/smf-spf.conf']
    accept = [row for row in configuration.KEY_TABLE if row.name == 'AcceptTempError'][0]
    monkeypatch.delitem(MANPAGE.ALIAS_TEXT, 'rejecttemperror')
    assert missing_places(accept) == ['man words for RejectTempError']


# -- no default can be changed in place ----------------------------------------------

_MUTATORS = ('add', 'append', 'clear', 'discard', 'extend', 'insert', 'pop', 'popitem',
             'remove', 'setdefault', 'update', '__setitem__', '__delitem__', '__iadd__')


def mutable_parts(value, where):
    """Where value holds something that can be changed in place: a list, dict, set or
    bytearray, or an object with a method that changes it, found through tuples, mapping
    proxies and public attributes (an object's private state is its own)."""
    if isinstance(value, (list, dict, set, bytearray)):
        return [where]
    if value is None or isinstance(value, (str, bytes, int, float, frozenset)):
        return []
    if isinstance(value, MappingProxyType):
        return [part for key, item in sorted(value.items())
                for part in mutable_parts(item, '%s[%r]' % (where, key))]
    if isinstance(value, tuple):
        return [part for index, item in enumerate(value)
                for part in mutable_parts(item, '%s[%d]' % (where, index))]
    found = ['%s.%s()' % (where, name) for name in _MUTATORS if hasattr(value, name)]
    names = set(getattr(value, '__dict__', ())) | {
        name for cls in type(value).__mro__ for name in getattr(cls, '__slots__', ())}
    for name in sorted(names):
        if not name.startswith('_') and hasattr(value, name):
            found += mutable_parts(getattr(value, name), '%s.%s' % (where, name))
    return found


def test_mutable_parts_finds_what_can_change_in_place():
    class Holder(object):
        def __init__(self):
            self.items = (1, [2])
            self._own = {}

    class Growing(object):
        __slots__ = ('kept',)

        def add(self, item):
            pass

    assert mutable_parts([], 'd') == ['d']
    assert mutable_parts(MappingProxyType({'a': ('x', {})}), 'd') == ["d['a'][1]"]
    assert mutable_parts(Holder(), 'd') == ['d.items[1]']
    assert mutable_parts(Growing(), 'd') == ['d.add()']
    assert mutable_parts((None, True, 1.5, 'x', MappingProxyType({'a': ()})), 'd') == []


def test_no_default_of_the_table_or_of_config_can_be_changed_in_place():
    found = [part for row in configuration.KEY_TABLE
             for part in mutable_parts(row.default, row.name)]
    found += [part for field, value in zip(configuration.Config._fields, configuration.Config())
              for part in mutable_parts(value, 'Config().%s' % field)]
    assert found == []


def test_no_value_of_a_loaded_config_can_be_changed_in_place():
    loaded = configuration.load(CONF)
    assert [part for field, value in zip(loaded.config._fields, loaded.config)
            for part in mutable_parts(value, field)] == []
