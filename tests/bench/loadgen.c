/* loadgen: a small IMAP-over-implicit-TLS load generator for tests/bench/run.py.
 *
 * Blocking sockets, one pthread per concurrent client, system OpenSSL; it is
 * C so that the client is cheap next to the servers it measures (the machine
 * has 2 cores and client, proxy and Dovecot share them). It prints one JSON
 * object on stdout; its own CPU time is in it (cpu_user_s, cpu_sys_s) so the
 * caller can tell whether the client saturated a core.
 *
 *   loadgen login --port P --users u1:p1,u2:p2 --conc N --count M
 *       N threads; TLS connect + greeting + LOGIN + LOGOUT, M in total.
 *   loadgen fetch --port P --users u:p --count R [--uid 1]
 *       one session; EXAMINE INBOX, then R times "UID FETCH 1 BODY.PEEK[]".
 *   loadgen noop  --port P --users u:p --count R [--conc N]
 *       N sessions (threads), each R NOOP round trips, latencies recorded.
 *   loadgen idle  --port P --users ... --count K [--conc N]
 *       opens and logs in K sessions, prints {"ready":...}, then holds them
 *       until stdin reaches EOF, then closes them and prints the final JSON.
 *
 * Server certificates are not verified (same cost for every target); TLS 1.3
 * with TLS_AES_128_GCM_SHA256 unless --ciphersuites says otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536

static const char *g_host = "127.0.0.1";
static int g_port = 0;
static int g_conc = 1;
static long g_count = 1;
static int g_uid = 1;
static const char *g_ciphersuites = "TLS_AES_128_GCM_SHA256";
static char **g_user;
static char **g_pass;
static int g_nusers;
static SSL_CTX *g_ctx;

static atomic_long g_next;     /* next job index */
static atomic_long g_ok;
static atomic_long g_err;
static atomic_llong g_bytes;
static char g_first_error[256];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note_error(const char *what) {
  atomic_fetch_add(&g_err, 1);
  pthread_mutex_lock(&g_mu);
  if (!g_first_error[0]) snprintf(g_first_error, sizeof g_first_error, "%s", what);
  pthread_mutex_unlock(&g_mu);
}

typedef struct {
  int fd;
  SSL *ssl;
  char *buf;
  size_t start, end;
} conn_t;

static int conn_fill(conn_t *c) {
  if (c->start == c->end) c->start = c->end = 0;
  if (c->end == BUFSZ) {
    memmove(c->buf, c->buf + c->start, c->end - c->start);
    c->end -= c->start;
    c->start = 0;
    if (c->end == BUFSZ) return -1; /* line longer than the buffer */
  }
  int n = SSL_read(c->ssl, c->buf + c->end, (int)(BUFSZ - c->end));
  if (n <= 0) return -1;
  c->end += (size_t)n;
  return n;
}

/* Reads one line (with CRLF) into line (NUL-terminated, truncated to cap). */
static int conn_line(conn_t *c, char *line, size_t cap) {
  for (;;) {
    char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
    if (nl) {
      size_t len = (size_t)(nl - (c->buf + c->start)) + 1;
      size_t copy = len < cap - 1 ? len : cap - 1;
      memcpy(line, c->buf + c->start, copy);
      line[copy] = 0;
      c->start += len;
      return (int)len;
    }
    if (conn_fill(c) < 0) return -1;
  }
}

static int conn_skip(conn_t *c, long long n) {
  while (n > 0) {
    if (c->start == c->end && conn_fill(c) < 0) return -1;
    size_t have = c->end - c->start;
    size_t take = (long long)have < n ? have : (size_t)n;
    c->start += take;
    n -= (long long)take;
  }
  return 0;
}

static int conn_write(conn_t *c, const char *s) {
  int len = (int)strlen(s);
  return SSL_write(c->ssl, s, len) == len ? 0 : -1;
}

/* Reads responses until the tagged one; literals are skipped and their sizes
 * added to *literal_bytes. Returns 0 on "tag OK", -1 otherwise. */
static int conn_tagged(conn_t *c, const char *tag, long long *literal_bytes) {
  char line[1024];
  size_t tl = strlen(tag);
  for (;;) {
    int n = conn_line(c, line, sizeof line);
    if (n < 0) return -1;
    size_t l = strlen(line);
    if (l >= 3 && line[l - 1] == '\n' && line[l - 2] == '\r' && line[l - 3] == '}') {
      char *open = strrchr(line, '{');
      if (open) {
        long long sz = atoll(open + 1);
        if (conn_skip(c, sz) < 0) return -1;
        if (literal_bytes) *literal_bytes += sz;
        continue;
      }
    }
    if (strncmp(line, tag, tl) == 0 && line[tl] == ' ')
      return strncmp(line + tl + 1, "OK", 2) == 0 ? 0 : -1;
  }
}

