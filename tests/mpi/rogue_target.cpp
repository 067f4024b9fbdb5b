// The target of the rogue-rank tests: ranks 0 and 1 of an MPMD job run this cadre program
// while the job's last rank runs cadre-rogue (tests/mpi/rogue.c), which attacks them with
// forged and oversized MPI messages. The driver keeps the job busy on node 1 until the rogue
// says its attack is over, then checks that nothing the rogue sent was obeyed:
//   - maps of 2000 inputs on node 1, pings of node 1 and calls to a process there all work;
//   - the driver, which monitors that process, sees exactly one Down, when it really ends;
//   - a process on the master, and the driver itself, are still alive;
//   - node 1 was never declared lost; the rogue's node kept the name it started with;
//   - the peak memory (VmHWM) of nodes 0 and 1 stays below PEAK_MIB (0: not checked).
// It prints "rogue target: ok (...)" when all hold, "rogue target: problem: ..." for each
// that does not.
//   cadre-rogue-target MODE [PEAK_MIB]     (MODE: the rogue's, for the log; PEAK_MIB: 160)

#include <fmt/format.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int kStop = -1;
constexpr int kAllClear = 24301;  // what the rogue sends the driver after its attack
// The overtaken attack's ints (mpi/rogue_wire.h): kOvertakenBase + 0 ... + kOvertakenFrames.
constexpr int kOvertakenBase = 1000000;
constexpr int kOvertakenFrames = 20000;

long square(long x) { return x * x; }
CADRE_TASK(square);

// Answers calls until it receives kStop.
void holder() {
  bool running = true;
  while (running)
    cadre::receive(
        cadre::match<int>([&](int v) { running = v != kStop; }),
        cadre::match<std::string>([](const std::string&) { cadre::reply(std::string("here")); }));
}
CADRE_TASK(holder);

// This process's peak resident memory, in KiB (VmHWM).
long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
CADRE_TASK(peak_rss_kib);

class Checks {
 public:
  void problem(const std::string& what) {
    std::printf("rogue target: problem: %s\n", what.c_str());
    std::fflush(stdout);
    ++problems_;
  }
  int problems() const { return problems_; }

 private:
  int problems_ = 0;
};

std::string describe(const cadre::Down& d) {
  return fmt::format("{} ended ({}{}{})", d.pid, cadre::to_string(d.reason),
                     d.detail.empty() ? "" : ": ", d.detail);
}

