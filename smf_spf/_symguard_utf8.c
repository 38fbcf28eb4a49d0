/*
 * The strings of a callback that are not UTF-8, kept for the callback (the stash).
 *
 * pymilter decodes the strings of its connect, HELO, MAIL, RCPT, header and
 * unknown-command callbacks as strict UTF-8 (1.0.4 even header values) and, for
 * bytes that are not, answers 451 without calling Python and without a log line - a
 * Latin-1 Subject was deferred.  When a string is not UTF-8 the wrapper
 * (_symguard_steps.c) keeps the original bytes for this thread (stashed()), hands
 * pymilter a copy with '?' for every non-ASCII byte, and the adapter takes the
 * original, decoded with surrogate escapes, from the stash.
 */

#include "_symguard.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static __thread struct {
    int count;               /* strings kept; 0: nothing stashed */
    char *strings[STASH_MAX];
    char *safe[STASH_MAX];   /* what pymilter was given instead */
} stash;

/* CPython's strict UTF-8: no overlong forms, no surrogates, nothing above
 * U+10FFFF; a string it rejects here at worst takes the stash path */
int
is_utf8(const unsigned char *text)
{
    while (*text) {
        unsigned char lead = *text;
        int more;
        unsigned char low = 0x80, high = 0xbf;

        if (lead < 0x80) {
            text++;
            continue;
        }
        if (lead >= 0xc2 && lead <= 0xdf)
            more = 1;
        else if (lead >= 0xe0 && lead <= 0xef) {
            more = 2;
            if (lead == 0xe0)
                low = 0xa0;
            else if (lead == 0xed)
                high = 0x9f;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            more = 3;
            if (lead == 0xf0)
                low = 0x90;
            else if (lead == 0xf4)
                high = 0x8f;
        } else
            return 0;
        text++;
        if (*text < low || *text > high)
            return 0;
        for (text++, more--; more > 0; text++, more--)
            if (*text < 0x80 || *text > 0xbf)
                return 0;
    }
    return 1;
}

void
clear_stash(void)
{
    int i;

    for (i = 0; i < stash.count; i++) {
        free(stash.strings[i]);
        free(stash.safe[i]);
    }
    stash.count = 0;
}

/* Keep strings[0..count) and point given[] at ASCII copies of them;
 * 0 when there was no room (the call then goes on with the originals). */
int
stash_strings(char **strings, int count, char **given)
{
    int i;

    clear_stash();
    if (count > STASH_MAX)
        return 0;
    for (i = 0; i < count; i++) {
        char *safe = strdup(strings[i]), *c;

        stash.strings[i] = strdup(strings[i]);
        stash.safe[i] = safe;
        stash.count = i + 1;
        if (stash.strings[i] == NULL || safe == NULL) {
            clear_stash();
            return 0;
        }
        for (c = safe; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        given[i] = safe;
    }
    given[count] = NULL;
    return 1;
}

int
all_utf8(char **strings, int count)
{
    int i;

    for (i = 0; i < count; i++)
        if (!is_utf8((const unsigned char *)strings[i]))
            return 0;
    return 1;
}

/* pymilter hands a unix-domain client's path to Python as a strict UTF-8
 * string too; the milter does not use it, so a copy with '?' will do */
void *
unix_path_copy(void *address, struct sockaddr_un *copy)
{
    char *c;

    if (address == NULL || ((struct sockaddr *)address)->sa_family != AF_UNIX)
        return address;
    memcpy(copy, address, sizeof *copy);
    copy->sun_path[sizeof copy->sun_path - 1] = '\0';
    if (is_utf8((unsigned char *)copy->sun_path))
        return address;
    for (c = copy->sun_path; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    return copy;
}

/* the current callback's strings kept (0: none), and each of them */
int
stash_count(void)
{
    return stash.count;
}

const char *
stash_string(int index)
{
    return stash.strings[index];
}