static void conn_close(conn_t *c) {
  if (c->ssl) SSL_free(c->ssl);
  if (c->fd >= 0) close(c->fd);
  free(c->buf);
  c->ssl = NULL;
  c->fd = -1;
  c->buf = NULL;
}

/* TCP connect + TLS handshake + greeting. */
static int conn_open(conn_t *c) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->buf = malloc(BUFSZ);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  inet_pton(AF_INET, g_host, &sa.sin_addr);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) { note_error("socket"); return -1; }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {.tv_sec = 60};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    char e[128];
    snprintf(e, sizeof e, "connect: %s", strerror(errno));
    note_error(e);
    return -1;
  }
  c->ssl = SSL_new(g_ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_tlsext_host_name(c->ssl, "localhost");
  if (SSL_connect(c->ssl) != 1) {
    char e[200];
    snprintf(e, sizeof e, "tls handshake: %s", ERR_error_string(ERR_get_error(), NULL));
    note_error(e);
    return -1;
  }
  char line[1024];
  if (conn_line(c, line, sizeof line) < 0 || strncmp(line, "* OK", 4) != 0) {
    note_error("no greeting");
    return -1;
  }
  return 0;
}

static int conn_login(conn_t *c, long idx) {
  char cmd[512];
  int u = (int)(idx % g_nusers);
  snprintf(cmd, sizeof cmd, "a LOGIN \"%s\" \"%s\"\r\n", g_user[u], g_pass[u]);
  if (conn_write(c, cmd) < 0 || conn_tagged(c, "a", NULL) < 0) {
    note_error("login failed");
    return -1;
  }
  return 0;
}

static double cpu_user, cpu_sys;
static void read_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  cpu_user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  cpu_sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- latency samples ---------------------------------------------------- */
static double *g_lat;          /* seconds, one per op */
static atomic_long g_nlat;
static long g_latcap;

static void add_lat(double s) {
  long i = atomic_fetch_add(&g_nlat, 1);
  if (i < g_latcap) g_lat[i] = s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_lat(void) {
  long n = atomic_load(&g_nlat);
  if (n > g_latcap) n = g_latcap;
  if (n == 0) return;
  qsort(g_lat, (size_t)n, sizeof(double), cmp_double);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += g_lat[i];
  printf(", \"lat_n\": %ld, \"lat_mean_ms\": %.4f, \"lat_p50_ms\": %.4f, \"lat_p90_ms\": %.4f, "
         "\"lat_p99_ms\": %.4f, \"lat_max_ms\": %.4f",
         n, sum / n * 1e3, g_lat[n / 2] * 1e3, g_lat[(long)(n * 0.90)] * 1e3,
         g_lat[(long)(n * 0.99)] * 1e3, g_lat[n - 1] * 1e3);
}

/* ---- modes -------------------------------------------------------------- */

static void *login_thread(void *arg) {
  (void)arg;
  for (;;) {
    long i = atomic_fetch_add(&g_next, 1);
    if (i >= g_count) break;
    double t0 = now_s();
    conn_t c;
    if (conn_open(&c) == 0 && conn_login(&c, i) == 0) {
      if (conn_write(&c, "b LOGOUT\r\n") == 0 && conn_tagged(&c, "b", NULL) == 0) {
        atomic_fetch_add(&g_ok, 1);
        add_lat(now_s() - t0);
      } else {
        note_error("logout failed");
      }
    }
    conn_close(&c);
  }
  return NULL;
}

static void *fetch_thread(void *arg) {
  (void)arg;
  conn_t c;
  if (conn_open(&c) == 0 && conn_login(&c, 0) == 0) {
    if (conn_write(&c, "s EXAMINE INBOX\r\n") < 0 || conn_tagged(&c, "s", NULL) < 0) {
      note_error("examine failed");
    } else {
      char cmd[128];
      for (long i = 0; i < g_count; i++) {
        long long got = 0;
        double t0 = now_s();
        snprintf(cmd, sizeof cmd, "f UID FETCH %d BODY.PEEK[]\r\n", g_uid);
        if (conn_write(&c, cmd) < 0 || conn_tagged(&c, "f", &got) < 0 || got == 0) {
          note_error("fetch failed");
          break;
        }
        add_lat(now_s() - t0);
        atomic_fetch_add(&g_bytes, got);
        atomic_fetch_add(&g_ok, 1);
      }
      conn_write(&c, "z LOGOUT\r\n");
      conn_tagged(&c, "z", NULL);
    }
  }
  conn_close(&c);
  return NULL;
}

static void *noop_thread(void *arg) {
  long idx = (long)(intptr_t)arg;
  conn_t c;
  if (conn_open(&c) == 0 && conn_login(&c, idx) == 0) {
    /* a few warm-up round trips, not recorded */
    for (int w = 0; w < 20; w++) {
      if (conn_write(&c, "w NOOP\r\n") < 0 || conn_tagged(&c, "w", NULL) < 0) break;
    }
    for (long i = 0; i < g_count; i++) {
      double t0 = now_s();
      if (conn_write(&c, "n NOOP\r\n") < 0 || conn_tagged(&c, "n", NULL) < 0) {
        note_error("noop failed");
        break;
      }
      add_lat(now_s() - t0);
      atomic_fetch_add(&g_ok, 1);
    }
    conn_write(&c, "z LOGOUT\r\n");
    conn_tagged(&c, "z", NULL);
  }
  conn_close(&c);
  return NULL;
}

static conn_t *g_idle;

static void *idle_thread(void *arg) {
  (void)arg;
  for (;;) {
    long i = atomic_fetch_add(&g_next, 1);
    if (i >= g_count) break;
    if (conn_open(&g_idle[i]) == 0 && conn_login(&g_idle[i], i) == 0) {
      atomic_fetch_add(&g_ok, 1);
      /* keep only what an idle client needs */
      free(g_idle[i].buf);
      g_idle[i].buf = NULL;
    } else {
      conn_close(&g_idle[i]);
    }
  }
  return NULL;
}

static void parse_users(char *s) {
  int n = 1;
  for (char *p = s; *p; p++) n += *p == ',';
  g_user = calloc((size_t)n, sizeof *g_user);
  g_pass = calloc((size_t)n, sizeof *g_pass);
  char *save = NULL;
  for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    if (!colon) continue;
    *colon = 0;
    g_user[g_nusers] = tok;
    g_pass[g_nusers] = colon + 1;
    g_nusers++;
  }
}

