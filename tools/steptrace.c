// Single-steps a command and every process it forks, recording which bytes of one ELF file
// (identified by device+inode) are executed. Prints executed offsets (file offsets of the
// executable mapping), one per line.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/user.h>

#define MAXP 4096
static struct { int pid; unsigned long lo, hi, off; int ours; } P[MAXP];
static unsigned char *seen; static unsigned long seen_len = 64ul << 20;
static ino_t ino;

static int slot(int pid) {
  for (int i = 0; i < MAXP; i++) if (P[i].pid == pid) return i;
  for (int i = 0; i < MAXP; i++) if (P[i].pid == 0) { P[i].pid = pid; P[i].ours = -1; return i; }
  return -1;
}
static void maps(int i) {
  char path[64], line[512]; snprintf(path, sizeof path, "/proc/%d/maps", P[i].pid);
  FILE *f = fopen(path, "r"); P[i].ours = 0; if (!f) return;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, in; char perm[8]; unsigned mj, mn;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perm, &off, &mj, &mn, &in) == 7
        && in == ino && perm[2] == 'x') { P[i].lo = lo; P[i].hi = hi; P[i].off = off; P[i].ours = 1; }
  }
  fclose(f);
}
int main(int argc, char **argv) {
  struct stat st; if (argc < 3 || stat(argv[1], &st)) { fprintf(stderr, "usage: steptrace ELF CMD...\n"); return 2; }
  ino = st.st_ino; seen = calloc(seen_len, 1);
  int child = fork();
  if (child == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); raise(SIGSTOP); execvp(argv[2], argv + 2); _exit(127); }
  int status; waitpid(child, &status, 0);
  ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
  int s0 = slot(child); P[s0].ours = 0;
  ptrace(PTRACE_CONT, child, 0, 0);
  long steps = 0; int rc = 0;
  for (;;) {
    int pid = waitpid(-1, &status, __WALL);
    if (pid < 0) { if (errno == EINTR) continue; break; }
    int i = slot(pid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) { if (pid == child) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); P[i].pid = 0; continue; }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status), ev = status >> 16, inject = 0;
    if (ev == PTRACE_EVENT_EXEC) { maps(i); }
    else if (ev) { unsigned long np; ptrace(PTRACE_GETEVENTMSG, pid, 0, &np); int j = slot((int)np); P[j].lo = P[i].lo; P[j].hi = P[i].hi; P[j].off = P[i].off; P[j].ours = P[i].ours; }
    else if (sig == SIGTRAP) {
      if (P[i].ours < 0) maps(i);
      struct user_regs_struct r; if (ptrace(PTRACE_GETREGS, pid, 0, &r) == 0 && r.rip >= P[i].lo && r.rip < P[i].hi) {
        unsigned long o = r.rip - P[i].lo + P[i].off; if (o < seen_len) seen[o] = 1; }
      steps++;
    } else if (sig == SIGSTOP && P[i].ours < 0) { maps(i); }
    else inject = sig;
    if (P[i].ours < 0) maps(i);
    ptrace(P[i].ours ? PTRACE_SINGLESTEP : PTRACE_CONT, pid, 0, inject);
  }
  for (unsigned long o = 0; o < seen_len; o++) if (seen[o]) printf("%lx\n", o);
  fprintf(stderr, "steptrace: %ld steps, exit %d\n", steps, rc);
  return 0;
}
