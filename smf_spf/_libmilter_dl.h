/*
 * Finding libmilter's own functions behind the ones a module interposes (internal:
 * compiled into _symguard and _tcpack, hidden in each).
 */
#ifndef SMF_SPF_LIBMILTER_DL_H
#define SMF_SPF_LIBMILTER_DL_H

#pragma GCC visibility push(hidden)

/* `name` as the already loaded library at `path` and its dependencies (pymilter's
 * milter.so: libmilter) define it: 1 and *address (NULL when none of them does), or
 * 0 when no library at path is loaded, *problem then saying why */
int dl_lookup_loaded(const char *path, const char *name, void **address,
                     const char **problem);

/* the first `name` that a loaded object's own lookup (the object, then its
 * dependencies) finds and that is not `ours`; NULL when there is none */
void *dl_lookup_behind(const char *name, void *ours);

/* whether `name` in the process's global scope is `ours`: what a library loaded
 * without RTLD_GLOBAL (milter.so, libmilter) binds to, as that scope comes first */
int dl_binds_to(const char *name, void *ours);

#pragma GCC visibility pop

#endif
