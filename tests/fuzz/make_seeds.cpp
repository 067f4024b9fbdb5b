/// \file make_seeds.cpp
/// Writes a small seed corpus for fuzz_decode: valid frames carrying each payload type, and
/// the bare payloads. Usage: make_seeds <directory>.

#include <cstdio>
#include <string>

#include "cadre/detail/archive.hpp"
#include "fuzz_types.hpp"
#include "wire/frame.hpp"

namespace {

namespace wire = cadre::wire;
using cadre::detail::ByteBuffer;

void write_file(const std::string& path, const char* p, std::size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    return;
  }
  std::fwrite(p, 1, n, f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];

  fuzz::Tree tree{1, {{2, {}}, {3, {{4, {}}}}}};
  fuzz::Record rec;
  rec.pid = cadre::Pid{cadre::NodeId(2), 99};
  rec.flags = {true, false, true};
  rec.groups[7] = {"a", "bc"};
  rec.arr = {1, 2, 3};
  rec.mode = fuzz::Mode::busy;
  rec.timeout = std::chrono::milliseconds(250);
  rec.pairs = {{-1, true}, {5, false}};
  rec.tree = tree;

  std::vector<ByteBuffer> payloads(fuzz::kTypeCount);
  cadre::detail::encode(payloads[0], fuzz::T0{42, "hello", {1.5, -2.25}});
  cadre::detail::encode(payloads[1], fuzz::T1{{"k1", {1, 2, 3}}, {"k2", {}}});
  cadre::detail::encode(payloads[2], fuzz::T2{std::vector<std::string>{"x", "yz"}});
  cadre::detail::encode(payloads[3], rec);
  cadre::detail::encode(payloads[4], tree);
  cadre::detail::encode(payloads[5], fuzz::T5{{1, 2, 3, 4}, {5, 6, 7, 8}});
  cadre::detail::encode(payloads[6], fuzz::T6{{u"ab", {}}, {u"ab", {}}, {u"", {}}});

  wire::FrameWriter all;
  all.begin_frame();
  for (std::size_t t = 0; t < payloads.size(); ++t) {
    wire::Envelope e;
    e.cls = 1;
    e.type_id = t;
    e.corr = t * 10;
    e.src = cadre::Pid{cadre::NodeId(0), t};
    e.dst = cadre::Pid{cadre::NodeId(1), t + 1};
    all.append_envelope(e, payloads[t].data(), payloads[t].size());

    wire::FrameWriter one;
    one.begin_frame();
    one.append_envelope(e, payloads[t].data(), payloads[t].size());
    one.finish(t, 1);
    write_file(dir + "/frame_" + std::to_string(t), one.frame_data(), one.frame_bytes());
    write_file(dir + "/payload_" + std::to_string(t), payloads[t].data(), payloads[t].size());
  }
  all.finish(100, 1);
  write_file(dir + "/frame_all", all.frame_data(), all.frame_bytes());
  return 0;
}
