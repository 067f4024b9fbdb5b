/* A rogue rank for cadre's tests. It is the last rank of an MPMD job whose other ranks run a
 * cadre program (tests/mpi/rogue_target.cpp): it takes part in cadre's start-up as any rank
 * can (it duplicates MPI_COMM_WORLD, says hello with an empty registry, gets the welcome,
 * sends heartbeats), then attacks the job once, as its MODE argument says, with forged or
 * oversized MPI messages, and at the end shuts down as a well-mannered node would.
 *
 *   cadre-rogue MODE
 *
 * Modes (node 0 is the master, node 1 the worker the target program uses):
 *   none                nothing: the harness itself, as a baseline
 *   control_oversize    100 bytes on the control tag (64 at most) to nodes 0 and 1
 *   control_oversize_large
 *                       100 KiB on the control tag to nodes 0 and 1: above MPI's eager limit
 *   small_oversize      100 KiB of garbage on the small-frame tag to nodes 0 and 1
 *   large_oversize      4 MiB and 96 MiB of garbage on the large-frame tag to nodes 0 and 1
 *                       (run with CADRE_PAYLOAD_CAP=1048576)
 *   forge_node_down     a well-formed node_down (node 1 is lost) to nodes 0 and 1
 *   forge_final_status  a well-formed final_status (status 77, nodes 1 and 2 drain) to node 1
 *   forge_shutdown      a well-formed shutdown to node 1
 *   forge_down          down, exit_signal and kill envelopes to the driver <0.0> and the
 *                       pids after it, whose source pid is a process of node 1
 *   garbage_flood       20 000 small garbage messages to node 0 within about 1.5 s
 *   early_flood         300 well-formed 1 MiB frames to each of nodes 0 and 1, with sequence
 *                       numbers 100 to 399 ahead of the one due
 *   overtaken           20 000 small frames to node 0, each with one int for the driver
 *                       (kOvertakenBase + 1, + 2, ...), sent before the frame due (which
 *                       carries kOvertakenBase): what a driver's small frames do when they
 *                       overtake a larger one; the driver must get all of them, in order
 *   bad_progress        a progress report with done > total, and one whose source is node 1
 *   late_hello          a second hello, under another name, after the welcome
 *   forge_trace         (a traced job) trace_events chunks to node 0: truncated, with vector
 *                       lengths past the bytes, a name index past the names, an unknown event
 *                       kind, a negative span, times and a counter at INT64_MAX and INT64_MIN;
 *                       then a well-formed one with times at 0 and 2^60 ns and counts at their
 *                       maximum, to node 0 and to node 1 (a worker)
 *   forge_clock         (a traced job) the master's probes of this node answered with
 *                       INT64_MAX, INT64_MIN and -1 first, and a reply to the probe sent to node
 *                       1 before; a short reply and one to a probe never sent, to node 0; a
 *                       reply to node 1; then 2000 clock probes each to nodes 0 and 1
 *
 * Conversation with the target program: the driver sends any message to a process of this
 * node when it is ready to be attacked ("go"); after the attack's sends have completed, this
 * rank sends the int kAllClear to the driver <0.0> from its pid <N.1>.
 *
 * Plain C11 against MPI's C API: the bits of cadre's wire format it needs are re-implemented
 * here (frame and envelope headers, the header checksum, the archive encoding of a few
 * payloads). See runtime/wire/frame.hpp, include/cadre/detail/archive.hpp and
 * runtime/node/protocol.hpp for the originals.
 */
#define _POSIX_C_SOURCE 200809L

#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rogue_wire.h"

/* -- small utilities ------------------------------------------------------------------------ */

static int g_rank, g_size;
static MPI_Comm g_comm;
static const char* g_mode = "none";

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void nap_us(long us) {
  struct timespec t = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&t, NULL);
}

/* Writes "rogue: <message>\n" to `out` in one piece: MPICH's Hydra forwards each write as it
 * comes, so a line written in parts may be split by another rank's output. */
