/*
 * What the parts of smf_spf._symguard share (internal: not installed as an API).
 *
 * The extension stands between libmilter and pymilter's milter.so; it is built from
 * one file per job:
 *
 *   _symguard_macros.c  the bounds-safe smfi_getsymval, and the proof of the layout
 *   _symguard_utf8.c    the strings that are not UTF-8, kept for the callback (stash)
 *   _symguard_steps.c   smfi_register: pymilter's callbacks wrapped, and the steps
 *                       answered here without Python (header fields, DATA, negotiation)
 *   _symguard.c         the Python module: install, what the daemon asks of the guard
 *   _symguard_hooks.c   test hooks (the module's underscore names), nothing else calls
 *   _libmilter_dl.c     finding libmilter's own functions (shared with _tcpack.c)
 *
 * The module is loaded with RTLD_GLOBAL (smf_spf/interpose.py), so every symbol it
 * exports goes into the process's global scope, ahead of libraries loaded later.  It
 * must export only smfi_getsymval, smfi_register and its PyInit: everything declared
 * here is hidden.
 */
#ifndef SMF_SPF_SYMGUARD_H
#define SMF_SPF_SYMGUARD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stddef.h>
#include <sys/un.h>
#include <time.h>

#pragma GCC visibility push(hidden)

/* The session context's leading fields, as libmilter.h declares them from sendmail
 * 8.14.0 to 8.18 (struct smfi_str); only the prefix up to the macro buffers is read.
 * libmilter.h is libmilter's private header and pymilter exposes none of it, so its
 * numbers are kept here. */
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

/* struct smfiDesc as mfapi.h declares it since 8.14 (smfi_register takes it by value) */
typedef int (*connect_fn)(void *, char *, void *);
typedef int (*string_fn)(void *, char *);
typedef int (*argv_fn)(void *, char **);
typedef int (*header_fn)(void *, char *, char *);
typedef int (*data_fn)(void *);
typedef int (*negotiate_fn)(void *, unsigned long, unsigned long, unsigned long,
                            unsigned long, unsigned long *, unsigned long *,
                            unsigned long *, unsigned long *);

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

typedef char *(*getsymval_fn)(void *, char *);
typedef int (*register_fn)(struct milter_description);

/* -- _symguard_macros.c: the macro guard -- */
#define LAYOUT_UNPROVEN 0
#define LAYOUT_PROVEN 1
#define LAYOUT_FOREIGN 2              /* stepped aside */

void macro_guard_use(getsymval_fn libmilters);
int macro_guard_layout(const char **problem);
unsigned long macro_guard_unexpected(void);
int session_fields_look_right(const struct session_prefix *session);
/* test hooks */
int macro_guard_perturb(long shift, int swap);
long macro_guard_shift_lowest(void);
long macro_guard_shift_highest(void);
const char *macro_guard_walk(const struct session_prefix *session, const char *name,
                             int careful, char **found);

/* -- _symguard_utf8.c: strings that are not UTF-8 -- */
#define STASH_MAX 64

int is_utf8(const unsigned char *text);
int all_utf8(char **strings, int count);
int stash_strings(char **strings, int count, char **given);
void clear_stash(void);
int stash_count(void);
const char *stash_string(int index);
void *unix_path_copy(void *address, struct sockaddr_un *copy);

/* -- _symguard_steps.c: the callbacks, and the steps answered here -- */
#define READ_HEADERS_MAX 8
#define HEADER_NAME_MAX 64

struct pass_on {
    const char *headers[READ_HEADERS_MAX];   /* passed to Python; count -1: all */
    int header_count;
    int data;                                /* DATA goes to Python */
    int negotiate;                           /* the negotiation goes to Python */
    unsigned long steps_not_wanted;          /* else: cleared from the MTA's offer */
    /* pymilter's constants (Milter.P_NR_*, Milter.CONTINUE, Milter.NOREPLY) */
    unsigned long no_reply_helo, no_reply_data, no_reply_header;
    int go_on, no_reply;
};

void steps_use(register_fn libmilters);
int steps_pass_on(const struct pass_on *settings);
int header_is_read(const char *name);
int went_on_in(const struct session_prefix *session, int proven, int status,
               unsigned long no_reply);

/* -- _symguard_hooks.c: the test hooks, as Python functions -- */
PyObject *hook_perturb(PyObject *module, PyObject *args);
PyObject *hook_walk(PyObject *module, PyObject *args);
PyObject *hook_went_on(PyObject *module, PyObject *args);
PyObject *hook_header_read(PyObject *module, PyObject *args);
PyObject *hook_utf8(PyObject *module, PyObject *args);

#pragma GCC visibility pop

/* the functions it puts in milter.so's way: all it exports, besides PyInit__symguard */
#define EXPORTED __attribute__((visibility("default")))
EXPORTED char *smfi_getsymval(void *ctx, char *name);
EXPORTED int smfi_register(struct milter_description description);

#endif
