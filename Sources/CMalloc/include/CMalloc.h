#ifndef FERRY_CMALLOC_H
#define FERRY_CMALLOC_H

/// Fixes glibc's mmap threshold at `bytes` (mallopt M_MMAP_THRESHOLD, which Swift's Glibc module does not
/// declare): blocks of that size or more are mapped on their own and returned to the system when freed, and the
/// threshold no longer grows (up to 32 MB) each time a large block is freed. Returns mallopt's result (1: done).
int ferry_malloc_fix_mmap_threshold(int bytes);

#endif