static void line(FILE* out, const char* fmt, va_list ap) {
  char text[1024];
  int n = snprintf(text, sizeof text, "rogue: ");
  n += vsnprintf(text + n, sizeof text - (size_t)n - 1, fmt, ap);
  if (n > (int)sizeof text - 2) n = (int)sizeof text - 2;
  text[n++] = '\n';
  fwrite(text, 1, (size_t)n, out);
  fflush(out);
}

static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  line(stdout, fmt, ap);
  va_end(ap);
}

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  line(stderr, fmt, ap);
  va_end(ap);
  fflush(NULL);
  _exit(3); /* without MPI_Finalize: mpirun ends the job */
}

static void* xmalloc(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}

static void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) die("%s failed (MPI error %d)", what, rc);
}

/* FNV-1a, 64 bits: the id of a standard message type is that of its (demangled) name. */
static uint64_t fnv1a64(const char* s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ull;
  }
  return h;
}

/* -- sends in flight ------------------------------------------------------------------------ */

typedef struct {
  MPI_Request req;
  void* owned; /* freed when the send completes (NULL: a buffer shared by several sends) */
} Send;

static Send* g_sends;
static size_t g_nsends, g_capsends;

static void isend(int dst, int tag, const void* p, size_t n, void* owned) {
  if (n > (size_t)INT32_MAX) die("a message of %zu bytes is too large for MPI", n);
  if (g_nsends == g_capsends) {
    g_capsends = g_capsends ? 2 * g_capsends : 256;
    g_sends = realloc(g_sends, g_capsends * sizeof *g_sends);
    if (!g_sends) die("out of memory");
  }
  Send* s = &g_sends[g_nsends++];
  s->owned = owned;
  check_mpi(MPI_Isend(p, (int)n, MPI_BYTE, dst, tag, g_comm, &s->req), "MPI_Isend");
}