int drive(const std::string& mode, long peak_bound_mib) {
  Checks c;
  const cadre::NodeId worker(1);
  if (cadre::nodes().size() != 3) {
    c.problem(fmt::format("the job has {} nodes, expected 3", cadre::nodes().size()));
    return 1;
  }
  const cadre::NodeId rogue(2);
  const std::string rogue_name = cadre::node_info(rogue).name;
  std::printf("rogue target: mode %s, the rogue is node 2 (%s)\n", mode.c_str(),
              rogue_name.c_str());
  std::fflush(stdout);

  // Set up before the attack: a monitored process on node 1, one on the master.
  auto [held, held_ref] = cadre::spawn_monitor(worker, holder);
  const cadre::Pid keeper = cadre::spawn(cadre::local, holder);
  cadre::call<std::string>(held, std::string("there?"), 5s);
  cadre::call<std::string>(keeper, std::string("there?"), 5s);
  cadre::send(cadre::Pid{rogue, 1}, std::string("go"));

  // Work on node 1 until the all-clear, and two rounds more.
  std::vector<long> xs(2000);
  std::iota(xs.begin(), xs.end(), 0L);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  bool clear = false;
  int rounds = 0, after = 0;
  while (after < 2) {
    if (std::chrono::steady_clock::now() > deadline) {
      c.problem("the rogue's all-clear did not arrive within 20 s");
      break;
    }
    try {
      auto fs = cadre::map(cadre::on(worker), square, xs, {.chunk = 100});
      const auto until = std::chrono::steady_clock::now() + 10s;
      long bad = 0;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        bad += fs[i].get_for(std::max(left, 1ms)) != xs[i] * xs[i];
      }
      if (bad) c.problem(fmt::format("map on node 1: {} wrong results", bad));
      cadre::ping(worker, 2000ms);
      cadre::call<std::string>(held, std::string("there?"), 2s);
    } catch (const std::exception& e) {
      c.problem(fmt::format("work on node 1 failed in round {}: {}", rounds, e.what()));
      break;
    }
    cadre::try_receive(cadre::on_down([&](const cadre::Down& d) {
      c.problem("a Down arrived while the monitored process was alive: " + describe(d));
    }));
    if (!clear)
      clear =
          cadre::try_receive(cadre::match<int>([](int v) { return v == kAllClear; }, [](int) {}));
    ++rounds;
    if (clear) ++after;
  }

  if (mode == "overtaken") {
    // Every frame the rogue sent ahead of the one due was kept: the driver gets every int,
    // in the order of the frames' sequence numbers.
    int in_order = 0, got = 0;
    for (; got <= kOvertakenFrames; ++got) {
      auto v = cadre::receive(5s, cadre::match<int>([](int v) { return v >= kOvertakenBase; },
                                                    [](int v) { return v; }));
      if (!v) break;
      in_order += *v == kOvertakenBase + got;
    }
    if (got != kOvertakenFrames + 1 || in_order != got)
      c.problem(fmt::format("overtaken: {} of {} ints arrived, {} in order", got,
                            kOvertakenFrames + 1, in_order));
  }

  // Nothing the rogue sent was obeyed.
  try {
    if (cadre::node_info(worker).state != cadre::NodeState::up)
      c.problem("node 1 is not up any more");
    if (cadre::run(cadre::on(worker), square, 7L).get_for(5s) != 49)
      c.problem("node 1 computed a wrong square");
    if (cadre::node_named("rogue-renamed"))
      c.problem("a second hello renamed a node to 'rogue-renamed'");
    if (cadre::node_info(rogue).name != rogue_name)
      c.problem("the rogue's node is now named " + cadre::node_info(rogue).name);
    cadre::call<std::string>(keeper, std::string("there?"), 2s);
    cadre::send(keeper, kStop);
    cadre::send(held, kStop);
    auto d = cadre::receive(5s, cadre::on_down([](const cadre::Down& d) { return d; }));
    if (!d)
      c.problem("no Down for the monitored process after it ended");
    else if (d->pid != held || d->reason != cadre::Reason::normal)
      c.problem("the Down for the monitored process says " + describe(*d));
    if (auto extra = cadre::receive(300ms, cadre::on_down([](const cadre::Down& d) { return d; })))
      c.problem("a second Down arrived: " + describe(*extra));
    const long peak0 = peak_rss_kib() / 1024;
    const long peak1 = cadre::run(cadre::on(worker), peak_rss_kib).get_for(5s) / 1024;
    std::printf("rogue target: peak memory: node 0 %ld MiB, node 1 %ld MiB\n", peak0, peak1);
    if (peak_bound_mib > 0 && (peak0 > peak_bound_mib || peak1 > peak_bound_mib))
      c.problem(fmt::format("peak memory above {} MiB", peak_bound_mib));
  } catch (const std::exception& e) {
    c.problem(fmt::format("the checks after the attack failed: {}", e.what()));
  }
  if (c.problems()) {
    std::printf("rogue target: FAILED (%d problems)\n", c.problems());
    return 1;
  }
  std::printf("rogue target: ok (%d rounds of work on node 1)\n", rounds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "none";
  const long peak_bound_mib = argc > 2 ? std::stol(argv[2]) : 160;
  cadre::Options o;
  o.shutdown_timeout = 3s;  // a failed run ends sooner
  return cadre::launch(
      argc, argv, [&] { return drive(mode, peak_bound_mib); }, o);
}
