/*
 * A bounds-safe smfi_getsymval for the process that serves the milter.
 *
 * libmilter splits a macro frame (SMFIC_MACRO) into a NULL-terminated array
 * of strings and smfi_getsymval walks it two entries (name, value) at a time,
 * testing only the name slot for the end.  A frame with an odd number of
 * strings ("{x}\0y\0z\0") therefore makes the walk step over the terminating
 * NULL and read past the end of the array: heap garbage is compared with
 * strcmp (SIGSEGV) or handed back as a macro value.  No MTA sends such a
 * frame, anyone who can connect to the socket can.
 *
 * Loaded with RTLD_GLOBAL before pymilter's milter.so, this module's
 * smfi_getsymval is the one milter.so binds to.  It reads the macro arrays
 * from the session context with the layout that sendmail 8.14 (el7) to 8.18
 * (Debian) share, and stops at the terminating NULL whether it falls on a name
 * or a value slot.  It trusts that layout only once libmilter's own function
 * (the address install() was given) has given the very same answer on a live
 * session, and until then reads no pointer from the context before checking
 * it can be read; on any disagreement it steps aside and every lookup goes to
 * libmilter's own function, so it is never worse than libmilter alone (see
 * "the proof of the layout" below).
 *
 * It also stands between libmilter and pymilter's connect, HELO, MAIL, RCPT,
 * header and unknown-command callbacks (smfi_register is interposed the same way): pymilter
 * decodes their strings as strict UTF-8 (1.0.4 even header values) and, for
 * bytes that are not, answers 451 without calling Python and without a log
 * line - a Latin-1 Subject was deferred.  When a string is not
 * UTF-8 the wrapper keeps the original bytes for this thread (stashed()),
 * hands pymilter a copy with '?' for every non-ASCII byte, and the adapter
 * takes the original, decoded with surrogate escapes, from the stash.
 *
 * Told which header fields the milter reads, that its DATA callback only
 * answers continue, and the protocol steps it never wants (pass_on()), the
 * wrappers answer every other field, DATA and the option negotiation
 * themselves without calling into Python: each call takes the interpreter's
 * lock, which every session in flight queues for, and a message has dozens
 * of fields the milter ignores.  (Without a negotiation call pymilter builds
 * the session's Python object at connect.)  Where the session negotiated no
 * reply for HELO, DATA or header fields, a CONTINUE from Python or from the
 * guard is answered with no reply: pymilter's @noreply cannot tell, as it learns
 * the negotiated steps only from a Python negotiation.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_dl_el7.h"
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* the session context's leading fields, as libmilter.h declares them from
 * sendmail 8.14.0 to 8.18 (struct smfi_str); only the prefix up to the macro
 * buffers is read */
#define MACRO_SLOTS 7                 /* MAX_MACROS_ENTRIES: CI_CONN .. CI_EOH */
#define MILTER_PROTOCOL_MAX 6         /* SMFI_PROT_VERSION */
#define MILTER_PROTOCOL_MIN 2         /* the oldest an MTA may offer */
#define MILTER_STATE_MAX 16           /* ST_SKIP, the highest state number */

struct session_prefix {
    pthread_t thread;
    int socket;
    int debug;
    time_t timeout;
    int state;
    void *description;
    int protocol;
    unsigned long actions;
    unsigned long protocol_flags;
    unsigned long protocol_flags_to_mta;
    int protocol_to_mta;
    char **macro_strings[MACRO_SLOTS];
    char *macro_frames[MACRO_SLOTS];
};

typedef char *(*getsymval_fn)(void *, char *);

static getsymval_fn libmilter_getsymval = NULL;

/* struct smfiDesc as mfapi.h declares it since 8.14 (passed by value) */
typedef int (*connect_fn)(void *, char *, void *);
typedef int (*string_fn)(void *, char *);
typedef int (*argv_fn)(void *, char **);
typedef int (*header_fn)(void *, char *, char *);

struct milter_description {
    char *name;
    int version;
    unsigned long flags;
    connect_fn connect;
    string_fn helo;
    argv_fn envfrom;
    argv_fn envrcpt;
    header_fn header;
    void *eoh, *body, *eom, *abort, *close;
    string_fn unknown;
    void *data, *negotiate;
};

typedef int (*register_fn)(struct milter_description);

