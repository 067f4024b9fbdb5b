// Scenarios of a lost node: killed, aborted or stopped while it holds tasks, map chunks and
// processes; stopped while a large send to it is in flight; and the default job (no
// recovery) that ends when a rank aborts.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "scenarios.hpp"

using namespace std::chrono_literals;

namespace scenario {

// -- lost nodes ----------------------------------------------------------------------------

std::string g_how;

// The job's last node (lost or not), from node_info, which knows lost nodes too.
cadre::NodeId last_node_of_job() {
  std::uint32_t k = 0;
  try {
    for (;; ++k) cadre::node_info(cadre::NodeId(k + 1));
  } catch (const cadre::InvalidNode&) {
  }
  return cadre::NodeId(k);
}

// The job's last node dies (as argv[2] says) at its first multiple of 100; all ranks share
// argv.
long maybe_die(long x) {
  if (x % 100 == 0 && cadre::self_node() == last_node_of_job()) {
    if (g_how == "kill") raise(SIGKILL);
    if (g_how == "abort") std::abort();
    if (g_how.rfind("stop", 0) == 0) raise(SIGSTOP);
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return x * x;
}
CADRE_TASK(maybe_die);

void wait_forever() {
  cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(wait_forever);

long slow_square(long x) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return x * x;
}
CADRE_TASK(slow_square);

int lost(int argc, char** argv) {
  g_how = argc > 2 ? argv[2] : "kill";
  static std::atomic<int> downs{0};
  cadre::Options o;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 1000ms;
  o.shutdown_timeout = 2s;
  o.on_node_down = [](cadre::NodeId n) {
    ++downs;
    std::printf("on_node_down: node %u\n", n.value());
    std::fflush(stdout);
  };
  return cadre::launch(
      argc, argv,
      [] {
        auto vnode = last_node_of_job();
        const int victim_pid = cadre::node_info(vnode).pid;
        // Whatever happens below, a stopped victim must not be left stopped (mpirun would
        // wait for it for ever).
        struct Release {
          int pid;
          ~Release() {
            if (g_how == "stop-kill") kill(pid, SIGKILL);
            if (g_how == "stop-cont") kill(pid, SIGCONT);
          }
        } release{victim_pid};
        auto [waiter, ref] = cadre::spawn_monitor(vnode, wait_forever);
        auto stuck = cadre::run(cadre::on(vnode), slow_square, 3L);
        // any() lists the victim while it is up (the placer keeps that list between changes
        // of the node table).
        for (long i = 0; i < 20; ++i)
          if (cadre::run(cadre::any, square, i).get() != i * i) return fail("run(any) before");
        std::vector<long> xs(2000);
        for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
        auto t0 = std::chrono::steady_clock::now();
        // The inputs moved in: the chunks the victim held are encoded again from the map's
        // own vector.
        auto fs = cadre::map(cadre::any, maybe_die, std::vector<long>(xs), {.chunk = 10});
        (void)t0;
        // A call to a process on the victim fails when the node is lost, not at its timeout.
        try {
          cadre::call<int>(waiter, std::string("never answered"), 60s);
          return fail("a call to a process on the lost node returned");
        } catch (const cadre::CallFailed& e) {
          if (std::string(e.what()).find("node_down") == std::string::npos)
            return fail((std::string("CallFailed without node_down: ") + e.what()).c_str());
          std::printf("CallFailed: node_down\n");
        }
        long bad = 0;
        for (std::size_t i = 0; i < xs.size(); ++i) bad += fs[i].get() != xs[i] * xs[i];
        if (bad) return fail("map results");
        std::printf("map complete: ok (%zu results)\n", xs.size());
        // The victim is lost by now (its chunk had to move): everything tied to it failed.
        auto d = cadre::receive(10s, cadre::on_down([](const cadre::Down& d) { return d; }));
        if (!d || d->reason != cadre::Reason::node_down) return fail("no Down node_down");
        std::printf("down: %s\n", std::string(cadre::to_string(d->reason)).c_str());
        try {
          stuck.get_for(10s);
          return fail("the task on the lost node did not fail");
        } catch (const cadre::NodeDown& e) {
          std::printf("NodeDown: ok\n");
        }
        if (downs.load() != 1) return fail("on_node_down");
        // The lost node is still listed by all_nodes, as down, and no longer by nodes.
        auto all = cadre::all_nodes();
        auto live = cadre::nodes();
        if (all.size() != live.size() + 1 || all.back() != vnode ||
            cadre::node_info(vnode).state != cadre::NodeState::down)
          return fail("all_nodes after a loss");
        std::printf("all_nodes: %zu, node %u down\n", all.size(), vnode.value());
        // any() never picks the lost node again: every run answers.
        for (long i = 0; i < 200; ++i)
          if (cadre::run(cadre::any, square, i).get_for(10s) != i * i)
            return fail("run(any) after");
        std::printf("run(any) after the loss: ok\n");
        return 0;
      },
      o);
}

void stop_self() { raise(SIGSTOP); }
CADRE_TASK(stop_self);

// Sends 4 MiB to `to` (read by MPI from this vector, the sender waiting until it has), then
// tells `parent` whether `to`'s node was already lost when the send returned; then the same
// again, to the node now lost (refused at once, as any send to a lost node).
void send_large_and_report(cadre::Pid to, cadre::Pid parent) {
  std::vector<char> big(std::size_t(4) << 20, 'q');
  cadre::send(to, big);
  big.assign(big.size(), 'x');  // the send has returned: the bytes are the program's again
  cadre::send(parent, std::string(cadre::node_info(to.node).state == cadre::NodeState::down
                                      ? "returned after the loss"
                                      : "returned while the node was up"));
  try {
    cadre::send(to, big);
    cadre::send(parent, std::string("second send returned"));
  } catch (const cadre::NodeDown& e) {
    cadre::send(parent, std::string("second send refused: ") + e.what());
  }
}
CADRE_TASK(send_large_and_report);

// A process sends a large message (borrowed: no copy) to a node that stopped: MPI cannot
// take it, so the sender waits; when the node is lost the send returns.
int lost_large(int argc, char** argv) {
  g_how = "stop-kill";
  cadre::Options o;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 1000ms;
  o.shutdown_timeout = 2s;
  return cadre::launch(
      argc, argv,
      [] {
        auto vnode = last_node_of_job();
        struct Release {  // a stopped victim must not be left stopped
          int pid;
          ~Release() { kill(pid, SIGKILL); }
        } release{cadre::node_info(vnode).pid};
        cadre::Pid waiter = cadre::spawn(vnode, wait_forever);
        auto stopped = cadre::run(cadre::on(vnode), stop_self);
        std::this_thread::sleep_for(300ms);
        if (cadre::node_info(vnode).state == cadre::NodeState::down)
          return fail("the victim was lost too early");
        cadre::spawn(cadre::NodeId(0), send_large_and_report, waiter, cadre::self());
        for (int k = 0; k < 2; ++k) {
          auto said =
              cadre::receive(30s, cadre::match<std::string>([](std::string s) { return s; }));
          if (!said) return fail("a large send to a stopped node did not return");
          std::printf("large send: %s\n", said->c_str());
        }
        return 0;
      },
      o);
}

int die_default(int argc, char** argv) {
  g_how = "abort";
  return cadre::launch(argc, argv, [] {
    std::vector<long> xs(2000);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
    for (auto& f : cadre::map(cadre::any, maybe_die, xs, {.chunk = 10})) f.get();
    return 0;
  });
}

}  // namespace scenario
