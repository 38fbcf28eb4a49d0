"""RejectReason: the C milter's printf-style template, compiled once at config load.

Placeholders are `%s` (next argument) and `%N$s` (argument N, 1-based), as in C: the
arguments are sender, client IP, MTA name; and named fields, `%{sender}`, `%{ip}`,
`%{mta}`, `%{domain}`, `%{local}`, `%{helo}`, `%{result}` and `%{exp}` (any case).
`%%` is a literal percent sign; any other `%` stays as it is (C would read garbage for
it).  The text is rendered with values a client chose (sender, HELO, a record's
explanation): it becomes a reply only through headers.reply_text, which keeps the
whole reply one RFC 5321 line.
"""

import re

_TOKEN = re.compile(r'%(?:(\d)\$)?s|%%|%\{([^{}]*)\}')
# the values render() takes, in its order: C's three positional arguments first
FIELDS = ('sender', 'ip', 'mta', 'domain', 'local', 'helo', 'result', 'exp')
MAX_ARGUMENTS = 3


class TemplateError(ValueError):
    pass


class ReasonTemplate(object):
    __slots__ = ('text', 'named', '_parts')

    def __init__(self, text):
        parts = []
        position = 0
        next_argument = 0
        self.named = False      # a %{name} field: smf-spf-py's (C sends it as written)
        for token in _TOKEN.finditer(text):
            parts.append(text[position:token.start()])
            if token.group(0) == '%%':
                parts.append('%')
            elif token.group(2) is not None:
                name = token.group(2).lower()
                if name not in FIELDS:
                    raise TemplateError('placeholder %r names no field (%s)' % (
                        token.group(0), ', '.join('%%{%s}' % field for field in FIELDS)))
                parts.append(FIELDS.index(name))
                self.named = True
            else:
                if token.group(1) is not None:
                    index = int(token.group(1)) - 1
                else:
                    index = next_argument
                    next_argument += 1
                if not 0 <= index < MAX_ARGUMENTS:
                    raise TemplateError('placeholder %r names no argument (1 sender, 2 client IP, '
                                        '3 MTA name)' % token.group(0))
                parts.append(index)
            position = token.end()
        parts.append(text[position:])
        self.text = text
        self._parts = tuple(p for p in parts if p != '')

    def render(self, sender, client_ip, mta_name, domain='', local='', helo='', result='',
               exp=''):
        values = (sender, client_ip, mta_name, domain, local, helo, result, exp)
        return ''.join(values[p] if isinstance(p, int) else p for p in self._parts)

    def uses(self, field):
        """Whether the text shows the named field (one of FIELDS)."""
        return FIELDS.index(field) in self._parts

    def __eq__(self, other):
        return isinstance(other, ReasonTemplate) and other.text == self.text

    def __hash__(self):
        return hash(self.text)

    def __repr__(self):
        return 'ReasonTemplate(%r)' % self.text
