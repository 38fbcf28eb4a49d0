"""The shipped conf/smf-spf.conf against the code's key table: a line (set, or a commented
`#Key value` example) for every key and none for a key the code does not have, every
example a valid line, the file itself clean, and each `# Default:` it states the default
Config() has, read by the real parser."""

import os
import re

import pytest

from smf_spf import config as configuration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, 'conf', 'smf-spf.conf')
DEFAULTS = configuration.Config()
LIST_KEYS = {configuration.FIELD_KEYS[field] for field in configuration._LIST_FIELDS.values()}
# a key line: `Key value`, or commented out as the file writes its examples, `#Key value`
# (its prose comments start `# `)
_KEY_LINE = re.compile(r'(#?)([A-Za-z][A-Za-z0-9]*)[ \t]+\S')
_DEFAULT = re.compile(r'#\s*Default:\s*(.*)')


def _lines():
    with open(CONF, encoding='utf-8') as handle:
        return handle.read().splitlines()


def key_lines(lines=None):
    """(line number, key as spelt, the line as the parser reads it, commented) for every
    set line and every commented example."""
    found = []
    for number, line in enumerate(_lines() if lines is None else lines, 1):
        match = _KEY_LINE.match(line)
        if match:
            commented = bool(match.group(1))
            found.append((number, match.group(2), line[1:] if commented else line, commented))
    return found


def conf_keys(lines=None):
    """The keys the file has a line for, as spelt."""
    return {key for _, key, _, _ in key_lines(lines)}


def stated_defaults():
    """(key, the default as stated, the first example after it) for every `# Default:`
    comment: the file states a key's default above its commented example lines."""
    lines = _lines()
    examples = key_lines(lines)
    stated = []
    for number, line in enumerate(lines, 1):
        match = _DEFAULT.match(line)
        if match:
            after = [example for example in examples if example[0] > number]
            stated.append((after[0][1], match.group(1), after[0][2]))
    return stated


def _field_value(value):
    return getattr(value, 'text', value)


def _in_words(key, text):
    """A default stated in words ("none", "the MTA's name ..."), as for a key whose
    default is no value; else None."""
    value = re.sub(r'\s*\(.*\)\s*\Z', '', text)      # "400000 (about 80 MB)"
    field = configuration._KEY_FIELDS[key.lower()]
    if value.startswith('the ') or (value in ('none', 'off')
                                    and not isinstance(getattr(DEFAULTS, field), bool)):
        return value
    return None


def _reads_as_default(key, text):
    field = configuration._KEY_FIELDS[key.lower()]
    loaded = configuration.parse_lines(['%s %s' % (key, text)], 'conf')
    assert loaded.problems == ()
    return _field_value(getattr(loaded.config, field)) == _field_value(getattr(DEFAULTS, field))


def test_every_key_of_the_code_has_a_line():
    assert sorted(set(configuration.KEYS) - conf_keys()) == []


def test_every_line_names_a_key_of_the_code_as_the_documentation_spells_it():
    assert sorted(conf_keys() - set(configuration.KEYS)) == []


def test_the_file_loads_without_a_problem_or_a_compatibility_note():
    loaded = configuration.load(CONF)
    assert (loaded.problems, loaded.compat) == ((), ())


@pytest.mark.parametrize('number,key,line', [
    (number, key, line) for number, key, line, commented in key_lines() if commented])
def test_each_commented_example_is_a_valid_line(number, key, line):
    assert configuration.parse_lines([line], CONF).problems == (), (number, line)


def test_the_file_states_defaults():
    assert len(stated_defaults()) > 20


@pytest.mark.parametrize('key,text,example', stated_defaults())
def test_a_stated_default_is_the_codes(key, text, example):
    """A `# Default:` that names a value reads back, through the parser, as Config()'s
    default, and so does the example under it; one in words is a key with no value."""
    if _in_words(key, text) is not None:
        field = configuration._KEY_FIELDS[key.lower()]
        assert key in LIST_KEYS or getattr(DEFAULTS, field) in (None, ()), text
        return
    assert _reads_as_default(key, re.sub(r'\s*\(.*\)\s*\Z', '', text)), text
    loaded = configuration.parse_lines([example], CONF)
    field = configuration._KEY_FIELDS[key.lower()]
    assert _field_value(getattr(loaded.config, field)) == \
        _field_value(getattr(DEFAULTS, field)), example


def test_every_key_with_a_default_value_states_it():
    """Where Config() has a value for a key, the file says which (a list key, or one whose
    default is no value, needs no statement)."""
    stated = {key for key, _, _ in stated_defaults()}
    valued = [key for key in configuration.KEYS if key not in LIST_KEYS
              and getattr(DEFAULTS, configuration._KEY_FIELDS[key.lower()]) not in (None, ())]
    assert sorted(set(valued) - stated) == []