static register_fn libmilter_register = NULL;
static connect_fn pymilter_connect;
static string_fn pymilter_helo;
static argv_fn pymilter_envfrom, pymilter_envrcpt;
static header_fn pymilter_header;
static string_fn pymilter_unknown;
typedef int (*data_fn)(void *);
static data_fn pymilter_data;
static int data_to_python = 1;
typedef int (*negotiate_fn)(void *, unsigned long, unsigned long, unsigned long,
                            unsigned long, unsigned long *, unsigned long *,
                            unsigned long *, unsigned long *);
static negotiate_fn pymilter_negotiate;
static int negotiate_in_c = 0;
static unsigned long protocol_steps_not_wanted;
static unsigned long unexpected_contexts = 0;

#define SMFIS_CONTINUE 0
#define SMFIS_NOREPLY 7
/* the "no reply" protocol flags of the steps the guard answers (mfdef.h's values) */
#define SMFIP_NR_HDR 0x00000080UL
#define SMFIP_NR_HELO 0x00002000UL
#define SMFIP_NR_DATA 0x00010000UL
#define READ_HEADERS_MAX 8
#define HEADER_NAME_MAX 64
/* the header fields passed on to Python; -1: all of them */
static char read_headers[READ_HEADERS_MAX][HEADER_NAME_MAX + 1];
static int read_header_count = -1;

static int
ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive, whatever the locale (strcasecmp folds by LC_CTYPE) */
static int
header_is_read(const char *name)
{
    int i;

    if (read_header_count < 0)
        return 1;
    for (i = 0; i < read_header_count; i++) {
        const unsigned char *a = (const unsigned char *)read_headers[i];
        const unsigned char *b = (const unsigned char *)name;

        while (*a && ascii_lower(*a) == ascii_lower(*b)) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0')
            return 1;
    }
    return 0;
}

/* -- the macro lookup, and the proof of the layout -------------------------
 *
 * The layout above is trusted only after a live session has shown it.  Until
 * then every lookup first checks all of the context's macro arrays against
 * their frames, reading each pointer through probe_copy() (an unreadable
 * address is the kernel's EFAULT there, not a SIGSEGV here), then walks them
 * and asks libmilter's own smfi_getsymval the same question.  The very same
 * pointer for a macro that is present proves the layout; a check that fails or
 * an answer that differs makes the guard step aside for the life of the
 * process: every lookup then goes to libmilter's own function (layout() says
 * why, and symguard.report() logs it once).  libmilter's own walk reads past
 * an array that ends on a value slot, so it is not asked while one does. */

#define LAYOUT_UNPROVEN 0
#define LAYOUT_PROVEN 1
#define LAYOUT_FOREIGN 2              /* stepped aside */

static int layout_state = LAYOUT_UNPROVEN;
static const char *layout_problem = NULL;
static pthread_mutex_t proof_lock = PTHREAD_MUTEX_INITIALIZER;
static int probe_pipe[2] = {-1, -1};  /* open during one proof attempt only */

/* test hooks (_perturb): read the macro arrays this many bytes away from where
 * the layout has them, or the first two stages from each other's slots */
static long layout_shift = 0;
static int layout_swap = 0;

#define PROBE_BLOCK 256               /* a page is a multiple of it */
#define PROBE_STRING_MAX (4L << 20)   /* more than any frame libmilter accepts */

static void *
slot_pointer(const struct session_prefix *session, size_t offset, int slot)
{
    void *value;

    if (layout_swap && slot < 2)
        slot = 1 - slot;
    memcpy(&value, (const char *)session + offset + layout_shift + slot * sizeof value,
           sizeof value);
    return value;
}

#define STRINGS(session, slot) \
    ((char **)slot_pointer(session, offsetof(struct session_prefix, macro_strings), slot))
#define FRAME(session, slot) \
    ((char *)slot_pointer(session, offsetof(struct session_prefix, macro_frames), slot))

/* what needs no pointer from the context */
static int
fields_look_right(const struct session_prefix *session)
{
    return session->socket >= 0 && session->state >= 0 &&
           session->state <= MILTER_STATE_MAX &&
           session->protocol >= MILTER_PROTOCOL_MIN &&
           session->protocol <= MILTER_PROTOCOL_MAX &&
           session->protocol_to_mta >= MILTER_PROTOCOL_MIN &&
           session->protocol_to_mta <= session->protocol;
}

/* Once the layout is proven, on every call: the invariant the macro parser
 * leaves behind, that an array's first string starts one byte into the frame it
 * was split from (the byte before is the stage letter). */
