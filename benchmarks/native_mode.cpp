// cadre-bench native (native_mode.hpp).

#include "native_mode.hpp"

#include <mpi.h>
#include <unistd.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdlib>
#include <string>

namespace cadre::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<char>;
constexpr int kSizes[] = {8, 64 * 1024};

double us_per(Clock::time_point t0, int n) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
}

/// The C++ twin of the native "reverse" handler.
Bytes reverse(Bytes in) { return Bytes(in.rbegin(), in.rend()); }

std::string native_program() {
  if (const char* p = std::getenv("CADRE_BENCH_NATIVE")) return p;
  char self[4096] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return "native_node";
  std::string dir(self);
  dir.resize(dir.rfind('/'));  // .../benchmarks
  return dir.substr(0, dir.rfind('/')) + "/examples/native_node";
}

}  // namespace
}  // namespace cadre::bench

CADRE_TASK(cadre::bench::reverse);

namespace cadre::bench {

int raw_echo_child() {
  MPI_Comm parent;
  MPI_Comm_get_parent(&parent);
  Bytes buf(64 * 1024);
  while (true) {
    MPI_Status st;
    MPI_Recv(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, 0, MPI_ANY_TAG, parent, &st);
    if (st.MPI_TAG == 2) break;
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    MPI_Send(buf.data(), n, MPI_BYTE, 0, 1, parent);
  }
  MPI_Comm_free(&parent);
  MPI_Finalize();
  return 0;
}

std::vector<double> raw_echo_baselines(const Flags& f, const char* program) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return {};
  char arg0[] = "spawn-raw-echo";
  char* args[] = {arg0, nullptr};
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "bind_to", "none");
  MPI_Comm inter;
  MPI_Comm_spawn(program, args, 1, info, 0, MPI_COMM_SELF, &inter, MPI_ERRCODES_IGNORE);
  MPI_Info_free(&info);
  std::vector<double> out;
  const int n = std::max(f.iterations, 100), warm = std::max(f.warmup, 10);
  for (int size : kSizes) {
    Bytes buf(static_cast<std::size_t>(size), 'x');
    auto one = [&] {
      MPI_Send(buf.data(), size, MPI_BYTE, 0, 1, inter);
      MPI_Recv(buf.data(), size, MPI_BYTE, 0, 1, inter, MPI_STATUS_IGNORE);
    };
    for (int i = 0; i < warm; ++i) one();
    out.push_back(median_of(f.repeat, [&] {
      const auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) one();
      return us_per(t0, n);
    }));
  }
  MPI_Send(nullptr, 0, MPI_BYTE, 0, 2, inter);
  MPI_Comm_free(&inter);
  return out;
}

void native_mode(const Flags& f, const std::vector<double>& raw, std::vector<Row>& rows) {
  const NodeId cpp = cadre::spawn_nodes({.count = 1, .args = {"native"}}).at(0);
  const NodeId native = cadre::spawn_nodes({.count = 1, .program = native_program()}).at(0);
  const int n = std::max(f.iterations, 100), warm = std::max(f.warmup, 10);
  for (std::size_t k = 0; k < std::size(kSizes); ++k) {
    const Bytes in(static_cast<std::size_t>(kSizes[k]), 'x');
    const std::string size = kSizes[k] == 8 ? "8B" : "64KiB";
    auto timed = [&](auto&& call) {
      for (int i = 0; i < warm; ++i) call();
      return median_of(f.repeat, [&] {
        const auto t0 = Clock::now();
        for (int i = 0; i < n; ++i) call();
        return us_per(t0, n);
      });
    };
    const double t = timed([&] { cadre::run(cadre::on(cpp), reverse, in).get(); });
    const double c = timed([&] { cadre::run<Bytes>(cadre::on(native), "reverse", in).get(); });
    rows.push_back({"raw_echo_" + size, raw[k], "us", 1.0, "MPI ping-pong with a spawned child"});
    rows.push_back({"task_call_" + size, t, "us", t / raw[k], "run(on(spawned C++), reverse)"});
    rows.push_back(
        {"native_call_" + size, c, "us", c / raw[k], "run<Bytes>(on(spawned C), \"reverse\")"});
  }
  cadre::stop_node(native);
  cadre::stop_node(cpp);
}

}  // namespace cadre::bench
