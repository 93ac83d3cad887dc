// The declaration in include/ferry_fuzz.h is all: libFuzzer defines LLVMFuzzerRunDriver in the fuzz build.
#include "ferry_fuzz.h"
