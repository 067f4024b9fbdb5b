/// \file test_frame.cpp
/// Unit tests of the wire framing (runtime/wire/frame.hpp).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/errors.hpp"
#include "wire/frame.hpp"

namespace {

using cadre::DecodeError;
using cadre::NodeId;
using cadre::Pid;
using cadre::detail::ByteBuffer;
using cadre::detail::OutArchive;
using namespace cadre::wire;
using ::testing::HasSubstr;

constexpr std::size_t kCap = 1 << 20;

Envelope make_envelope(std::uint8_t cls, std::uint64_t type_id, std::uint64_t corr) {
  Envelope e;
  e.cls = cls;
  e.flags = 0x5A;
  e.aux = 0xBEEF;
  e.type_id = type_id;
  e.corr = corr;
  e.src = Pid{NodeId(1), 0x1122334455667788ULL};
  e.dst = Pid{NodeId(0xFFFFFFFE), 42};
  return e;
}

struct Sample {
  std::vector<char> bytes;
  std::vector<Envelope> envelopes;
};

// A frame of three envelopes: an archive-encoded payload, a raw one, and an empty one.
Sample sample_frame(std::uint64_t seq = 7, std::uint32_t epoch = 3) {
  FrameWriter w;
  w.begin_frame();
  Envelope a = make_envelope(1, 100, 1000);
  std::size_t off = w.begin_envelope(a);
  OutArchive ar(w.buffer());
  ar << std::string("payload one") << std::vector<int>{1, 2, 3};
  w.end_envelope(off);
  a.length = static_cast<std::uint32_t>(ar.bytes_written());
  Envelope b = make_envelope(2, 200, 0);
  w.append_envelope(b, "raw!", 4);
  b.length = 4;
  Envelope c = make_envelope(3, 300, 3000);
  w.append_envelope(c, nullptr, 0);
  EXPECT_EQ(w.envelope_count(), 3u);
  EXPECT_FALSE(w.empty());
  w.finish(seq, epoch);
  EXPECT_EQ(w.frame_bytes(),
            kFrameHeaderSize + 3 * kEnvelopeHeaderSize + a.length + b.length + c.length);
  return {w.buffer().to_vector(), {a, b, c}};
}

std::string parse_error(const std::vector<char>& bytes, std::size_t cap = kCap) {
  try {
    (void)parse_frame(bytes.data(), bytes.size(), cap);
  } catch (const DecodeError& e) {
    return e.what();
  }
  ADD_FAILURE() << "parse_frame accepted " << bytes.size() << " bytes";
  return {};
}

// Re-encodes the header of `bytes` after `edit` changed it, with a valid checksum.
template <class F>
std::vector<char> with_header(std::vector<char> bytes, F edit) {
  FrameHeader h = decode_frame_header(bytes.data());
  edit(h);
  encode_frame_header(bytes.data(), h);
  return bytes;
}

void set_envelope_length(std::vector<char>& bytes, std::size_t envelope_offset, std::uint32_t len) {
  std::memcpy(bytes.data() + envelope_offset + 4, &len, 4);
}

TEST(Frame, HeaderAndEnvelopeLayout) {
  FrameHeader h;
  h.flags = 0x0102;
  h.length = 0x03040506;
  h.count = 0x0708090A;
  h.seq = 0x1112131415161718ULL;
  h.epoch = 0x21222324;
  char out[kFrameHeaderSize];
  encode_frame_header(out, h);
  EXPECT_EQ(std::memcmp(out, "RDAC", 4), 0);  // 0x43414452 little-endian
  EXPECT_EQ(out[4], 2);                       // the protocol version
  EXPECT_EQ(out[5], 0);
  EXPECT_EQ(out[6], 2);
  EXPECT_EQ(out[8], 6);
  EXPECT_EQ(out[12], 0x0A);
  EXPECT_EQ(out[16], 0x18);
  EXPECT_EQ(out[24], 0x24);
  std::uint32_t sum;
  std::memcpy(&sum, out + 28, 4);
  EXPECT_EQ(sum, header_checksum(out));
  FrameHeader back = decode_frame_header(out);
  h.checksum = sum;
  EXPECT_EQ(back, h);
  EXPECT_EQ(frame_seq(out), h.seq);

  EXPECT_EQ(fnv1a32("", 0), 0x811c9dc5u);
  EXPECT_EQ(fnv1a32("a", 1), 0xe40c292cu);
  EXPECT_EQ(fnv1a32("foobar", 6), 0xbf9cf968u);

  Envelope e = make_envelope(9, 0xA1A2A3A4A5A6A7A8ULL, 0xB1B2B3B4B5B6B7B8ULL);
  e.length = 0x01020304;
  char eo[kEnvelopeHeaderSize];
  encode_envelope_header(eo, e);
  EXPECT_EQ(eo[0], 9);
  EXPECT_EQ(static_cast<unsigned char>(eo[1]), 0x5A);
  EXPECT_EQ(static_cast<unsigned char>(eo[2]), 0xEF);
  EXPECT_EQ(eo[4], 4);
  EXPECT_EQ(static_cast<unsigned char>(eo[8]), 0xA8);
  EXPECT_EQ(static_cast<unsigned char>(eo[16]), 0xB8);
  EXPECT_EQ(eo[24], 1);                                 // src.node
  EXPECT_EQ(static_cast<unsigned char>(eo[28]), 0x88);  // src.serial
  EXPECT_EQ(static_cast<unsigned char>(eo[36]), 0xFE);  // dst.node
  EXPECT_EQ(eo[40], 42);                                // dst.serial
  EXPECT_EQ(decode_envelope_header(eo), e);
}

TEST(Frame, RoundTripMultiEnvelope) {
  Sample s = sample_frame(0xDEADBEEFCAFEULL, 77);
  FrameView v = parse_frame(s.bytes.data(), s.bytes.size(), kCap);
  EXPECT_EQ(v.header.magic, kFrameMagic);
  EXPECT_EQ(v.header.version, kProtocolVersion);
  EXPECT_EQ(v.header.seq, 0xDEADBEEFCAFEULL);
  EXPECT_EQ(v.header.epoch, 77u);
  EXPECT_EQ(v.header.count, 3u);
  EXPECT_EQ(v.header.length, s.bytes.size() - kFrameHeaderSize);
  EXPECT_EQ(v.body, s.bytes.data() + kFrameHeaderSize);
  EXPECT_EQ(v.body_len, s.bytes.size() - kFrameHeaderSize);

  std::vector<Envelope> seen;
  std::vector<std::string> payloads;
  for_each_envelope(v, [&](const Envelope& e, const char* p, std::size_t n) {
    seen.push_back(e);
    payloads.emplace_back(p, n);
  });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen, s.envelopes);
  cadre::detail::InArchive ar(payloads[0].data(), payloads[0].size());
  std::string str;
  std::vector<int> ints;
  ar >> str >> ints;
  ar.expect_end();
  EXPECT_EQ(str, "payload one");
  EXPECT_EQ(ints, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(payloads[1], "raw!");
  EXPECT_EQ(payloads[2], "");

  EnvelopeReader r(v);
  EnvelopeRef ref;
  int n = 0;
  while (r.next(ref)) ++n;
  EXPECT_EQ(n, 3);
  EXPECT_EQ(r.index(), 3u);
  EXPECT_FALSE(r.next(ref));
}

TEST(Frame, EmptyFrameAndWriterStates) {
  FrameWriter w;
  EXPECT_EQ(w.frame_bytes(), 0u);
  EXPECT_THROW(w.finish(1, 1), std::logic_error);
  EXPECT_THROW(w.begin_envelope(Envelope{}), std::logic_error);
  w.begin_frame();
  EXPECT_TRUE(w.in_frame());
  EXPECT_THROW(w.begin_frame(), std::logic_error);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.frame_bytes(), kFrameHeaderSize);
  std::size_t off = w.begin_envelope(Envelope{});
  EXPECT_THROW(w.finish(1, 1), std::logic_error);  // envelope still open
  w.buffer().append("xyz", 3);
  w.cancel_envelope(off);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.frame_bytes(), kFrameHeaderSize);
  w.finish(1, 2, 0x0F);
  EXPECT_FALSE(w.in_frame());
  FrameView v = parse_frame(w.frame_data(), w.frame_bytes(), kCap);
  EXPECT_EQ(v.header.count, 0u);
  EXPECT_EQ(v.header.flags, 0x0Fu);
  int calls = 0;
  for_each_envelope(v, [&](const Envelope&, const char*, std::size_t) { ++calls; });
  EXPECT_EQ(calls, 0);

  ByteBuffer taken = w.take_buffer();
  EXPECT_EQ(taken.size(), kFrameHeaderSize);
  EXPECT_EQ(w.buffer().size(), 0u);
  EXPECT_EQ(w.frame_bytes(), 0u);
}

