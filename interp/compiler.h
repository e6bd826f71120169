/* Compiler annotations, each a no-op where the compiler lacks it. */
#ifndef SSHS_COMPILER_H
#define SSHS_COMPILER_H

/* Marks a switch case that is meant to run on into the next one (-Wimplicit-fallthrough):
   gcc also accepts a comment, clang only the attribute; C11 has no [[fallthrough]]. */
#if defined(__has_attribute)
#  if __has_attribute(fallthrough)
#    define FALLTHROUGH __attribute__((fallthrough))
#  endif
#endif
#ifndef FALLTHROUGH
#  define FALLTHROUGH ((void)0)
#endif

#endif
