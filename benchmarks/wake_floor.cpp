// The futex wake-up floor (wake_floor.hpp): rank 1 shares one page by memfd, rank 0 maps it
// through /proc/<pid>/fd, and the two trade a futex wake and a store.

#include "wake_floor.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace cadre::bench {
namespace {

struct WakePage {
  std::atomic<std::uint32_t> word;    // rank 0 raises it and wakes rank 1
  std::atomic<std::uint32_t> answer;  // rank 1 sets it to the word it saw
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

double futex_wake_rtt_us(MPI_Comm comm, double& wake_call_us) {
  wake_call_us = 0;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (size < 2) return 0;
  // Only ranks 0 and 1 on one host take part; the others sleep until rank 0 is done.
  char host[MPI_MAX_PROCESSOR_NAME] = {}, host1[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(host, &len);
  if (rank == 1) MPI_Send(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, 97, comm);
  if (rank == 0) MPI_Recv(host1, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 1, 97, comm, MPI_STATUS_IGNORE);
  int same = rank == 0 ? std::strcmp(host, host1) == 0 : 0;
  MPI_Bcast(&same, 1, MPI_INT, 0, comm);
  if (!same) {
    MPI_Barrier(comm);
    return 0;
  }
  if (rank > 1) {
    // Asleep, not polling in MPI: a rank spinning on a shared core would be what is measured.
    for (int flag = 0; !flag;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      MPI_Iprobe(0, 95, comm, &flag, MPI_STATUS_IGNORE);
    }
    MPI_Recv(nullptr, 0, MPI_BYTE, 0, 95, comm, MPI_STATUS_IGNORE);
    MPI_Barrier(comm);
    return 0;
  }
  constexpr int kRounds = 20;
  int where[2] = {-1, static_cast<int>(::getpid())};  // fd, pid
  void* at = MAP_FAILED;
  if (rank == 1) {
    where[0] = ::memfd_create("cadre-bench-wake", MFD_CLOEXEC);
    if (where[0] >= 0 && ::ftruncate(where[0], 4096) == 0)
      at = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, where[0], 0);
    if (at != MAP_FAILED) new (at) WakePage{};
    MPI_Send(where, 2, MPI_INT, 0, 97, comm);
  } else {
    MPI_Recv(where, 2, MPI_INT, 1, 97, comm, MPI_STATUS_IGNORE);
    const std::string path =
        "/proc/" + std::to_string(where[1]) + "/fd/" + std::to_string(where[0]);
    const int fd = where[0] >= 0 ? ::open(path.c_str(), O_RDWR | O_CLOEXEC) : -1;
    if (fd >= 0) {
      at = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      ::close(fd);
    }
  }
  // Both mapped the page, or neither measures (ranks 0 and 1 only: the others wait above).
  int ok = at != MAP_FAILED, other = 0;
  MPI_Sendrecv(&ok, 1, MPI_INT, 1 - rank, 96, &other, 1, MPI_INT, 1 - rank, 96, comm,
               MPI_STATUS_IGNORE);
  const bool all_ok = ok && other;
  std::vector<double> rtt, call;
  if (all_ok) {
    auto* page = static_cast<WakePage*>(at);
    if (rank == 1) {
      timespec ms{0, 1000000};
      for (std::uint32_t i = 1; i <= kRounds; ++i) {
        while (page->word.load(std::memory_order_acquire) < i)
          syscall(SYS_futex, &page->word, FUTEX_WAIT, i - 1, &ms, nullptr, 0);
        page->answer.store(i, std::memory_order_release);
      }
    } else {
      for (std::uint32_t i = 1; i <= kRounds; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(60));
        const auto t0 = std::chrono::steady_clock::now();
        page->word.store(i, std::memory_order_release);
        syscall(SYS_futex, &page->word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
        const auto t1 = std::chrono::steady_clock::now();
        // Yielding as a waiting cadre node does: unbound ranks may share rank 1's core.
        while (page->answer.load(std::memory_order_acquire) != i) sched_yield();
        const auto t2 = std::chrono::steady_clock::now();
        rtt.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
        call.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    }
  }
  if (at != MAP_FAILED) ::munmap(at, 4096);
  if (rank == 1 && where[0] >= 0) ::close(where[0]);
  if (rank == 0)
    for (int r = 2; r < size; ++r) MPI_Send(nullptr, 0, MPI_BYTE, r, 95, comm);
  MPI_Barrier(comm);
  wake_call_us = median(call);
  return median(rtt);
}

}  // namespace cadre::bench
