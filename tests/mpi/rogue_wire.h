/* cadre's wire format as the rogue rank (rogue.c) writes it: the constants, the archive
 * encoding of a few payloads, frames and envelopes with their checksummed headers. Plain C11;
 * see runtime/wire/frame.hpp, include/cadre/detail/archive.hpp and runtime/node/protocol.hpp
 * for the originals. Included by rogue.c alone (its helpers are static). */
#ifndef CADRE_TESTS_ROGUE_WIRE_H
#define CADRE_TESTS_ROGUE_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* rogue.c's: prints the message and ends the rank. */
static void die(const char* fmt, ...);

/* -- cadre's wire constants ----------------------------------------------------------------- */

enum { kSmallTag = 7301, kLargeTag = 7302, kControlTag = 7303 };
enum { kSlotBytes = 72 * 1024, kMaxControlBytes = 64 };
enum { kFrameHeader = 32, kEnvelopeHeader = 48 };
static const uint32_t kFrameMagic = 0x43414452u; /* "CADR" */
static const uint16_t kProtocolVersion = 2;

enum Cls {
  kHello = 1,
  kWelcome = 2,
  kAbortStart = 3,
  kShutdown = 4,
  kShutdownAck = 5,
  kFinalStatus = 6,
  kNodeDown = 7,
  kLinkFin = 9,
  kMessage = 20,
  kDown = 26,
  kExitSignal = 29,
  kKill = 30,
  kProgress = 42,
  kTraceEvents = 64, /* node -> master: run timeline events (runtime/node/trace.hpp) */
  kRelay = 255,      /* relayed through the master: class in aux, u32 node before the payload */
};

enum { kCtlHeartbeat = 1, kCtlPing = 2, kCtlPong = 3, kCtlCreditGrant = 0x80 };
/* The run timeline's clock probes (runtime/node/trace_session.hpp): the probe is the kind and
 * a u64 id; the reply the kind, the id and the node's steady clock (i64 nanoseconds). */
enum { kCtlClockProbe = 4, kCtlClockReply = 5 };
/* The run timeline's event kinds (trace::Kind): a task span, a send instant. */
enum { kTraceTask = 1, kTraceSend = 4 };
/* No node's steady clock reaches 2^60 ns (trace::kMaxTime). */
static const int64_t kTraceMaxTime = (int64_t)1 << 60;
enum { kReasonKilled = 5 };             /* cadre::Reason::killed */
static const int32_t kAllClear = 24301; /* the int the driver waits for */
/* The ints of the overtaken attack: kOvertakenBase, + 1, ... + kOvertakenFrames. */
static const int32_t kOvertakenBase = 1000000;
enum { kOvertakenFrames = 20000 };
static const uint32_t kNullNode = UINT32_MAX;

/* -- the archive encoding: little-endian fields, strings as u32 count + bytes --------------- */

typedef struct {
  unsigned char* p;
  size_t n, cap;
} Buf;

static unsigned char* buf_grow(Buf* b, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    unsigned char* p = realloc(b->p, cap);
    if (!p) die("out of memory (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
  }
  unsigned char* at = b->p + b->n;
  b->n += n;
  return at;
}

static void put_bytes(Buf* b, const void* p, size_t n) {
  if (n) memcpy(buf_grow(b, n), p, n);
}
static void put_u8(Buf* b, uint8_t v) { put_bytes(b, &v, 1); }
static void put_u16(Buf* b, uint16_t v) { put_bytes(b, &v, 2); }
static void put_u32(Buf* b, uint32_t v) { put_bytes(b, &v, 4); }
static void put_u64(Buf* b, uint64_t v) { put_bytes(b, &v, 8); }
static void put_i32(Buf* b, int32_t v) { put_bytes(b, &v, 4); }
static void put_i64(Buf* b, int64_t v) { put_bytes(b, &v, 8); }
static void put_str(Buf* b, const char* s) {
  size_t n = strlen(s);
  put_u32(b, (uint32_t)n);
  put_bytes(b, s, n);
}
static void put_pid(Buf* b, uint32_t node, uint64_t serial) {
  put_u32(b, node);
  put_u64(b, serial);
}

static uint32_t get_u32(const unsigned char* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t get_u64(const unsigned char* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* One trace event (trace::Record): t0, dur, n, peer, name, detail, kind, cls. */
static void put_trace_record(Buf* b, int64_t t0, int64_t dur, uint32_t name, uint32_t detail,
                             uint8_t kind) {
  put_i64(b, t0);
  put_i64(b, dur);
  put_u64(b, 1); /* n */
  put_u32(b, 0); /* peer */
  put_u32(b, name);
  put_u32(b, detail);
  put_u8(b, kind);
  put_u8(b, 0); /* cls */
}

/* -- frames --------------------------------------------------------------------------------- */

/* An envelope header (payload length aside). */
typedef struct {
  uint8_t cls, flags;
  uint16_t aux;
  uint64_t type_id, corr;
  uint32_t src_node;
  uint64_t src_serial;
  uint32_t dst_node;
  uint64_t dst_serial;
} Env;

static Env env_of(uint8_t cls, uint32_t src_node, uint64_t src_serial, uint32_t dst_node,
                  uint64_t dst_serial) {
  Env e;
  memset(&e, 0, sizeof e);
  e.cls = cls;
  e.src_node = src_node;
  e.src_serial = src_serial;
  e.dst_node = dst_node;
  e.dst_serial = dst_serial;
  return e;
}

typedef struct {
  Buf b;
  uint32_t count;
} Frame;

static void frame_begin(Frame* f) {
  memset(f, 0, sizeof *f);
  memset(buf_grow(&f->b, kFrameHeader), 0, kFrameHeader);
}

static void frame_add(Frame* f, const Env* e, const void* payload, size_t n) {
  put_u8(&f->b, e->cls);
  put_u8(&f->b, e->flags);
  put_u16(&f->b, e->aux);
  put_u32(&f->b, (uint32_t)n);
  put_u64(&f->b, e->type_id);
  put_u64(&f->b, e->corr);
  put_pid(&f->b, e->src_node, e->src_serial);
  put_pid(&f->b, e->dst_node, e->dst_serial);
  put_bytes(&f->b, payload, n);
  ++f->count;
}

/* The frame header's checksum: FNV-1a-32 over its first 28 bytes as seven 32-bit words. */
static uint32_t header_checksum(const unsigned char* p) {
  uint32_t h = 0x811c9dc5u;
  for (int i = 0; i < 28; i += 4) {
    h ^= get_u32(p + i);
    h *= 0x01000193u;
  }
  return h;
}

/* Writes the header: magic, version, flags, length, count, seq, epoch, checksum. */
static void frame_finish(Frame* f, uint64_t seq) {
  unsigned char* h = f->b.p;
  uint32_t length = (uint32_t)(f->b.n - kFrameHeader), epoch = 0, sum;
  uint16_t flags = 0;
  memcpy(h + 0, &kFrameMagic, 4);
  memcpy(h + 4, &kProtocolVersion, 2);
  memcpy(h + 6, &flags, 2);
  memcpy(h + 8, &length, 4);
  memcpy(h + 12, &f->count, 4);
  memcpy(h + 16, &seq, 8);
  memcpy(h + 24, &epoch, 4);
  sum = header_checksum(h);
  memcpy(h + 28, &sum, 4);
}

#endif