static void progress_sends(void) {
  for (size_t i = 0; i < g_nsends;) {
    int done = 0;
    check_mpi(MPI_Test(&g_sends[i].req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (!done) {
      ++i;
      continue;
    }
    free(g_sends[i].owned);
    g_sends[i] = g_sends[--g_nsends];
  }
}

/* The link sequence numbers: frames to each rank are numbered 1, 2, 3 ... */
static uint64_t* g_seq_out;

/* Sends a finished frame to `dst` with the next sequence number of that link. */
static void send_frame(int dst, Frame* f) {
  frame_finish(f, g_seq_out[dst]++);
  isend(dst, f->b.n <= kSlotBytes ? kSmallTag : kLargeTag, f->b.p, f->b.n, f->b.p);
  f->b.p = NULL;
}

/* One envelope in a frame of its own. */
static void send_envelope(int dst, const Env* e, const Buf* payload) {
  Frame f;
  frame_begin(&f);
  frame_add(&f, e, payload ? payload->p : NULL, payload ? payload->n : 0);
  send_frame(dst, &f);
}

static void send_control(int dst, const void* p, size_t n) {
  void* copy = xmalloc(n);
  memcpy(copy, p, n);
  isend(dst, kControlTag, copy, n, copy);
}

#include "rogue_trace.h"

/* -- what arrives --------------------------------------------------------------------------- */

static int g_welcomed, g_go, g_shutdown_acked, g_final, g_final_status, g_final_finalize;
static char* g_fin_from;     /* link_fin received from each rank */
static char* g_draining;     /* the workers that drain their links at the end (final_status) */
static uint64_t* g_consumed; /* frame bytes taken off each link, not yet granted back */
static double g_last_heartbeat;

static void on_envelope(int src, const Env* e, const unsigned char* p, size_t n) {
  switch (e->cls) {
    case kWelcome:
      if (!g_welcomed) say("welcomed by the master as node %d of %d", g_rank, g_size);
      g_welcomed = 1;
      return;
    case kAbortStart:
      die("the master refused the start-up");
      return;
    case kShutdown: {
      /* ShutdownAck{clean = true, unfinished = 0, dropped = 0, note = ""} */
      Buf ack = {0};
      put_u8(&ack, 1);
      put_u32(&ack, 0);
      put_u64(&ack, 0);
      put_str(&ack, "");
      Env a = env_of(kShutdownAck, (uint32_t)g_rank, 0, 0, 0);
      send_envelope(0, &a, &ack);
      free(ack.p);
      if (!g_shutdown_acked) say("shut-down requested by node %d: acknowledged", src);
      g_shutdown_acked = 1;
      return;
    }
    case kFinalStatus:
      /* FinalStatus{status i32, finalize bool, draining: the workers that drain} */
      if (n >= 5) {
        int32_t st;
        memcpy(&st, p, 4);
        g_final_status = st;
        g_final_finalize = p[4] != 0;
      }
      if (n >= 9 && (n - 9) / 4 >= get_u32(p + 5)) {
        memset(g_draining, 0, (size_t)g_size);
        for (uint32_t i = 0, count = get_u32(p + 5); i < count; ++i) {
          uint32_t r = get_u32(p + 9 + 4 * (size_t)i);
          if (r < (uint32_t)g_size) g_draining[r] = 1;
        }
      }
      g_final = 1;
      return;
    case kNodeDown:
      if (n >= 4) say("told by node %d that node %u is lost", src, get_u32(p));
      return;
    case kLinkFin:
      g_fin_from[src] = 1;
      return;
    case kMessage:
      if (!g_go) say("the target is ready");
      g_go = 1;
      return;
    default:
      return; /* relays and the rest: not this rank's business */
  }
}

static void on_frame(int src, const unsigned char* p, size_t n) {
  g_consumed[src] += n;
  if (n < kFrameHeader || get_u32(p) != kFrameMagic) {
    say("a malformed frame of %zu bytes from node %d", n, src);
    return;
  }
  uint32_t count = get_u32(p + 12);
  size_t at = kFrameHeader;
  for (uint32_t i = 0; i < count; ++i) {
    if (n - at < kEnvelopeHeader) break;
    const unsigned char* h = p + at;
    Env e;
    e.cls = h[0];
    e.flags = h[1];
    memcpy(&e.aux, h + 2, 2);
    uint32_t len = get_u32(h + 4);
    e.type_id = get_u64(h + 8);
    e.corr = get_u64(h + 16);
    e.src_node = get_u32(h + 24);
    e.src_serial = get_u64(h + 28);
    e.dst_node = get_u32(h + 36);
    e.dst_serial = get_u64(h + 40);
    at += kEnvelopeHeader;
    if (len > n - at) break;
    on_envelope(src, &e, p + at, len);
    at += len;
  }
}

static void on_control(int src, const unsigned char* p, size_t n) {
  if (n >= 9 && p[0] == kCtlPing) {
    unsigned char pong[16] = {0};
    pong[0] = kCtlPong;
    memcpy(pong + 1, p + 1, 8);
    send_control(src, pong, sizeof pong);
  }
  if (n >= 9 && p[0] == kCtlClockProbe) answer_clock_probe(src, p, n);
  if (n >= 9 && p[0] == kCtlClockReply) ++g_clock_replies;
  /* heartbeats and credit grants need nothing */
}

/* One pass: takes what arrived, grants the credit back, beats, progresses sends. */
static void service(void) {
  for (int k = 0; k < 64; ++k) {
    int flag = 0, count = 0;
    MPI_Message msg;
    MPI_Status st;
    check_mpi(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, g_comm, &flag, &msg, &st), "MPI_Improbe");
    if (!flag) break;
    check_mpi(MPI_Get_count(&st, MPI_BYTE, &count), "MPI_Get_count");
    unsigned char* b = xmalloc((size_t)count);
    check_mpi(MPI_Mrecv(b, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
    if (st.MPI_TAG == kControlTag)
      on_control(st.MPI_SOURCE, b, (size_t)count);
    else
      on_frame(st.MPI_SOURCE, b, (size_t)count);
    free(b);
  }
  /* Grants never exceed what the sender may hold: the receiver caps them at its limit. */
  for (int r = 0; r < g_size; ++r) {
    if (!g_consumed[r]) continue;
    unsigned char grant[9];
    grant[0] = kCtlCreditGrant;
    memcpy(grant + 1, &g_consumed[r], 8);
    send_control(r, grant, sizeof grant);
    g_consumed[r] = 0;
  }
  double t = now_s();
  if (g_welcomed && t - g_last_heartbeat >= 0.2) {
    unsigned char beat[16] = {kCtlHeartbeat};
    send_control(0, beat, sizeof beat);
    g_last_heartbeat = t;
  }
  progress_sends();
}

/* Serves (sleeping a little between passes) for `secs`, or until *flag is set. */
static int serve_until(const int* flag, double secs) {
  double until = now_s() + secs;
  while (!(flag && *flag) && now_s() < until) {
    service();
    nap_us(300);
  }
  return flag ? *flag : 0;
}

/* Serves until at most `left` sends are in flight, or `secs` pass. */
static int drain_sends(size_t left, double secs) {
  double until = now_s() + secs;
  for (;;) {
    service();
    if (g_nsends <= left) return 1;
    if (now_s() >= until) return 0;
    nap_us(200);
  }
}

/* -- payloads ------------------------------------------------------------------------------- */

static void hello_payload(Buf* b, const char* name, const char* host, int32_t os_pid) {
  put_str(b, name);
  put_str(b, host);
  put_str(b, "cadre-rogue");
  put_i32(b, os_pid);
  put_u32(b, 0); /* the registry: empty */
  put_str(b, "");
}

/* -- the attacks ---------------------------------------------------------------------------- */

static const char* kForged = "forged by the rogue rank";

static void* garbage(size_t n) {
  unsigned char* p = xmalloc(n);
  memset(p, 0xa5, n); /* no magic; the would-be sequence number is far ahead */
  return p;
}

/* A heartbeat that goes on for `n` bytes. */
static void control_oversize_of(size_t n) {
  for (int dst = 0; dst < 2; ++dst) {
    unsigned char* m = garbage(n);
    m[0] = kCtlHeartbeat;
    isend(dst, kControlTag, m, n, m);
  }
}

static void control_oversize(void) { control_oversize_of(100); }

static void control_oversize_large(void) { control_oversize_of(100 * 1024); }

static void small_oversize(void) {
  for (int dst = 0; dst < 2; ++dst) {
    void* m = garbage(100 * 1024);
    isend(dst, kSmallTag, m, 100 * 1024, m);
  }
}

static void large_oversize(void) {
  static const size_t sizes[] = {(size_t)4 << 20, (size_t)96 << 20};
  for (int k = 0; k < 2; ++k) {
    /* calloc: the large one costs this rank no memory until MPI reads it. */
    unsigned char* m = calloc(sizes[k], 1);
    if (!m) die("out of memory");
    memset(m, 0xa5, 64);
    for (int dst = 0; dst < 2; ++dst) isend(dst, kLargeTag, m, sizes[k], NULL);
  }
}

static void forge_node_down(void) {
  for (int dst = 0; dst < 2; ++dst) {
    Buf b = {0};
    put_u32(&b, 1);
    Env e = env_of(kNodeDown, (uint32_t)g_rank, 0, (uint32_t)dst, 0);
    send_envelope(dst, &e, &b);
    free(b.p);
  }
}

static void forge_final_status(void) {
  Buf b = {0};
  put_i32(&b, 77);
  put_u8(&b, 1);  /* finalize */
  put_u32(&b, 2); /* draining: nodes 1 and 2 */
  put_u32(&b, 1);
  put_u32(&b, 2);
  Env e = env_of(kFinalStatus, (uint32_t)g_rank, 0, 1, 0);
  send_envelope(1, &e, &b);
  free(b.p);
}

/* Relays: to a worker directly (only the master relays), through the master to a node it does
 * not know, and a final_status through the master to node 1 (the master writes the rogue in
 * as the sender, so node 1 refuses it). */
static void forge_relay(void) {
  struct {
    int dst;
    uint32_t node;
    uint8_t inner;
  } const forged[] = {{1, 0, kShutdown}, {0, 99, kShutdown}, {0, 1, kFinalStatus}};
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; ++i) {
    Buf b = {0};
    put_u32(&b, forged[i].node);
    if (forged[i].inner == kShutdown) {
      put_i64(&b, 0);
    } else {
      put_i32(&b, 77);
      put_u8(&b, 1);
      put_u32(&b, 0);
    }
    Env e = env_of(kRelay, (uint32_t)g_rank, 0, forged[i].node, 0);
    e.aux = forged[i].inner;
    send_envelope(forged[i].dst, &e, &b);
    free(b.p);
  }
}

static void forge_shutdown(void) {
  Buf b = {0};
  put_i64(&b, 0); /* the shut-down timeout, ms */
  Env e = env_of(kShutdown, (uint32_t)g_rank, 0, 1, 0);
  send_envelope(1, &e, &b);
  free(b.p);
}

/* Downs for the driver's first monitors, then exit signals and kills for the driver and the
 * pids after it: all claim to come from process <1.1>, a process of node 1. */
static void forge_down(void) {
  enum { kMonitors = 256, kPids = 17 };
  const uint32_t victim_node = 1;
  const uint64_t victim_serial = 1;
  Frame f;
  frame_begin(&f);
  for (uint64_t id = 1; id <= kMonitors; ++id) {
    /* Down{pid, reason, detail, MonitorRef{watcher, target, id}} */
    Buf b = {0};
    put_pid(&b, victim_node, victim_serial);
    put_u8(&b, kReasonKilled);
    put_str(&b, kForged);
    put_pid(&b, 0, 0);
    put_pid(&b, victim_node, victim_serial);
    put_u64(&b, id);
    Env e = env_of(kDown, victim_node, victim_serial, 0, 0);
    e.corr = id;
    frame_add(&f, &e, b.p, b.n);
    free(b.p);
  }
  send_frame(0, &f);
  frame_begin(&f);
  for (uint64_t serial = 0; serial < kPids; ++serial) {
    Buf b = {0}; /* ExitSignal{reason, detail} */
    put_u8(&b, kReasonKilled);
    put_str(&b, kForged);
    Env e = env_of(kExitSignal, victim_node, victim_serial, 0, serial);
    frame_add(&f, &e, b.p, b.n);
    free(b.p);
  }
  send_frame(0, &f);
  frame_begin(&f);
  for (uint64_t serial = 0; serial < kPids; ++serial) {
    Buf b = {0}; /* the kill's detail */
    put_str(&b, kForged);
    Env e = env_of(kKill, victim_node, victim_serial, 0, serial);
    frame_add(&f, &e, b.p, b.n);
    free(b.p);
  }
  send_frame(0, &f);
}

static void garbage_flood(void) {
  enum { kTotal = 20000, kBurst = 2000, kSize = 48 };
  for (int sent = 0; sent < kTotal && !g_final;) {
    double next = now_s() + 0.15;
    for (int i = 0; i < kBurst; ++i, ++sent) {
      unsigned char* m = garbage(kSize);
      memcpy(m, &sent, sizeof sent);
      isend(0, kSmallTag, m, kSize, m);
      if (g_nsends > 4096) drain_sends(1024, 5.0);
    }
    serve_until(NULL, next - now_s());
  }
  say("sent 20000 garbage messages");
}

static void early_flood(void) {
  enum { kFrames = 300, kAhead = 100, kWindow = 16 };
  const size_t frame_bytes = (size_t)1 << 20;
  const size_t payload = frame_bytes - kFrameHeader - kEnvelopeHeader;
  void* zeros = calloc(payload, 1);
  if (!zeros) die("out of memory");
  double until = now_s() + 8.0;
  int sent = 0;
  for (int i = 0; i < kFrames && now_s() < until && !g_final; ++i) {
    for (int dst = 0; dst < 2; ++dst) {
      /* A message for a process that does not exist, in a frame that is not due yet; this
       * rank's own frames go on from the sequence number due, so these are never reached. */
      Frame f;
      frame_begin(&f);
      Env e = env_of(kMessage, (uint32_t)g_rank, 1, (uint32_t)dst, 999999);
      e.type_id = fnv1a64("int");
      frame_add(&f, &e, zeros, payload);
      frame_finish(&f, g_seq_out[dst] + kAhead + (uint64_t)i);
      isend(dst, kLargeTag, f.b.p, f.b.n, f.b.p);
      ++sent;
    }
    if (g_nsends > 2 * kWindow) drain_sends(kWindow, until - now_s());
  }
  free(zeros);
  say("sent %d early frames of 1 MiB", sent);
}

static void overtaken(void) {
  enum { kFrames = kOvertakenFrames, kWindow = 64 };
  const uint64_t due = g_seq_out[0];
  g_seq_out[0] = due + kFrames + 1; /* this rank's other frames come after these */
  double until = now_s() + 8.0;
  /* Frames due + 1 ... due + kFrames first, then the frame due: the sequence numbers say the
   * order, whatever order they complete in. Well within the link's credit (about 2 MB). */
  for (int i = 0; i <= kFrames && now_s() < until && !g_final; ++i) {
    const int k = i < kFrames ? i + 1 : 0;
    Buf b = {0};
    put_i32(&b, kOvertakenBase + k);
    Env m = env_of(kMessage, (uint32_t)g_rank, 1, 0, 0);
    m.type_id = fnv1a64("int");
    Frame f;
    frame_begin(&f);
    frame_add(&f, &m, b.p, b.n);
    free(b.p);
    frame_finish(&f, due + (uint64_t)k);
    isend(0, kSmallTag, f.b.p, f.b.n, f.b.p);
    if (g_nsends > 2 * kWindow) drain_sends(kWindow, until - now_s());
  }
  say("sent %d frames ahead of the one due, then that one", kFrames);
}

static void bad_progress(void) {
  Buf b = {0};
  put_u64(&b, 777777); /* done */
  put_u64(&b, 1000);   /* total */
  Env e = env_of(kProgress, kNullNode, 0, 0, 0);
  send_envelope(0, &e, &b);
  b.n = 0;
  put_u64(&b, 4242);
  put_u64(&b, 4343);
  e = env_of(kProgress, 1, 0, 0, 0); /* "from" node 1 */
  send_envelope(0, &e, &b);
  free(b.p);
}

static void late_hello(void) {
  Buf b = {0};
  hello_payload(&b, "rogue-renamed", "rogue-host", 1);
  Env e = env_of(kHello, (uint32_t)g_rank, 0, 0, 0);
  send_envelope(0, &e, &b);
  free(b.p);
}

typedef struct {
  const char* name;
  void (*run)(void);
} Attack;

static const Attack kAttacks[] = {
    {"none", NULL},
    {"control_oversize", control_oversize},
    {"control_oversize_large", control_oversize_large},
    {"small_oversize", small_oversize},
    {"large_oversize", large_oversize},
    {"forge_node_down", forge_node_down},
    {"forge_final_status", forge_final_status},
    {"forge_shutdown", forge_shutdown},
    {"forge_relay", forge_relay},
    {"forge_down", forge_down},
    {"garbage_flood", garbage_flood},
    {"early_flood", early_flood},
    {"overtaken", overtaken},
    {"bad_progress", bad_progress},
    {"late_hello", late_hello},
    {"forge_trace", forge_trace},
    {"forge_clock", forge_clock},
};

/* -- the whole run -------------------------------------------------------------------------- */

int main(int argc, char** argv) {
  const Attack* attack = NULL;
  g_mode = argc > 1 ? argv[1] : "none";
  for (size_t i = 0; i < sizeof kAttacks / sizeof kAttacks[0]; ++i)
    if (strcmp(kAttacks[i].name, g_mode) == 0) attack = &kAttacks[i];
  /* Start-up as cadre does it (the same collective calls, in the same order). */
  int provided = 0;
  check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  if (!attack) die("unknown mode '%s'", g_mode);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  char host[MPI_MAX_PROCESSOR_NAME];
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  host[host_len] = 0;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &g_comm), "MPI_Comm_dup");
  check_mpi(MPI_Comm_set_errhandler(g_comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (g_rank < 2) die("must run on rank 2 or later (ranks 0 and 1 are the target's)");
  g_seq_out = calloc((size_t)g_size, sizeof *g_seq_out);
  g_consumed = calloc((size_t)g_size, sizeof *g_consumed);
  g_fin_from = calloc((size_t)g_size, 1);
  g_draining = malloc((size_t)g_size);
  if (!g_seq_out || !g_consumed || !g_fin_from || !g_draining) die("out of memory");
  memset(g_draining, 1, (size_t)g_size); /* unless final_status names them */
  for (int r = 0; r < g_size; ++r) g_seq_out[r] = 1;

  /* hello: as a worker says it, with an empty registry, in frame 1 of the link to node 0 */
  char name[MPI_MAX_PROCESSOR_NAME + 16];
  snprintf(name, sizeof name, "%s:%d", host, g_rank);
  Buf hello = {0};
  hello_payload(&hello, name, host, (int32_t)getpid());
  Env e = env_of(kHello, (uint32_t)g_rank, 0, 0, 0);
  send_envelope(0, &e, &hello);
  free(hello.p);
  if (!serve_until(&g_welcomed, 30.0)) die("no welcome from the master within 30 s");

  /* The attack, once the target is ready for it. */
  if (attack->run) {
    if (!serve_until(&g_go, 20.0)) say("the target never said it was ready: attacking anyway");
    attack->run();
    if (!drain_sends(0, 8.0)) say("%zu of the attack's sends did not complete", g_nsends);
    say("attack %s done", g_mode);
  }
  /* The all-clear: the int kAllClear from <N.1> to the driver <0.0>. */
  {
    Buf b = {0};
    put_i32(&b, kAllClear);
    Env m = env_of(kMessage, (uint32_t)g_rank, 1, 0, 0);
    m.type_id = fnv1a64("int");
    send_envelope(0, &m, &b);
    free(b.p);
  }

  /* Shut-down: the ack goes out as soon as the request arrives (see on_envelope). */
  if (!serve_until(&g_final, 60.0)) die("no final status from the master within 60 s");
  say("final status %d (%s)", g_final_status, g_final_finalize ? "finalize" : "no finalize");
  /* The end of the links: link_fin (empty) to every other draining worker; once the master's
   * and every such worker's link_fin has come, one to the master with this node's drop
   * counts (all zero). */
  g_draining[0] = 1; /* the master always sends its link_fin */
  for (int r = 1; r < g_size; ++r) {
    if (r == g_rank || !g_draining[r]) continue;
    Env fin = env_of(kLinkFin, (uint32_t)g_rank, 0, (uint32_t)r, 0);
    send_envelope(r, &fin, NULL);
  }
  double fin_deadline = now_s() + 1.5;
  for (;;) {
    int all = 1;
    for (int r = 0; r < g_size; ++r)
      if (r != g_rank && g_draining[r] && !g_fin_from[r]) all = 0;
    if (all || now_s() >= fin_deadline) break;
    service();
    nap_us(200);
  }
  for (int r = 0; r < g_size; ++r)
    if (r != g_rank && g_draining[r] && !g_fin_from[r]) say("no link_fin from node %d", r);
  {
    /* DropCounts{ended, unread, overflow, late_reply, node_down, malformed, after_close,
     * undrained}: eight u64, then by_type (a map: a u32 count, then u64 pairs), as in
     * runtime/node/protocol.hpp. */
    Buf drops = {0};
    for (int k = 0; k < 8; ++k) put_u64(&drops, 0);
    put_u32(&drops, 0); /* by_type: no entries */
    Env fin = env_of(kLinkFin, (uint32_t)g_rank, 0, 0, 0);
    send_envelope(0, &fin, &drops);
    free(drops.p);
  }
  drain_sends(0, 2.0);
  if (!g_final_finalize) {
    say("ending without MPI_Finalize, status %d", g_final_status);
    fflush(NULL);
    _exit(g_final_status ? g_final_status : 1);
  }
  say("finished");
  MPI_Comm_free(&g_comm);
  MPI_Finalize();
  return 0;
}
