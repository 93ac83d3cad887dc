#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H
#include <stddef.h>
#include <stdint.h>
/// libFuzzer's driver (linked only in the fuzz build, -sanitize=fuzzer): runs `callback` on generated inputs
/// with the command line's libFuzzer options.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
