// LD_PRELOAD shim for tests: logs every fsync/fdatasync (with the file's path) and rename
// to $SYNC_LOG, in the order the process made them, then calls the real function.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static void note(const char *op, const char *a, const char *b) {
  const char *log = getenv("SYNC_LOG");
  if (!log) return;
  char line[8400];
  int n = snprintf(line, sizeof line, "%s %s%s%s\n", op, a, b ? " " : "", b ? b : "");
  if (n <= 0) return;
  if (n >= (int)sizeof line) n = sizeof line - 1;
  int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  syscall(SYS_write, fd, line, (size_t)n);
  syscall(SYS_close, fd);
}

static void note_fd(const char *op, int fd) {
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t len = readlink(link, path, sizeof path - 1);
  if (len < 0) len = 0;
  path[len] = 0;
  note(op, path, NULL);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  int rc = real(fd);
  note_fd("fsync", fd);
  return rc;
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  int rc = real(fd);
  note_fd("fdatasync", fd);
  return rc;
}

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  note("rename", from, to);
  return real(from, to);
}
