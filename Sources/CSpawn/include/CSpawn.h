#ifndef FERRY_CSPAWN_H
#define FERRY_CSPAWN_H
#include <spawn.h>

/// Adds "close every descriptor from `from` up" to a spawn's file actions (glibc's
/// posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not declare).
int ferry_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

#endif
