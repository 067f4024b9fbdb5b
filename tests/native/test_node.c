/* The native node of the tests: handlers that answer, fail, crash, log and misuse the API,
 * and start-up checks of the C API's refusals (printed as "native checks: ok"). */
#include <cadre/cadre.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_text(void** out, size_t* out_len, const char* text) {
  size_t n = strlen(text);
  *out = cadre_alloc(n);
  if (!*out) return 1;
  memcpy(*out, text, n);
  *out_len = n;
  return 0;
}

/* "echo": the input, unchanged. */
static int echo(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)user;
  if (in_len == 0) return 0; /* *out stays NULL: no bytes */
  *out = cadre_alloc(in_len);
  if (!*out) return 1;
  memcpy(*out, in, in_len);
  *out_len = in_len;
  return 0;
}

/* "count": how often it was called on this node, through its user pointer. */
static int count(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)in;
  (void)in_len;
  char text[32];
  snprintf(text, sizeof text, "%ld", ++*(long*)user);
  return set_text(out, out_len, text);
}

/* "fail": status 3 with a reason. */
static int fail(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)in;
  (void)in_len;
  (void)user;
  set_text(out, out_len, "asked to fail");
  return 3;
}

/* "no_buffer": claims 5 bytes of output without a buffer. */
static int no_buffer(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)in;
  (void)in_len;
  (void)user;
  *out = NULL;
  *out_len = 5;
  return 0;
}

/* "crash": a segfault inside the handler. */
static int crash(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)in;
  (void)in_len;
  (void)out;
  (void)out_len;
  (void)user;
  fprintf(stderr, "native: crashing on purpose\n"); /* stderr: the master's log may not get it */
  *(volatile int*)(size_t)in_len = 1;               /* in_len is 0: a write to address 0 */
  return 0;
}

/* "whoami": logs a line through the master and returns this node's id as text. */
static int whoami(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)in;
  (void)in_len;
  (void)user;
  char text[32];
  snprintf(text, sizeof text, "%ld", cadre_node_id());
  cadre_log(CADRE_LOG_INFO, "native node %s says hello", text);
  return set_text(out, out_len, text);
}

/* "late_register": registering while serving is refused; returns cadre_last_error(). */
static int late_register(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)in;
  (void)in_len;
  int rc = cadre_register("too_late", echo, user);
  char text[512];
  snprintf(text, sizeof text, "%d %s", rc, cadre_last_error());
  return set_text(out, out_len, text);
}

static long calls;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "native checks: FAIL %s (line %d)\n", #cond, __LINE__); \
      return 1;                                                               \
    }                                                                         \
  } while (0)

int main(int argc, char** argv) {
  CHECK(cadre_version() == CADRE_C_API_VERSION);
  CHECK(cadre_serve() == CADRE_ERR_STATE);
  CHECK(strstr(cadre_last_error(), "cadre_start first") != NULL);
  CHECK(cadre_node_id() == -1);
  CHECK(cadre_start(NULL, &argv) == CADRE_ERR_ARGUMENT);
  CHECK(cadre_start(&argc, &argv) == CADRE_OK);
  CHECK(cadre_start(&argc, &argv) == CADRE_ERR_STATE);
  CHECK(cadre_register("", echo, NULL) == CADRE_ERR_ARGUMENT);
  CHECK(cadre_register(NULL, echo, NULL) == CADRE_ERR_ARGUMENT);
  CHECK(cadre_register("echo", NULL, NULL) == CADRE_ERR_ARGUMENT);
  CHECK(cadre_log(9, "x") == CADRE_ERR_ARGUMENT);
  CHECK(cadre_register("echo", echo, NULL) == CADRE_OK);
  CHECK(cadre_register("echo", echo, NULL) == CADRE_ERR_REGISTRY);
  CHECK(strstr(cadre_last_error(), "registered twice") != NULL);
  CHECK(cadre_register("count", count, &calls) == CADRE_OK);
  CHECK(cadre_register("fail", fail, NULL) == CADRE_OK);
  CHECK(cadre_register("no_buffer", no_buffer, NULL) == CADRE_OK);
  CHECK(cadre_register("crash", crash, NULL) == CADRE_OK);
  CHECK(cadre_register("whoami", whoami, NULL) == CADRE_OK);
  CHECK(cadre_register("late_register", late_register, NULL) == CADRE_OK);
  cadre_log(CADRE_LOG_INFO, "native checks: ok");
  int status = cadre_serve();
  if (status < 0) fprintf(stderr, "native node: %s\n", cadre_last_error());
  CHECK(cadre_register("after", echo, NULL) == CADRE_ERR_STATE);
  int last = cadre_stop();
  CHECK(last == (status < 0 ? 1 : status));
  CHECK(cadre_stop() == last);
  return status < 0 ? 1 : status;
}