static int
macro_arrays_look_right(const struct session_prefix *session)
{
    int slot;

    for (slot = 0; slot < MACRO_SLOTS; slot++) {
        char **strings = STRINGS(session, slot);
        char *frame = FRAME(session, slot);

        if ((strings == NULL) != (frame == NULL))
            return 0;
        if (strings != NULL && strings[0] != NULL && strings[0] != frame + 1)
            return 0;
    }
    return 1;
}

/* Copy length bytes from an address not known to be mapped, through a pipe;
 * 0 when they cannot be read. */
static int
probe_copy(void *destination, const void *source, size_t length)
{
    uintptr_t from = (uintptr_t)source;
    char *to = destination;

    while (length > 0) {
        size_t chunk = PROBE_BLOCK - from % PROBE_BLOCK;
        ssize_t written;

        if (chunk > length)
            chunk = length;
        written = write(probe_pipe[1], (const void *)from, chunk);
        if (written > 0 && read(probe_pipe[0], to, (size_t)written) != written)
            return 0;
        if (written != (ssize_t)chunk)
            return 0;
        from += chunk;
        to += chunk;
        length -= chunk;
    }
    return 1;
}

/* strlen of a string at an address not known to be mapped; 0 when it cannot
 * be read (within no more than a frame's size) */
static int
probe_length(const char *string, size_t *length)
{
    char block[PROBE_BLOCK];
    uintptr_t at = (uintptr_t)string;
    size_t done = 0;

    while (done < PROBE_STRING_MAX) {
        size_t size = PROBE_BLOCK - (at + done) % PROBE_BLOCK;
        const char *nul;

        if (!probe_copy(block, (const void *)(at + done), size))
            return 0;
        nul = memchr(block, '\0', size);
        if (nul != NULL) {
            *length = done + (size_t)(nul - block);
            return 1;
        }
        done += size;
    }
    return 0;
}

/* The arrays as libmilter's macro parser leaves them, checked without reading
 * through a pointer before probe_copy() has: a stage's array and frame set
 * together, its strings one after the other from the frame's second byte,
 * ending in NULL.  NULL if they are, else what is not; *odd: an array ends on
 * a value slot. */
static const char *
foreign_macro_arrays(const struct session_prefix *session, int *odd)
{
    int slot;

    *odd = 0;
    for (slot = 0; slot < MACRO_SLOTS; slot++) {
        char **strings = STRINGS(session, slot);
        char *frame = FRAME(session, slot);
        uintptr_t expected = (uintptr_t)frame + 1;
        long count;

        if ((strings == NULL) != (frame == NULL))
            return "a stage's macro array and frame are not set together";
        if (strings == NULL)
            continue;
        for (count = 0; count < PROBE_STRING_MAX; count++) {
            char *entry;
            size_t length;

            if (!probe_copy(&entry, (const char *)strings + count * sizeof entry, sizeof entry))
                return "a macro array cannot be read";
            if (entry == NULL)
                break;
            if ((uintptr_t)entry != expected)
                return "a macro string is not where its frame has it";
            if (!probe_length(entry, &length))
                return "a macro string cannot be read";
            expected += length + 1;
        }
        if (count == PROBE_STRING_MAX)
            return "a macro array does not end";
        *odd |= (int)(count % 2);
    }
    return NULL;
}

/* libmilter's matching: the exact name, `{x}` for a stored `x`, `x` for a
 * stored `{x}` */
static int
names_match(const char *stored, const char *wanted, size_t wanted_length)
{
    if (strcmp(stored, wanted) == 0)
        return 1;
    if (wanted_length == 3 && wanted[0] == '{' && wanted[2] == '}')
        return stored[0] == wanted[1] && stored[1] == '\0';
    if (wanted_length == 1)
        return stored[0] == '{' && stored[1] == wanted[0] && stored[2] == '}' &&
               stored[3] == '\0';
    return 0;
}

static char *
walk_macros(const struct session_prefix *session, const char *name)
{
    size_t length = strlen(name);
    int slot;

    /* the latest stage first, as libmilter searches */
    for (slot = MACRO_SLOTS - 1; slot >= 0; slot--) {
        char **entry = STRINGS(session, slot);

        if (entry == NULL || FRAME(session, slot) == NULL)
            continue;
        while (entry[0] != NULL) {
            if (names_match(entry[0], name, length))
                return entry[1];          /* NULL for a name without value */
            if (entry[1] == NULL)
                break;                    /* odd count: the array ends here */
            entry += 2;
        }
    }
    return NULL;
}

