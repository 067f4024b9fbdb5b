// The master's SIGTERM handler: it records the signal for the loop to act on.

#include "node/end_signal.hpp"

#include <signal.h>

namespace cadre::node {
volatile std::sig_atomic_t g_end_signal = 0;

namespace {

extern "C" void record_end_signal(int sig) { g_end_signal = sig; }

}  // namespace

void catch_end_signal() {
  struct sigaction current {};
  if (sigaction(SIGTERM, nullptr, &current) != 0 || current.sa_handler != SIG_DFL ||
      (current.sa_flags & SA_SIGINFO))
    return;
  struct sigaction sa {};
  sa.sa_handler = record_end_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace cadre::node
