// The tasks and the failure report every scenario may use.

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>

#include "scenarios.hpp"

namespace scenario {

int busy_ms(int ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return ms;
}
CADRE_TASK(busy_ms);

long square(long x) { return x * x; }
CADRE_TASK(square);

int fail(const char* what) {
  std::fprintf(stderr, "scenario failed: %s\n", what);
  return 1;
}

}  // namespace scenario
