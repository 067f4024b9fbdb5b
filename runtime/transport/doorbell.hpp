#pragma once
// Doorbells: how a node that sleeps while idle is woken at once by a sender on its host.
//
// Each node owns one page of shared memory, an anonymous memfd named "cadre-doorbell" (so
// nothing is left behind when the process ends, even by SIGKILL), holding a futex word and
// the number of its threads sleeping on it (and a second word for threads that only its own
// threads wake: a loop thread parked while the driver serves the loop). A node on the same host
// maps that page through /proc/<pid>/fd of its owner (it knows the owner's pid and host from the
// node table) and, after it sends to the owner, rings it when someone sleeps there: the word
// changes and a FUTEX_WAKE wakes the sleepers. The page is checked (a magic number and the owner's
// pid) before it is used. Peers on other hosts, or that cannot map the page, do not ring: what they
// send is noticed when the sleeper's timed wait ends (Options::idle_sleep).
//
// No wake-up is lost between the sleeper's last look for work and its sleep: the sleeper
// counts itself as sleeping, then reads the word and looks again (`ready`); a ringer makes
// its work visible, then reads the count (both sequentially consistent), and a ring between
// the sleeper's read of the word and its sleep changes the word, so the futex does not sleep.
// A message from a peer is seen by the sleeper's poll, not by `ready`: one sent just before
// the sleeper counted itself waits for the timed end of the sleep (rare: the window is the
// few instructions between the loop's last poll and the count).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace cadre::transport {

/// The shared page: its header is written once by its owner; only the atomics change.
struct DoorbellPage {
  std::uint64_t magic;
  std::int32_t owner_pid;
  alignas(64) std::atomic<std::uint32_t> word;  // changes at every ring (the futex)
  // The owner's sleeping threads: those any ringer wakes (waiting on `word`) in the low 16
  // bits, those only the owner's own threads wake (Ringers::own_only, waiting on
  // `own_word`) in the high 16 bits; one word, so that a ringer reads both at once.
  std::atomic<std::uint32_t> sleepers;
  std::atomic<std::uint32_t> own_word;  // changes at every ring by the owner's threads
};

/// This node's own doorbell: its sleeping threads wait on it; its other threads and peers on
/// the same host ring it. Any thread.
class Doorbell {
 public:
  using Clock = std::chrono::steady_clock;
  /// Creates the page. When memfd or mmap fail it is a private page instead: threads of this
  /// process still ring it, peers cannot (shared() is false).
  Doorbell();
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;
  /// True when peers on the same host can map the page.
  bool shared() const { return shared_; }
  /// Who may wake a sleeper besides the deadline.
  enum class Ringers {
    all,       ///< this process's threads and peers on the host (a node idle for messages)
    own_only,  ///< this process's threads only (another thread serves the messages meanwhile)
  };
  /// Counts the caller as sleeping, then sleeps until rung (by `ringers`) or `until` unless
  /// `ready()` is true by then. Returns false when `ready()` was.
  bool sleep_until(Clock::time_point until, const std::function<bool()>& ready,
                   Ringers ringers = Ringers::all);
  /// Wakes every sleeper; costs a fence and a load when none sleeps. This process's threads.
  void ring();

 private:
  DoorbellPage* page_ = nullptr;
  int fd_ = -1;  // the memfd, kept open for peers to find
  bool shared_ = false;
};

/// A peer's doorbell, mapped from its process on this host. Any thread.
class PeerDoorbell {
 public:
  /// Maps the doorbell of process `pid` on this host; nullptr when it cannot (the process
  /// ended, another pid namespace, no permission, no such page).
  static std::shared_ptr<PeerDoorbell> open(int pid);
  ~PeerDoorbell();
  PeerDoorbell(const PeerDoorbell&) = delete;
  PeerDoorbell& operator=(const PeerDoorbell&) = delete;
  /// Wakes the peer's sleepers (but those sleeping for its own threads only); costs a fence
  /// and a load when none sleeps.
  void ring();

 private:
  explicit PeerDoorbell(DoorbellPage* p) : page_(p) {}
  DoorbellPage* page_;
};

}  // namespace cadre::transport
