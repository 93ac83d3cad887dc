#include "CMalloc.h"
#include <malloc.h>

int ferry_malloc_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