TEST(Frame, ExternalBufferAndSecondFrame) {
  ByteBuffer buf;
  FrameWriter w(buf);
  w.begin_frame();
  w.append_envelope(make_envelope(1, 1, 1), "a", 1);
  w.finish(1, 0);
  std::size_t first = buf.size();
  w.begin_frame();  // a second frame after the first, in the same buffer
  w.append_envelope(make_envelope(2, 2, 2), "bb", 2);
  w.finish(2, 0);
  EXPECT_EQ(&w.buffer(), &buf);
  EXPECT_EQ(w.frame_data(), buf.data() + first);
  FrameView f1 = parse_frame(buf.data(), first, kCap);
  FrameView f2 = parse_frame(w.frame_data(), w.frame_bytes(), kCap);
  EXPECT_EQ(f1.header.seq, 1u);
  EXPECT_EQ(f2.header.seq, 2u);
  EXPECT_EQ(f2.header.count, 1u);
}

TEST(FrameMalformed, EveryHeaderByteCorrupted) {
  Sample s = sample_frame();
  for (std::size_t i = 0; i < kFrameHeaderSize; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto b = s.bytes;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      EXPECT_THROW((void)parse_frame(b.data(), b.size(), kCap), DecodeError)
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(FrameMalformed, EachHeaderFieldWithValidChecksum) {
  Sample s = sample_frame();
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.magic = 0x12345678; })),
              HasSubstr("bad magic 0x12345678, expected 0x43414452"));
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.version = 1; })),
              HasSubstr("protocol version 1, expected 2"));
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.length += 1; })),
              HasSubstr("body bytes"));
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.length -= 1; })),
              HasSubstr("body bytes"));
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.count += 1; })),
              HasSubstr("envelope 3 of 4"));
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.count -= 1; })),
              HasSubstr("trailing bytes after the 2 envelopes"));
  EXPECT_THAT(parse_error(with_header(s.bytes, [](FrameHeader& h) { h.count = 0xFFFFFFFF; })),
              HasSubstr("of 4294967295"));
  // flags, seq and epoch are not checked by parse_frame (the transport interprets them).
  for (auto edit :
       {+[](FrameHeader& h) { h.flags = 0xFFFF; }, +[](FrameHeader& h) { h.seq = ~h.seq; },
        +[](FrameHeader& h) { h.epoch = 12345; }}) {
    auto b = with_header(s.bytes, edit);
    EXPECT_NO_THROW((void)parse_frame(b.data(), b.size(), kCap));
  }
  // The checksum field itself.
  auto b = s.bytes;
  b[28] = static_cast<char>(b[28] + 1);
  EXPECT_THAT(parse_error(b), HasSubstr("header checksum"));
  // A version change without a checksum update says both.
  b = s.bytes;
  b[4] = 9;
  EXPECT_THAT(parse_error(b), HasSubstr("protocol version 9, expected 2 (and the header checksum"));
}