static char *
libmilters_own(void *ctx, char *name)
{
    return libmilter_getsymval != NULL ? libmilter_getsymval(ctx, name) : NULL;
}

static void
decide(int state, const char *problem)
{
    layout_problem = problem;
    __atomic_store_n(&layout_state, state, __ATOMIC_RELEASE);
}

/* a lookup while the layout is unproven, under proof_lock */
static char *
prove(void *ctx, char *name)
{
    const struct session_prefix *session = ctx;
    const char *problem;
    char *ours, *theirs;
    int odd;

    if (pipe2(probe_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return libmilters_own(ctx, name);       /* nothing to check with: libmilter alone */
    problem = foreign_macro_arrays(session, &odd);
    close(probe_pipe[0]);
    close(probe_pipe[1]);
    probe_pipe[0] = probe_pipe[1] = -1;
    if (libmilter_getsymval == NULL)            /* install() not called: none to ask */
        return problem == NULL ? walk_macros(session, name) : NULL;
    if (problem != NULL) {
        decide(LAYOUT_FOREIGN, problem);
        return libmilter_getsymval(ctx, name);
    }
    ours = walk_macros(session, name);          /* reads only pointers checked above */
    if (odd)
        return ours;                            /* libmilter's walk would overrun */
    theirs = libmilter_getsymval(ctx, name);
    if (theirs != ours)
        decide(LAYOUT_FOREIGN, "its answer and libmilter's own differ");
    else if (ours != NULL)
        decide(LAYOUT_PROVEN, NULL);
    return theirs;
}

__attribute__((visibility("default"))) char *
smfi_getsymval(void *ctx, char *name)
{
    const struct session_prefix *session = ctx;
    int state;
    char *found;

    if (ctx == NULL || name == NULL || name[0] == '\0')
        return NULL;
    state = __atomic_load_n(&layout_state, __ATOMIC_ACQUIRE);
    if (state == LAYOUT_FOREIGN)
        return libmilter_getsymval(ctx, name);
    if (!fields_look_right(session) ||
        (state == LAYOUT_PROVEN && !macro_arrays_look_right(session))) {
        __sync_fetch_and_add(&unexpected_contexts, 1);
        return libmilters_own(ctx, name);
    }
    if (state == LAYOUT_PROVEN)
        return walk_macros(session, name);
    pthread_mutex_lock(&proof_lock);
    state = __atomic_load_n(&layout_state, __ATOMIC_ACQUIRE);
    found = state == LAYOUT_UNPROVEN ? prove(ctx, name) : NULL;
    pthread_mutex_unlock(&proof_lock);
    return state == LAYOUT_UNPROVEN ? found : smfi_getsymval(ctx, name);
}

/* What to answer for a step that goes on (`status`): no reply at all where the
 * session negotiated none for it (`no_reply`, an SMFIP_NR_* flag: the MTA then does
 * not wait for one, and libmilter would not send CONTINUE either, but would log an
 * error for each); else `status`.  The negotiated flags are read only from a context
 * of the proven layout (`proven`); another gets `status` and libmilter decides. */
static int
went_on_in(const struct session_prefix *session, int proven, int status,
           unsigned long no_reply)
{
    if (status == SMFIS_CONTINUE && session != NULL && proven &&
        fields_look_right(session) && (session->protocol_flags & no_reply))
        return SMFIS_NOREPLY;
    return status;
}

static int
went_on(void *ctx, int status, unsigned long no_reply)
{
    return went_on_in(ctx, __atomic_load_n(&layout_state, __ATOMIC_ACQUIRE) == LAYOUT_PROVEN,
                      status, no_reply);
}

/* -- envelope strings that are not UTF-8 ---------------------------------- */

#define STASH_MAX 64

static __thread struct {
    int count;               /* strings kept; 0: nothing stashed */
    char *strings[STASH_MAX];
    char *safe[STASH_MAX];   /* what pymilter was given instead */
} stash;

/* CPython's strict UTF-8: no overlong forms, no surrogates, nothing above
 * U+10FFFF; a string it rejects here at worst takes the stash path */
static int
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

static void
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
static int
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

static int
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
static void *
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

static int
guarded_connect(void *ctx, char *hostname, void *address)
{
    char *given[2];
    struct sockaddr_un path;
    int status;

    address = unix_path_copy(address, &path);
    if (hostname == NULL || is_utf8((unsigned char *)hostname) ||
        !stash_strings(&hostname, 1, given))
        return pymilter_connect(ctx, hostname, address);
    status = pymilter_connect(ctx, given[0], address);
    clear_stash();
    return status;
}

static int
guarded_helo(void *ctx, char *helo)
{
    char *given[2];
    int status;

    if (helo == NULL || is_utf8((unsigned char *)helo) || !stash_strings(&helo, 1, given))
        return went_on(ctx, pymilter_helo(ctx, helo), SMFIP_NR_HELO);
    status = pymilter_helo(ctx, given[0]);
    clear_stash();
    return went_on(ctx, status, SMFIP_NR_HELO);
}

static int
guarded_arguments(argv_fn callback, void *ctx, char **argv)
{
    char *given[STASH_MAX + 1];
    int count = 0, status;

    while (argv != NULL && argv[count] != NULL)
        count++;
    if (argv == NULL || all_utf8(argv, count) || !stash_strings(argv, count, given))
        return callback(ctx, argv);
    status = callback(ctx, given);
    clear_stash();
    return status;
}

static int
guarded_envfrom(void *ctx, char **argv)
{
    return guarded_arguments(pymilter_envfrom, ctx, argv);
}

static int
guarded_envrcpt(void *ctx, char **argv)
{
    return guarded_arguments(pymilter_envrcpt, ctx, argv);
}

static int
guarded_header(void *ctx, char *name, char *value)
{
    char *strings[2], *given[3];
    int status;

    if (name != NULL && !header_is_read(name))
        return went_on(ctx, SMFIS_CONTINUE, SMFIP_NR_HDR);
    strings[0] = name;
    strings[1] = value;
    if (name == NULL || value == NULL || all_utf8(strings, 2) ||
        !stash_strings(strings, 2, given))
        return went_on(ctx, pymilter_header(ctx, name, value), SMFIP_NR_HDR);
    status = pymilter_header(ctx, given[0], given[1]);
    clear_stash();
    return went_on(ctx, status, SMFIP_NR_HDR);
}

static int
guarded_data(void *ctx)
{
    if (!data_to_python)
        return went_on(ctx, SMFIS_CONTINUE, SMFIP_NR_DATA);
    return went_on(ctx, pymilter_data(ctx), SMFIP_NR_DATA);
}

/* what the milter's Python negotiate answers: every action the MTA offers, its
 * protocol steps less those not wanted, no extended options */
static int
guarded_negotiate(void *ctx, unsigned long actions, unsigned long steps,
                  unsigned long more, unsigned long reserved, unsigned long *actions_wanted,
                  unsigned long *steps_wanted, unsigned long *more_wanted,
                  unsigned long *reserved_wanted)
{
    if (!negotiate_in_c)
        return pymilter_negotiate(ctx, actions, steps, more, reserved, actions_wanted,
                                  steps_wanted, more_wanted, reserved_wanted);
    *actions_wanted = actions;
    *steps_wanted = steps & ~protocol_steps_not_wanted;
    *more_wanted = 0;
    *reserved_wanted = 0;
    return SMFIS_CONTINUE;
}

/* an SMTP command the MTA did not know, passed on as is */
static int
guarded_unknown(void *ctx, char *command)
{
    char *given[2];
    int status;

    if (command == NULL || is_utf8((unsigned char *)command) ||
        !stash_strings(&command, 1, given))
        return pymilter_unknown(ctx, command);
    status = pymilter_unknown(ctx, given[0]);
    clear_stash();
    return status;
}

__attribute__((visibility("default"))) int
smfi_register(struct milter_description description)
{
    if (libmilter_register == NULL)
        return -1;                                  /* MI_FAILURE: install() first */
    pymilter_connect = description.connect;
    pymilter_helo = description.helo;
    pymilter_envfrom = description.envfrom;
    pymilter_envrcpt = description.envrcpt;
    pymilter_header = description.header;
    pymilter_unknown = description.unknown;
    pymilter_data = (data_fn)description.data;
    pymilter_negotiate = (negotiate_fn)description.negotiate;
    if (description.connect != NULL)
        description.connect = guarded_connect;
    if (description.helo != NULL)
        description.helo = guarded_helo;
    if (description.envfrom != NULL)
        description.envfrom = guarded_envfrom;
    if (description.envrcpt != NULL)
        description.envrcpt = guarded_envrcpt;
    if (description.header != NULL)
        description.header = guarded_header;
    if (description.version >= 0x01000000 && description.unknown != NULL)
        description.unknown = guarded_unknown;   /* the field exists since 8.14 */
    if (description.version >= 0x01000000 && description.data != NULL)
        description.data = (void *)guarded_data;
    if (description.version >= 0x01000000 && description.negotiate != NULL)
        description.negotiate = (void *)guarded_negotiate;
    return libmilter_register(description);
}

/* -- the Python side: install, check, test ------------------------------- */

static PyObject *
stashed(PyObject *module, PyObject *unused)
{
    PyObject *strings;
    int i;

    if (stash.count == 0)
        Py_RETURN_NONE;
    strings = PyTuple_New(stash.count);
    if (strings == NULL)
        return NULL;
    for (i = 0; i < stash.count; i++) {
        PyObject *raw = PyBytes_FromString(stash.strings[i]);

        if (raw == NULL) {
            Py_DECREF(strings);
            return NULL;
        }
        PyTuple_SET_ITEM(strings, i, raw);
    }
    return strings;
}

static PyObject *
install(PyObject *module, PyObject *args)
{
    unsigned long long getsymval, register_;

    if (!PyArg_ParseTuple(args, "KK:install", &getsymval, &register_))
        return NULL;
    if ((void *)(uintptr_t)getsymval == (void *)smfi_getsymval ||
        (void *)(uintptr_t)register_ == (void *)smfi_register) {
        PyErr_SetString(PyExc_ValueError, "that is this guard, not libmilter's functions");
        return NULL;
    }
    libmilter_getsymval = (getsymval_fn)(uintptr_t)getsymval;
    libmilter_register = (register_fn)(uintptr_t)register_;
    Py_RETURN_NONE;
}

static PyObject *
active(PyObject *module, PyObject *unused)
{
    /* what a library loaded without RTLD_GLOBAL (milter.so) binds to: the
     * process's global scope comes first */
    return PyBool_FromLong(dlsym(RTLD_DEFAULT, "smfi_getsymval") == (void *)smfi_getsymval &&
                           dlsym(RTLD_DEFAULT, "smfi_register") == (void *)smfi_register);
}

static PyObject *
unexpected(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(__sync_fetch_and_add(&unexpected_contexts, 0));
}

/* layout() -> (state, problem): 'unproven', 'proven' or 'foreign' (stepped
 * aside: every lookup is libmilter's own), and why it stepped aside */
static PyObject *
layout(PyObject *module, PyObject *unused)
{
    static const char *names[] = {"unproven", "proven", "foreign"};
    int state = __atomic_load_n(&layout_state, __ATOMIC_ACQUIRE);

    return Py_BuildValue("(sz)", names[state], state == LAYOUT_FOREIGN ? layout_problem : NULL);
}

/* _perturb(shift, swap): a test hook that makes the guard's idea of the layout
 * wrong - the macro arrays read `shift` bytes (whole pointers, staying inside
 * the context) away, the first two stages read from each other's slots - and
 * the layout unproven again */
static PyObject *
perturb(PyObject *module, PyObject *args)
{
    long shift;
    int swap;
    long lowest = -(long)offsetof(struct session_prefix, macro_strings);

    if (!PyArg_ParseTuple(args, "lp:_perturb", &shift, &swap))
        return NULL;
    if (shift % (long)sizeof(char *) != 0 || shift < lowest ||
        shift > (long)(MACRO_SLOTS * sizeof(char *))) {
        PyErr_Format(PyExc_ValueError, "a shift is whole pointers from %ld to %ld bytes",
                     lowest, (long)(MACRO_SLOTS * sizeof(char *)));
        return NULL;
    }
    pthread_mutex_lock(&proof_lock);
    layout_shift = shift;
    layout_swap = swap;
    decide(LAYOUT_UNPROVEN, NULL);
    pthread_mutex_unlock(&proof_lock);
    Py_RETURN_NONE;
}

/* walk(frame, name, careful=False) -> bytes or None: split a macro frame's
 * data (stage letter first) as libmilter does and look the name up in a
 * context of the expected layout, after the checks of a proven layout or
 * (careful) those of a proof; lets the tests drive the walk without a session */
static PyObject *
walk(PyObject *module, PyObject *args)
{
    const char *data, *name, *problem = NULL;
    Py_ssize_t length, i;
    struct session_prefix session;
    char *frame, **strings, *found = NULL;
    int count = 0, index = 0, careful = 0, odd;
    PyObject *result;

    if (!PyArg_ParseTuple(args, "y#y|p:walk", &data, &length, &name, &careful))
        return NULL;
    if (layout_shift != 0 || layout_swap) {
        PyErr_SetString(PyExc_RuntimeError, "the layout is perturbed (_perturb)");
        return NULL;
    }
    if (length < 1) {
        PyErr_SetString(PyExc_ValueError, "a macro frame starts with its stage letter");
        return NULL;
    }
    frame = PyMem_Malloc(length + 1);
    if (frame == NULL)
        return PyErr_NoMemory();
    memcpy(frame, data, length);
    frame[length] = '\0';
    for (i = 1; i < length; i++)
        count += frame[i] == '\0';
    strings = PyMem_Malloc((count + 1) * sizeof *strings);
    if (strings == NULL) {
        PyMem_Free(frame);
        return PyErr_NoMemory();
    }
    strings[0] = frame + 1;
    for (i = 1; i < length && index < count; i++)
        if (frame[i] == '\0') {
            index++;
            strings[index] = i + 1 < length ? frame + i + 1 : NULL;
        }
    strings[index] = NULL;
    memset(&session, 0, sizeof session);
    session.protocol = session.protocol_to_mta = MILTER_PROTOCOL_MAX;
    session.state = 4;
    session.macro_strings[2] = strings;
    session.macro_frames[2] = frame;
    if (careful) {
        pthread_mutex_lock(&proof_lock);
        if (pipe2(probe_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
            problem = "no pipe to probe with";
        else {
            problem = foreign_macro_arrays(&session, &odd);
            close(probe_pipe[0]);
            close(probe_pipe[1]);
            probe_pipe[0] = probe_pipe[1] = -1;
        }
        pthread_mutex_unlock(&proof_lock);
    } else if (!fields_look_right(&session) || !macro_arrays_look_right(&session))
        problem = "not the layout of a session";
    if (problem == NULL)
        found = walk_macros(&session, name);
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        result = NULL;
    } else
        result = found == NULL ? (Py_INCREF(Py_None), Py_None) : PyBytes_FromString(found);
    PyMem_Free(strings);
    PyMem_Free(frame);
    return result;
}

/* went_on(status, protocol_flags, no_reply) -> int: what the HELO, DATA and header
 * wrappers answer for `status` in a session with these negotiated protocol flags (a
 * context of the proven layout, else with protocol_flags None); lets the tests check
 * it without an MTA */
static PyObject *
went_on_test(PyObject *module, PyObject *args)
{
    int status;
    PyObject *flags;
    unsigned long no_reply;
    struct session_prefix session;

    if (!PyArg_ParseTuple(args, "iOk:went_on", &status, &flags, &no_reply))
        return NULL;
    memset(&session, 0, sizeof session);
    session.protocol = session.protocol_to_mta = MILTER_PROTOCOL_MAX;
    session.state = 7;
    if (flags != Py_None) {
        session.protocol_flags = PyLong_AsUnsignedLong(flags);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyLong_FromLong(went_on_in(&session, flags != Py_None, status, no_reply));
}

/* pass_on(headers, data, steps_not_wanted): pass only these header fields (a tuple
 * of bytes; None: all of them), DATA if data is true, and the negotiation if
 * steps_not_wanted is None (else answer it here, clearing those protocol bits) on to
 * Python.  Set before serving: the sessions' threads only read it. */
static PyObject *
pass_on(PyObject *module, PyObject *args)
{
    PyObject *names, *steps = Py_None;
    Py_ssize_t count, i;
    int data;
    unsigned long not_wanted = 0;

    if (!PyArg_ParseTuple(args, "Op|O:pass_on", &names, &data, &steps))
        return NULL;
    if (steps != Py_None) {
        not_wanted = PyLong_AsUnsignedLong(steps);
        if (PyErr_Occurred())
            return NULL;
    }
    negotiate_in_c = 0;
    protocol_steps_not_wanted = not_wanted;
    negotiate_in_c = steps != Py_None;
    if (names == Py_None) {
        read_header_count = -1;
        data_to_python = data;
        Py_RETURN_NONE;
    }
    if (!PyTuple_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "a tuple of header names (bytes) or None");
        return NULL;
    }
    count = PyTuple_GET_SIZE(names);
    if (count > READ_HEADERS_MAX) {
        PyErr_Format(PyExc_ValueError, "at most %d header names", READ_HEADERS_MAX);
        return NULL;
    }
    for (i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);

        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) == 0 ||
            PyBytes_GET_SIZE(name) > HEADER_NAME_MAX) {
            PyErr_Format(PyExc_ValueError, "a header name is bytes of 1 to %d octets",
                         HEADER_NAME_MAX);
            return NULL;
        }
    }
    read_header_count = -1;
    for (i = 0; i < count; i++)
        strcpy(read_headers[i], PyBytes_AS_STRING(PyTuple_GET_ITEM(names, i)));
    read_header_count = (int)count;
    data_to_python = data;
    Py_RETURN_NONE;
}

