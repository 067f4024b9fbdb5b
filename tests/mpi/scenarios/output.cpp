// Scenarios of output: log lines, statistics and progress from five ranks, and the terminal's
// live progress line beside the program's own lines and the drop report.

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "scenarios.hpp"

using namespace std::chrono_literals;

namespace scenario {

// -- output ------------------------------------------------------------------------------

void chatter(int lines) {
  for (int i = 0; i < lines; ++i) {
    cadre::log(cadre::Level::info, "seq {} of {}", i, cadre::self());
    cadre::log(cadre::Level::debug, "hidden debug line {}", i);  // below the threshold
    cadre::stat("lines", 1);
    if (i % 10 == 0) cadre::yield();
  }
}
CADRE_TASK(chatter);

int output(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    const int lines = 50;
    std::vector<cadre::Future<void>> fs;
    for (auto n : cadre::nodes())
      if (n.value() != 0) fs.push_back(cadre::run(cadre::on(n), chatter, lines));
    cadre::stat("driver", 2.5);
    for (int i = 0; i <= 1000; ++i) cadre::progress(i, 1000);
    cadre::when_all(fs);
    // Statistics travel ahead of results on the same links: they are all in by now.
    const double expect = lines * double(fs.size());
    auto s = cadre::stats();
    if (s["lines"] != expect || s["driver"] != 2.5) return fail("stats do not add up");
    // On stderr, the stream the log lines take: mpirun forwards a rank's stdout and stderr
    // as two pipes, read in chunks, so a line on stdout may land inside a log line there.
    std::fprintf(stderr, "stats ok: %g lines\n", s["lines"]);
    return 0;
  });
}

// -- the terminal: a live progress line from two senders, the program's lines, drops --------

struct Marker {
  int n = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(Marker);

// One sender: `steps` reports, one every `ms`; then a line printed by the master.
int report_progress(int steps, int ms) {
  for (int i = 0; i <= steps; ++i) {
    cadre::progress(i, steps);
    busy_ms(ms);
  }
  cadre::print("program line {} of 12", 10 + cadre::self_node().value());
  return steps;
}
CADRE_TASK(report_progress);

void ends_at_once() {}
CADRE_TASK(ends_at_once);

void waits_for_an_int() {
  cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(waits_for_an_int);

// argv[2] "raw": the program writes its lines with printf, as the demo did.
int terminal(int argc, char** argv) {
  const bool raw = argc > 2 && std::string(argv[2]) == "raw";
  return cadre::launch(argc, argv, [raw] {
    auto ns = cadre::nodes();
    if (ns.size() < 3) return fail("terminal needs 3 nodes");
    auto a = cadre::run(cadre::on(ns[1]), report_progress, 20, 60);
    auto b = cadre::run(cadre::on(ns[2]), report_progress, 20, 60);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(120ms);
      if (raw)
        std::printf("program line %d of 12\n", i + 1);
      else
        cadre::print("program line {} of 12", i + 1);
    }
    const int sum = a.get() + b.get();
    // Dropped at shut-down: 3 messages to a process that had ended, on node 1; 2 left unread
    // by a process still running at shut-down, on node 2.
    auto [gone, ref] = cadre::spawn_monitor(ns[1], ends_at_once);
    cadre::receive(cadre::on_down([](const cadre::Down&) {}));
    cadre::send(gone, Marker{1});
    cadre::send(gone, std::string("to nobody"));
    cadre::send(gone, std::string("to nobody either"));
    auto waiting = cadre::spawn(ns[2], waits_for_an_int);
    cadre::send(waiting, Marker{2});
    cadre::send(waiting, Marker{3});
    if (raw)
      std::printf("sum of the senders' steps = %d\n", sum);
    else
      cadre::print("sum of the senders' steps = {}", sum);
    return 0;
  });
}

}  // namespace scenario