TEST(FrameMalformed, PayloadCap) {
  Sample s = sample_frame();
  std::size_t body = s.bytes.size() - kFrameHeaderSize;
  EXPECT_NO_THROW((void)parse_frame(s.bytes.data(), s.bytes.size(), body));
  EXPECT_THAT(
      parse_error(s.bytes, body - 1),
      HasSubstr(fmt::format("body of {} bytes exceeds the payload cap of {}", body, body - 1)));
}

TEST(FrameMalformed, Truncated) {
  Sample s = sample_frame();
  for (std::size_t n = 0; n < s.bytes.size(); ++n) {
    EXPECT_THROW((void)parse_frame(s.bytes.data(), n, kCap), DecodeError) << "n=" << n;
  }
  EXPECT_THAT(parse_error(std::vector<char>(10)), HasSubstr("10 bytes received, shorter than"));
  auto longer = s.bytes;
  longer.push_back(0);
  EXPECT_THAT(parse_error(longer), HasSubstr("received after the"));
  // A frame cut short whose header was fixed up to match: the envelopes no longer fit.
  for (std::size_t cut = 1; cut < s.bytes.size() - kFrameHeaderSize; ++cut) {
    std::vector<char> b(s.bytes.begin(), s.bytes.end() - static_cast<std::ptrdiff_t>(cut));
    b = with_header(b, [&](FrameHeader& h) { h.length -= static_cast<std::uint32_t>(cut); });
    EXPECT_THROW((void)parse_frame(b.data(), b.size(), kCap), DecodeError) << "cut " << cut;
  }
}