static PyObject *
header_read(PyObject *module, PyObject *args)
{
    const char *name;

    if (!PyArg_ParseTuple(args, "y:header_read", &name))
        return NULL;
    return PyBool_FromLong(header_is_read(name));
}

static PyObject *
utf8(PyObject *module, PyObject *args)
{
    const char *text;

    if (!PyArg_ParseTuple(args, "y:utf8", &text))
        return NULL;
    return PyBool_FromLong(is_utf8((const unsigned char *)text));
}

/* lookup(path): the addresses of smfi_getsymval and smfi_register as the already loaded
 * library at path (pymilter's milter.so) and its dependencies (libmilter) define them;
 * done here rather than with ctypes, which a MemoryDenyWriteExecute unit may not load */
static PyObject *
lookup(PyObject *self, PyObject *args)
{
    const char *path;
    void *handle, *getsymval, *reg;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) {
        PyErr_Format(PyExc_ValueError, "%s is not loaded: %s", path, dlerror());
        return NULL;
    }
    getsymval = dlsym(handle, "smfi_getsymval");
    reg = dlsym(handle, "smfi_register");
    dlclose(handle);
    if (getsymval == NULL || reg == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: libmilter's smfi_getsymval or smfi_register "
                     "not found", path);
        return NULL;
    }
    return Py_BuildValue("(KK)", (unsigned long long)(uintptr_t)getsymval,
                         (unsigned long long)(uintptr_t)reg);
}

