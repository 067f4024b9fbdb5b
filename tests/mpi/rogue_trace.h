/* The rogue rank's attacks on the run timeline (CADRE_TRACE): forged trace_events chunks, and
 * forged clock probes and replies on the control tag. See runtime/node/trace.hpp,
 * trace_file.hpp and trace_session.hpp for what a node sends. Included by rogue.c alone,
 * after its send helpers (its helpers are static). */
#ifndef CADRE_TESTS_ROGUE_TRACE_H
#define CADRE_TESTS_ROGUE_TRACE_H

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "rogue_wire.h"

/* rogue.c's */
static int serve_until(const int* flag, double secs);
static int drain_sends(size_t left, double secs);

/* forge_clock: the master's probes this rank answered, the replies to its own forged probes
 * (none may come: a node answers only the master's). */
static int g_probes_answered;
static long g_clock_replies;

/* The steady clock a cadre node reads (std::chrono::steady_clock on Linux). */
static int64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void send_clock(int dst, uint8_t kind, uint64_t id, int64_t remote, size_t n) {
  unsigned char m[17] = {0};
  m[0] = kind;
  memcpy(m + 1, &id, 8);
  memcpy(m + 9, &remote, 8);
  send_control(dst, m, n);
}

/* forge_clock: the master's probes of this node are answered, the first three with times no
 * clock reads (INT64_MAX, INT64_MIN, -1), the rest truly. With the first probe (not the
 * master's first, which went to node 1), a reply to the probe before it: one sent to node 1,
 * pending until node 1 answers. */
static void answer_clock_probe(int src, const unsigned char* p, size_t n) {
  static const int64_t bad[] = {INT64_MAX, INT64_MIN, -1};
  uint64_t id;
  if (strcmp(g_mode, "forge_clock") != 0 || n < 9 || src != 0) return;
  memcpy(&id, p + 1, 8);
  if (g_probes_answered == 0 && id > 1) send_clock(0, kCtlClockReply, id - 1, monotonic_ns(), 17);
  send_clock(0, kCtlClockReply, id, g_probes_answered < 3 ? bad[g_probes_answered] : monotonic_ns(),
             17);
  ++g_probes_answered;
}

static void forge_clock(void) {
  enum { kFlood = 2000 };
  /* A short reply and a reply to a probe never sent, to the master; a reply to node 1, which
   * probes nothing. Then, a second on (reports are rate-limited), probe floods to both. */
  send_clock(0, kCtlClockReply, 7, monotonic_ns(), 10);
  send_clock(0, kCtlClockReply, 0xdeadbeefu, monotonic_ns(), 17);
  send_clock(1, kCtlClockReply, 1, monotonic_ns(), 17);
  drain_sends(0, 5.0);
  serve_until(NULL, 1.2);
  for (int i = 0; i < kFlood; ++i) {
    send_clock(0, kCtlClockProbe, (uint64_t)i, 0, 9);
    send_clock(1, kCtlClockProbe, (uint64_t)i, 0, 9);
    if (g_nsends > 1024) drain_sends(256, 5.0);
  }
  drain_sends(0, 5.0);
  serve_until(NULL, 0.5); /* a reply would be here by now */
  if (g_clock_replies == 0)
    say("no clock reply to %d forged probes; %d of the master's probes answered", 2 * kFlood,
        g_probes_answered);
  else
    say("%ld clock replies to forged probes", g_clock_replies);
}

/* -- forged trace_events chunks (trace::Chunk: names, events, counts, unrecorded,
 *    sampled_out) ------------------------------------------------------------------------ */

static void send_chunk(int dst, const Buf* b) {
  Env e = env_of(kTraceEvents, (uint32_t)g_rank, 0, (uint32_t)dst, 0);
  send_envelope(dst, &e, b);
}

/* A chunk of one name and one event, no counters. */
static void send_one_event(int64_t t0, int64_t dur, uint32_t name, uint8_t kind) {
  Buf b = {0};
  put_u32(&b, 1);
  put_str(&b, "forged");
  put_u32(&b, 1);
  put_trace_record(&b, t0, dur, name, 0, kind);
  put_u32(&b, 0);
  put_u64(&b, 0);
  put_u64(&b, 0);
  send_chunk(0, &b);
  free(b.p);
}

/* A chunk a node could send, but with times at the ends of what a clock reads and counts at
 * their maximum: a task span now ("rogue_task"), spans at 0 and at 2^60 ns (far outside the
 * run), a send, a counter. */
static void well_formed_chunk(Buf* b) {
  const int64_t now = monotonic_ns();
  put_u32(b, 1);
  put_str(b, "rogue_task");
  put_u32(b, 4);
  put_trace_record(b, now - 1000000, 500000, 0, 0, kTraceTask);
  put_trace_record(b, 0, 0, 0, 0, kTraceTask);
  put_trace_record(b, kTraceMaxTime, 0, 0, 0, kTraceTask);
  put_trace_record(b, now, -1, 0, 0, kTraceSend);
  put_u32(b, 1);
  put_i64(b, now / 10000000 * 10000000);
  put_u32(b, UINT32_MAX);
  put_u32(b, UINT32_MAX);
  put_u64(b, UINT64_MAX); /* unrecorded */
  put_u64(b, UINT64_MAX); /* sampled_out */
}

static void forge_trace(void) {
  const int64_t now = monotonic_ns();
  Buf b = {0};
  /* Truncated: a name of 10 bytes of which 3 came. */
  put_u32(&b, 1);
  put_u32(&b, 10);
  put_bytes(&b, "abc", 3);
  send_chunk(0, &b);
  /* Vector lengths far past the bytes: 2^32 - 1 names; 2^31 - 1 events. */
  b.n = 0;
  put_u32(&b, UINT32_MAX);
  put_u64(&b, 0);
  send_chunk(0, &b);
  b.n = 0;
  put_u32(&b, 0);
  put_u32(&b, INT32_MAX);
  put_trace_record(&b, now, 1, 0, 0, kTraceTask);
  send_chunk(0, &b);
  /* Well-formed bytes, events no node records. */
  send_one_event(now, 1000, 5, kTraceTask); /* name index past the names */
  send_one_event(now, 1000, 0, 200);        /* an unknown kind */
  send_one_event(now, -5000, 0, kTraceTask);
  send_one_event(INT64_MAX, 1000, 0, kTraceTask);
  send_one_event(INT64_MIN, 1000, 0, kTraceTask);
  b.n = 0; /* a message counter at INT64_MIN */
  put_u32(&b, 0);
  put_u32(&b, 0);
  put_u32(&b, 1);
  put_i64(&b, INT64_MIN);
  put_u32(&b, 1);
  put_u32(&b, 1);
  put_u64(&b, 0);
  put_u64(&b, 0);
  send_chunk(0, &b);
  /* Taken: extreme but possible times (left out of the file) and counts. */
  b.n = 0;
  well_formed_chunk(&b);
  send_chunk(0, &b);
  /* To a worker: trace events go only to the master. */
  send_chunk(1, &b);
  free(b.p);
}

#endif
