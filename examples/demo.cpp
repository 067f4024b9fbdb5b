// The demo job: a small task farm. Run with
//   mpirun -np 3 --hostfile hostfiles/localhost ./build/examples/cadre-demo
#include <cadre/cadre.hpp>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

// Tasks are plain functions, registered by name: code never travels, names do.
long square(long x) { return x * x; }
CADRE_TASK(square);

std::string where_am_i() {
  auto info = cadre::node_info(cadre::self_node());
  return info.name;
}
CADRE_TASK(where_am_i);

// Counts primes below n, the slow way.
int count_primes(int lo, int hi) {
  cadre::stat("numbers tested", hi - lo);
  int n = 0;
  for (int k = std::max(lo, 2); k < hi; ++k) {
    bool prime = true;
    for (int d = 2; d * d <= k; ++d)
      if (k % d == 0) {
        prime = false;
        break;
      }
    n += prime;
  }
  cadre::stat("primes found", n);
  if (lo == 0) cadre::log(cadre::Level::info, "the first slice has {} primes", n);
  return n;
}
CADRE_TASK(count_primes);

double checked_sqrt(double x) {
  if (x < 0) throw std::domain_error("negative input " + std::to_string(x));
  return std::sqrt(x);
}
CADRE_TASK(checked_sqrt);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    cadre::print("cadre demo: {} nodes", cadre::nodes().size());
    for (auto n : cadre::nodes()) {
      auto info = cadre::node_info(n);
      cadre::print("  node {}: {} (host {})", n.value(), info.name, info.host);
    }

    // One task, on the least loaded worker.
    cadre::Future<long> f = cadre::run(cadre::any, square, 12L);
    cadre::print("square(12) = {}", f.get());

    // One task on every node.
    for (auto n : cadre::nodes())
      cadre::print("asked node {}, it says it is {}", n.value(),
                   cadre::run(cadre::on(n), where_am_i).get());

    // A map over 100 000 inputs, chunked and spread over the workers, with a progress line.
    std::vector<long> xs(100000);
    std::iota(xs.begin(), xs.end(), 0L);
    auto fs = cadre::map(cadre::any, square, xs, {.progress = true});
    long sum = 0;
    for (auto& r : fs) sum += r.get();
    cadre::print("sum of squares below 100000 = {}", sum);

    // Primes below 2 000 000 in 40 slices, collected as they complete.
    std::vector<cadre::Future<int>> slices;
    for (int i = 0; i < 40; ++i)
      slices.push_back(cadre::run(cadre::any, count_primes, i * 50000, (i + 1) * 50000));
    int primes = 0;
    for (auto& s : cadre::as_completed(slices)) primes += s.get();
    cadre::print("primes below 2000000: {}", primes);
    cadre::print("round trip to the last node: {:.1f} us",
                 cadre::ping(cadre::nodes().back(), std::chrono::seconds(1)).count() / 1e3);

    // A remote exception comes back as RemoteError naming the type, message and node.
    try {
      cadre::run(cadre::any, checked_sqrt, -1.0).get();
    } catch (const cadre::RemoteError& e) {
      cadre::print("as expected: {}", e.what());
    }
    return 0;
  });
}