/* defines(path, name) -> bool: whether the already loaded library at path or one
 * of its dependencies (libmilter) defines the symbol name */
static PyObject *
defines(PyObject *self, PyObject *args)
{
    const char *path, *name;
    void *handle, *found;
    (void)self;
    if (!PyArg_ParseTuple(args, "ss", &path, &name))
        return NULL;
    handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) {
        PyErr_Format(PyExc_ValueError, "%s is not loaded: %s", path, dlerror());
        return NULL;
    }
    found = dlsym(handle, name);
    dlclose(handle);
    return PyBool_FromLong(found != NULL);
}

static PyMethodDef methods[] = {
    {"lookup", lookup, METH_VARARGS,
     "lookup(path) -> (getsymval, register): libmilter's own addresses, as path binds them"},
    {"defines", defines, METH_VARARGS,
     "defines(path, name) -> bool: the library loaded from path or its dependencies define name"},
    {"pass_on", pass_on, METH_VARARGS,
     "pass_on(headers or None, data, steps_not_wanted=None): what goes to Python"},
    {"header_read", header_read, METH_VARARGS,
     "header_read(name) -> bool: whether the header wrapper passes this field on"},
    {"utf8", utf8, METH_VARARGS,
     "utf8(bytes) -> bool: what the callbacks' check says of a string"},
    {"install", install, METH_VARARGS,
     "install(getsymval, register): the addresses of libmilter's own functions"},
    {"stashed", stashed, METH_NOARGS,
     "stashed() -> tuple of bytes or None: this callback's strings that are not UTF-8"},
    {"active", active, METH_NOARGS,
     "active() -> bool: this guard is the smfi_getsymval the process binds to"},
    {"unexpected", unexpected, METH_NOARGS,
     "unexpected() -> int: calls whose context did not have the expected layout"},
    {"went_on", went_on_test, METH_VARARGS,
     "went_on(status, protocol_flags or None, no_reply) -> int: a wrapper's answer"},
    {"walk", walk, METH_VARARGS,
     "walk(frame, name, careful=False) -> bytes or None: the guarded lookup on one macro frame"},
    {"layout", layout, METH_NOARGS,
     "layout() -> (state, problem): whether libmilter's own lookup proved the layout"},
    {"_perturb", perturb, METH_VARARGS,
     "_perturb(shift, swap): test hook, a wrong layout to prove (0, False: the right one)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_symguard",
    "Bounds-safe smfi_getsymval and UTF-8-safe callbacks, interposed before milter.so.", -1, methods
};

PyMODINIT_FUNC
PyInit__symguard(void)
{
    return PyModule_Create(&definition);
}