TEST(FrameMalformed, EnvelopeLengthsThatOverrunOrUnderrun) {
  Sample s = sample_frame();
  const std::size_t first = kFrameHeaderSize;
  const std::size_t second = first + kEnvelopeHeaderSize + s.envelopes[0].length;
  const std::size_t third = second + kEnvelopeHeaderSize + s.envelopes[1].length;
  auto b = s.bytes;
  set_envelope_length(b, first, 0xFFFFFFFF);
  EXPECT_THAT(parse_error(b), HasSubstr("envelope 0 of 3: payload length 4294967295 exceeds"));
  b = s.bytes;
  set_envelope_length(b, third, 1);
  EXPECT_THAT(parse_error(b), HasSubstr("envelope 2 of 3: payload length 1 exceeds the 0 bytes"));
  b = s.bytes;
  set_envelope_length(b, second, s.envelopes[1].length + 1);
  EXPECT_THAT(parse_error(b), HasSubstr("envelope 2 of 3: its 48-byte header does not fit"));
  b = s.bytes;
  set_envelope_length(b, second, s.envelopes[1].length - 1);
  EXPECT_THAT(parse_error(b), HasSubstr("envelope 2 of 3"));  // reads a misaligned header
  for (std::uint32_t len = 0; len < 200; ++len) {
    b = s.bytes;
    set_envelope_length(b, first, len);
    if (len == s.envelopes[0].length) {
      EXPECT_NO_THROW((void)parse_frame(b.data(), b.size(), kCap));
    } else {
      EXPECT_THROW((void)parse_frame(b.data(), b.size(), kCap), DecodeError) << len;
    }
  }
}

TEST(FrameMalformed, ReaderChecksAHandMadeView) {
  Sample s = sample_frame();
  FrameView v = parse_frame(s.bytes.data(), s.bytes.size(), kCap);
  FrameView bad = v;
  bad.header.count = 5;
  EXPECT_THROW(for_each_envelope(bad, [](const Envelope&, const char*, std::size_t) {}),
               DecodeError);
  bad = v;
  bad.body_len -= 1;
  EXPECT_THROW(for_each_envelope(bad, [](const Envelope&, const char*, std::size_t) {}),
               DecodeError);
  bad = v;
  bad.header.count = 1;
  EXPECT_THROW(for_each_envelope(bad, [](const Envelope&, const char*, std::size_t) {}),
               DecodeError);
}

TEST(FrameMalformed, RandomMutationsOnlyEverThrowDecodeError) {
  Sample s = sample_frame();
  std::uint64_t state = 99;
  auto rnd = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  int ok = 0, bad = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto b = s.bytes;
    int flips = 1 + static_cast<int>(rnd() % 3);
    for (int f = 0; f < flips; ++f) b[rnd() % b.size()] = static_cast<char>(rnd());
    if (rnd() % 2) b = with_header(b, [](FrameHeader&) {});  // keep the checksum valid
    try {
      FrameView v = parse_frame(b.data(), b.size(), kCap);
      std::size_t total = 0;
      for_each_envelope(v, [&](const Envelope&, const char*, std::size_t n) { total += n; });
      EXPECT_LE(total, v.body_len);
      ++ok;
    } catch (const DecodeError&) {
      ++bad;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(bad, 0);
}

}  // namespace
