/*
 * <dlfcn.h> for the C modules that interpose libmilter's functions, bound to the symbol
 * versions el7's glibc 2.17 has: glibc 2.34 moved the dl* functions into libc under a
 * new symbol version, and a module built on a newer glibc would not load on el7; every
 * later glibc still provides the old versions.
 */
#ifndef SMF_SPF_DL_EL7_H
#define SMF_SPF_DL_EL7_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>

#if defined(__x86_64__) && defined(__GLIBC__)
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlclose,dlclose@GLIBC_2.2.5");
__asm__(".symver dlerror,dlerror@GLIBC_2.2.5");
#endif

#endif
