#ifndef FERRY_CFILESYNC_H
#define FERRY_CFILESYNC_H

/// Linux's sync_file_range, which Swift's Glibc module does not declare. Neither call makes data durable (no
/// metadata, no device cache flush): they pace a large write so that it does not pile up in the page cache and
/// then queue hundreds of megabytes in front of the log's fdatasync.

/// Starts writeback of `count` bytes at `offset` without waiting. Returns 0, or the errno.
int ferry_writeback_start(int fd, long long offset, long long count);

/// Starts writeback of `count` bytes at `offset` and waits until all of them are written. Returns 0, or the errno.
int ferry_writeback_wait(int fd, long long offset, long long count);

#endif
