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
 */

#include "_symguard.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

static getsymval_fn libmilter_getsymval = NULL;
static unsigned long unexpected_contexts = 0;
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
int
session_fields_look_right(const struct session_prefix *session)
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

char *
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
    if (!session_fields_look_right(session) ||
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

/* install(): libmilter's own smfi_getsymval, to prove the layout with and to step
 * aside to */
void
macro_guard_use(getsymval_fn libmilters)
{
    libmilter_getsymval = libmilters;
}

/* LAYOUT_*, and why it stepped aside (LAYOUT_FOREIGN) */
int
macro_guard_layout(const char **problem)
{
    int state = __atomic_load_n(&layout_state, __ATOMIC_ACQUIRE);

    *problem = state == LAYOUT_FOREIGN ? layout_problem : NULL;
    return state;
}

/* calls whose context did not have the expected layout */
unsigned long
macro_guard_unexpected(void)
{
    return __sync_fetch_and_add(&unexpected_contexts, 0);
}

/* -- test hooks (_symguard_hooks.c) ---------------------------------------- */

long
macro_guard_shift_lowest(void)
{
    return -(long)offsetof(struct session_prefix, macro_strings);
}

long
macro_guard_shift_highest(void)
{
    return (long)(MACRO_SLOTS * sizeof(char *));
}

/* Make the guard's idea of the layout wrong - the macro arrays read `shift` bytes
 * (whole pointers, staying inside the context) away, the first two stages read from
 * each other's slots - and the layout unproven again; 0 for a shift out of range. */
int
macro_guard_perturb(long shift, int swap)
{
    if (shift % (long)sizeof(char *) != 0 || shift < macro_guard_shift_lowest() ||
        shift > macro_guard_shift_highest())
        return 0;
    pthread_mutex_lock(&proof_lock);
    layout_shift = shift;
    layout_swap = swap;
    decide(LAYOUT_UNPROVEN, NULL);
    pthread_mutex_unlock(&proof_lock);
    return 1;
}

/* The guarded walk on a context built by the caller, after the checks of a proven
 * layout or (careful) those of a proof: NULL and *found, or what is wrong. */
const char *
macro_guard_walk(const struct session_prefix *session, const char *name, int careful,
                 char **found)
{
    const char *problem = NULL;
    int odd;

    *found = NULL;
    if (layout_shift != 0 || layout_swap)
        return "the layout is perturbed (_perturb)";
    if (careful) {
        pthread_mutex_lock(&proof_lock);
        if (pipe2(probe_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
            problem = "no pipe to probe with";
        else {
            problem = foreign_macro_arrays(session, &odd);
            close(probe_pipe[0]);
            close(probe_pipe[1]);
            probe_pipe[0] = probe_pipe[1] = -1;
        }
        pthread_mutex_unlock(&proof_lock);
    } else if (!session_fields_look_right(session) || !macro_arrays_look_right(session))
        problem = "not the layout of a session";
    if (problem == NULL)
        *found = walk_macros(session, name);
    return problem;
}
