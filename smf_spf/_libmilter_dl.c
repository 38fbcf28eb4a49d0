/*
 * Finding libmilter's own functions behind the ones _symguard and _tcpack interpose
 * (see _libmilter_dl.h).
 *
 * The dl* functions are bound to the symbol versions el7's glibc 2.17 has: glibc 2.34
 * moved them into libc under a new symbol version, and a module built on a newer
 * glibc would not load on el7; every later glibc still provides the old versions.
 * Only this file calls them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

#include "_libmilter_dl.h"

#if defined(__x86_64__) && defined(__GLIBC__)
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlclose,dlclose@GLIBC_2.2.5");
__asm__(".symver dlerror,dlerror@GLIBC_2.2.5");
#endif

/* a library already loaded (RTLD_NOLOAD), without asking any binding of it (RTLD_LAZY) */
#define ALREADY_LOADED (RTLD_LAZY | RTLD_NOLOAD)

int
dl_lookup_loaded(const char *path, const char *name, void **address, const char **problem)
{
    void *handle = dlopen(path, ALREADY_LOADED);

    if (handle == NULL) {
        *problem = dlerror();
        return 0;
    }
    *address = dlsym(handle, name);
    dlclose(handle);
    return 1;
}

struct wanted {
    const char *name;
    void *ours;
    void *found;
};

/* dl_iterate_phdr's callback */
static int
look_behind(struct dl_phdr_info *info, size_t size, void *data)
{
    struct wanted *wanted = data;
    void *symbol = NULL;
    const char *problem;

    (void)size;
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return 0;                     /* the program: its scope starts with the module */
    if (!dl_lookup_loaded(info->dlpi_name, wanted->name, &symbol, &problem) ||
        symbol == NULL || symbol == wanted->ours)
        return 0;
    wanted->found = symbol;
    return 1;
}

void *
dl_lookup_behind(const char *name, void *ours)
{
    struct wanted wanted = {name, ours, NULL};

    dl_iterate_phdr(look_behind, &wanted);
    return wanted.found;
}

int
dl_binds_to(const char *name, void *ours)
{
    return dlsym(RTLD_DEFAULT, name) == ours;
}
