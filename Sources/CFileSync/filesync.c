#define _GNU_SOURCE
#include "CFileSync.h"
#include <errno.h>
#include <fcntl.h>

int ferry_writeback_start(int fd, long long offset, long long count) {
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
}

int ferry_writeback_wait(int fd, long long offset, long long count) {
    unsigned int flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    return sync_file_range(fd, offset, count, flags) == 0 ? 0 : errno;
}
