/* The floor for local command spawning: N x posix_spawn("/bin/true") + waitpid, nothing else.
 *   cc -O2 -o spawn_loop spawn_loop.c && ./spawn_loop 1000 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  const char *prog = argc > 2 ? argv[2] : "/bin/true";
  char *args[] = {(char *)prog, NULL};
  for (long i = 0; i < n; i++) {
    pid_t pid;
    int rc = posix_spawn(&pid, prog, NULL, NULL, args, environ);
    if (rc != 0) { fprintf(stderr, "spawn_loop: posix_spawn %s: error %d\n", prog, rc); return 1; }
    int st;
    if (waitpid(pid, &st, 0) < 0) { perror("spawn_loop: waitpid"); return 1; }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "spawn_loop: %s failed\n", prog); return 1; }
  }
  return 0;
}
