/* A native node: a C program that serves two named handlers to a cadre job.
 *
 * Build it from an installed cadre with a C compiler alone:
 *   gcc -std=c11 native_node.c $(pkg-config --cflags --libs cadre-c) -o native_node
 * and start it from the master with cadre::spawn_nodes({.program = "native_node"}); the
 * master then calls run<std::vector<char>>(on(n), "sum_doubles", bytes).
 */
#include <cadre/cadre.h>
#include <stdlib.h>
#include <string.h>

/* "reverse": the input bytes, last first. */
static int reverse(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)user;
  char* r = cadre_alloc(in_len);
  if (!r) return 1;
  for (size_t i = 0; i < in_len; ++i) r[i] = ((const char*)in)[in_len - 1 - i];
  *out = r;
  *out_len = in_len;
  return 0;
}

/* "sum_doubles": the sum of an array of doubles (this host's byte order), as one double. A
 * length that is not a whole number of doubles is an error with a reason. */
static int sum_doubles(const void* in, size_t in_len, void** out, size_t* out_len, void* user) {
  (void)user;
  if (in_len % sizeof(double) != 0) {
    static const char why[] = "the input is not a whole number of doubles";
    *out = cadre_alloc(sizeof why - 1);
    if (*out) memcpy(*out, why, sizeof why - 1);
    *out_len = *out ? sizeof why - 1 : 0;
    return 2;
  }
  double sum = 0.0, x;
  for (size_t i = 0; i < in_len / sizeof(double); ++i) {
    memcpy(&x, (const char*)in + i * sizeof(double), sizeof x);
    sum += x;
  }
  double* r = cadre_alloc(sizeof sum);
  if (!r) return 1;
  *r = sum;
  *out = r;
  *out_len = sizeof sum;
  return 0;
}

int main(int argc, char** argv) {
  if (cadre_start(&argc, &argv) != CADRE_OK ||
      cadre_register("reverse", reverse, NULL) != CADRE_OK ||
      cadre_register("sum_doubles", sum_doubles, NULL) != CADRE_OK) {
    cadre_log(CADRE_LOG_ERROR, "native_node: %s", cadre_last_error());
    return 1;
  }
  int status = cadre_serve();
  if (status < 0) cadre_log(CADRE_LOG_ERROR, "native_node: %s", cadre_last_error());
  cadre_stop();
  return status < 0 ? 1 : status;
}