static void run_threads(void *(*fn)(void *), int n) {
  pthread_t *t = calloc((size_t)n, sizeof *t);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int i = 0; i < n; i++) pthread_create(&t[i], &attr, fn, (void *)(intptr_t)i);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  free(t);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: loadgen login|fetch|noop|idle --port P --users u:p[,u:p] ...\n");
    return 2;
  }
  const char *mode = argv[1];
  char *users = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--host")) g_host = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) g_port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--conc")) g_conc = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--count")) g_count = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--uid")) g_uid = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--users")) users = argv[i + 1];
    else if (!strcmp(argv[i], "--ciphersuites")) g_ciphersuites = argv[i + 1];
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  if (!g_port || !users) { fprintf(stderr, "--port and --users are required\n"); return 2; }
  parse_users(users);
  if (g_conc < 1) g_conc = 1;

  g_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(g_ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF); /* full handshakes */
  if (g_ciphersuites[0]) SSL_CTX_set_ciphersuites(g_ctx, g_ciphersuites);

  g_latcap = g_count * (strcmp(mode, "noop") == 0 ? g_conc : 1) + 16;
  g_lat = calloc((size_t)g_latcap, sizeof(double));

  double t0 = now_s();
  if (!strcmp(mode, "login")) {
    run_threads(login_thread, g_conc);
  } else if (!strcmp(mode, "fetch")) {
    run_threads(fetch_thread, 1);
  } else if (!strcmp(mode, "noop")) {
    run_threads(noop_thread, g_conc);
  } else if (!strcmp(mode, "idle")) {
    g_idle = calloc((size_t)g_count, sizeof *g_idle);
    for (long i = 0; i < g_count; i++) g_idle[i].fd = -1;
    run_threads(idle_thread, g_conc);
    read_cpu();
    printf("{\"ready\": %ld, \"errors\": %ld, \"elapsed_s\": %.3f, \"first_error\": \"%s\"}\n",
           atomic_load(&g_ok), atomic_load(&g_err), now_s() - t0, g_first_error);
    fflush(stdout);
    char tmp[64];
    while (fgets(tmp, sizeof tmp, stdin)) {
    }
    for (long i = 0; i < g_count; i++) conn_close(&g_idle[i]);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  double elapsed = now_s() - t0;
  read_cpu();
  printf("{\"mode\": \"%s\", \"ok\": %ld, \"errors\": %ld, \"elapsed_s\": %.4f, \"bytes\": %lld, "
         "\"cpu_user_s\": %.3f, \"cpu_sys_s\": %.3f, \"first_error\": \"%s\"",
         mode, atomic_load(&g_ok), atomic_load(&g_err), elapsed, (long long)atomic_load(&g_bytes),
         cpu_user, cpu_sys, g_first_error);
  print_lat();
  printf("}\n");
  return atomic_load(&g_err) ? 1 : 0;
}
