/*
 * smfi_register, interposed before milter.so like smfi_getsymval: pymilter's
 * negotiate, connect, HELO, MAIL, RCPT, DATA, header and unknown-command callbacks
 * are wrapped before libmilter gets them.
 *
 * The wrappers hand pymilter copies of the strings that are not UTF-8 (the stash,
 * _symguard_utf8.c).  Told which header fields the milter reads, that its DATA
 * callback only answers continue, and the protocol steps it never wants (pass_on(),
 * with pymilter's constants for the answers and the no-reply flags), they answer
 * every other field, DATA and the option negotiation themselves without calling into
 * Python: each call takes the interpreter's lock, which every session in flight
 * queues for, and a message has dozens of fields the milter ignores.  (Without a
 * negotiation call pymilter builds the session's Python object at connect.)  Where
 * the session negotiated no reply for HELO, DATA or header fields, a CONTINUE from
 * Python or from the guard is answered with no reply: pymilter's @noreply cannot
 * tell, as it learns the negotiated steps only from a Python negotiation.
 */

#include "_symguard.h"

#include <string.h>
#include <sys/socket.h>

static register_fn libmilter_register = NULL;
static connect_fn pymilter_connect;
static string_fn pymilter_helo;
static argv_fn pymilter_envfrom, pymilter_envrcpt;
static header_fn pymilter_header;
static string_fn pymilter_unknown;
static data_fn pymilter_data;
static negotiate_fn pymilter_negotiate;

/* What goes to Python (steps_pass_on()): until then everything, and nothing is
 * answered here.  Set before serving: the sessions' threads only read it. */
static char read_headers[READ_HEADERS_MAX][HEADER_NAME_MAX + 1];
static struct pass_on passing = {.header_count = -1, .data = 1, .negotiate = 1};

static int
ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive, whatever the locale (strcasecmp folds by LC_CTYPE) */
int
header_is_read(const char *name)
{
    int i;

    if (passing.header_count < 0)
        return 1;
    for (i = 0; i < passing.header_count; i++) {
        const unsigned char *a = (const unsigned char *)passing.headers[i];
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

/* What to answer for a step that goes on (`status`): no reply at all where the
 * session negotiated none for it (`no_reply`, an SMFIP_NR_* flag: the MTA then does
 * not wait for one, and libmilter would not send CONTINUE either, but would log an
 * error for each); else `status`.  The negotiated flags are read only from a context
 * of the proven layout (`proven`); another gets `status` and libmilter decides, as do
 * all before pass_on() has handed pymilter's flags and answers (no_reply 0). */
int
went_on_in(const struct session_prefix *session, int proven, int status,
           unsigned long no_reply)
{
    if (no_reply != 0 && status == passing.go_on && session != NULL && proven &&
        session_fields_look_right(session) && (session->protocol_flags & no_reply))
        return passing.no_reply;
    return status;
}

static int
went_on(void *ctx, int status, unsigned long no_reply)
{
    const char *problem;

    return went_on_in(ctx, macro_guard_layout(&problem) == LAYOUT_PROVEN, status, no_reply);
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
        return went_on(ctx, pymilter_helo(ctx, helo), passing.no_reply_helo);
    status = pymilter_helo(ctx, given[0]);
    clear_stash();
    return went_on(ctx, status, passing.no_reply_helo);
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
        return went_on(ctx, passing.go_on, passing.no_reply_header);
    strings[0] = name;
    strings[1] = value;
    if (name == NULL || value == NULL || all_utf8(strings, 2) ||
        !stash_strings(strings, 2, given))
        return went_on(ctx, pymilter_header(ctx, name, value), passing.no_reply_header);
    status = pymilter_header(ctx, given[0], given[1]);
    clear_stash();
    return went_on(ctx, status, passing.no_reply_header);
}

static int
guarded_data(void *ctx)
{
    if (!passing.data)
        return went_on(ctx, passing.go_on, passing.no_reply_data);
    return went_on(ctx, pymilter_data(ctx), passing.no_reply_data);
}

/* what the milter's Python negotiate answers: every action the MTA offers, its
 * protocol steps less those not wanted, no extended options */
static int
guarded_negotiate(void *ctx, unsigned long actions, unsigned long steps,
                  unsigned long more, unsigned long reserved, unsigned long *actions_wanted,
                  unsigned long *steps_wanted, unsigned long *more_wanted,
                  unsigned long *reserved_wanted)
{
    if (passing.negotiate)
        return pymilter_negotiate(ctx, actions, steps, more, reserved, actions_wanted,
                                  steps_wanted, more_wanted, reserved_wanted);
    *actions_wanted = actions;
    *steps_wanted = steps & ~passing.steps_not_wanted;
    *more_wanted = 0;
    *reserved_wanted = 0;
    return passing.go_on;
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

int
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

/* install(): libmilter's own smfi_register, to hand the wrapped description to */
void
steps_use(register_fn libmilters)
{
    libmilter_register = libmilters;
}

/* Pass only settings->headers (header_count -1: all) on to Python, DATA if
 * settings->data, the negotiation if settings->negotiate (else answer it here); 0 when
 * there are too many header names or one is too long. */
int
steps_pass_on(const struct pass_on *settings)
{
    int i;

    if (settings->header_count > READ_HEADERS_MAX)
        return 0;
    for (i = 0; i < settings->header_count; i++)
        if (strlen(settings->headers[i]) > HEADER_NAME_MAX)
            return 0;
    passing.header_count = -1;
    passing.negotiate = 1;
    for (i = 0; i < settings->header_count; i++) {
        strcpy(read_headers[i], settings->headers[i]);
        passing.headers[i] = read_headers[i];
    }
    passing.data = settings->data;
    passing.steps_not_wanted = settings->steps_not_wanted;
    passing.no_reply_helo = settings->no_reply_helo;
    passing.no_reply_data = settings->no_reply_data;
    passing.no_reply_header = settings->no_reply_header;
    passing.go_on = settings->go_on;
    passing.no_reply = settings->no_reply;
    passing.negotiate = settings->negotiate;
    passing.header_count = settings->header_count;
    return 1;
}
