"""The README and docs/: every page reachable from the README, every link and anchor
pointing at something that exists, and the README as short as an admin reads it."""

import glob
import io
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ['README.md'] + sorted(os.path.relpath(path, ROOT)
                               for path in glob.glob(os.path.join(ROOT, 'docs', '*.md')))
# [text](target): inline links; code spans are taken out first
_LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
_CODE = re.compile(r'```.*?```|`[^`\n]*`', re.S)


def _text(page):
    with io.open(os.path.join(ROOT, page), encoding='utf-8') as handle:
        return handle.read()


def _links(page):
    return _LINK.findall(_CODE.sub('', _text(page)))


def anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower().replace('`', '')
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def _anchors(page):
    text = re.sub(r'```.*?```', '', _text(page), flags=re.S)
    return {anchor(line.lstrip('#')) for line in text.splitlines() if line.startswith('#')}


def test_anchor_is_githubs():
    assert anchor('Where smf-spf-py deliberately differs from C') == \
        'where-smf-spf-py-deliberately-differs-from-c'
    assert anchor('CentOS/RHEL 7 after its end of life') == 'centosrhel-7-after-its-end-of-life'
    assert anchor('End to end: `make bench-e2e`') == 'end-to-end-make-bench-e2e'


def test_every_page_under_docs_is_linked_from_the_readme():
    linked = {os.path.normpath(link.split('#')[0]) for link in _links('README.md')}
    assert [page for page in PAGES[1:] if page not in linked] == []


@pytest.mark.parametrize('page', PAGES)
def test_every_relative_link_and_anchor_exists(page):
    broken = []
    for link in _links(page):
        if re.match(r'[a-z]+:', link):
            continue                                # https:, mailto:
        target, _, fragment = link.partition('#')
        path = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
        if not os.path.exists(os.path.join(ROOT, path)):
            broken.append(link)
        elif fragment and path.endswith('.md') and fragment not in _anchors(path):
            broken.append(link)
    assert broken == []


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = _text('README.md').splitlines()
    assert lines[2] == '```sh' and lines[5] == '```'
    assert lines[3].startswith('make run ') and lines[4].startswith('make test ')
    assert len(lines) <= 200
