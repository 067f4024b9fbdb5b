// Doorbells (transport/doorbell.hpp): the page, the futex calls, and finding a peer's page
// among the descriptors of its process.

#include "transport/doorbell.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>

namespace cadre::transport {
namespace {

constexpr std::uint64_t kMagic = 0x6c6c65626f6f6463ULL;  // "cdoorbell"
constexpr const char* kName = "cadre-doorbell";
constexpr std::size_t kPageBytes = 4096;
// DoorbellPage::sleepers: the bits that count the sleepers any ringer wakes, and what one
// sleeper that only the owner's threads wake adds.
constexpr std::uint32_t kAnyRingerMask = 0xffff;
constexpr std::uint32_t kOwnRingersOnly = 1u << 16;
static_assert(sizeof(DoorbellPage) <= kPageBytes);
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

std::uint32_t* futex_word(std::atomic<std::uint32_t>& w) {
  return reinterpret_cast<std::uint32_t*>(&w);
}

// Changes `w` and wakes whoever waits on it.
void wake_all_on(std::atomic<std::uint32_t>& w) {
  w.fetch_add(1, std::memory_order_seq_cst);
  // Not FUTEX_PRIVATE_FLAG: the page may be mapped by other processes.
  syscall(SYS_futex, futex_word(w), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// `own`: the ringer is a thread of the page's owner, which wakes every sleeper; a peer wakes
// those not sleeping for the owner's threads only.
void ring_page(DoorbellPage* p, bool own) {
  // The ringer's work (a posted job, an MPI send) is visible before it reads the count.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const std::uint32_t sleeping = p->sleepers.load(std::memory_order_relaxed);
  if ((sleeping & kAnyRingerMask) != 0) wake_all_on(p->word);
  if (own && sleeping >= kOwnRingersOnly) wake_all_on(p->own_word);
}

void* map_page(int fd) {
  void* at = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return at == MAP_FAILED ? nullptr : at;
}

}  // namespace

Doorbell::Doorbell() {
  void* at = nullptr;
  int fd = static_cast<int>(syscall(SYS_memfd_create, kName, MFD_CLOEXEC));
  if (fd >= 0) {
    if (ftruncate(fd, kPageBytes) == 0) at = map_page(fd);
    // The descriptor stays open while the doorbell lives: peers find the page through
    // /proc/<pid>/fd.
    if (at)
      fd_ = fd;
    else
      close(fd);
  }
  shared_ = at != nullptr;
  if (!at) {
    at = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) throw std::bad_alloc();
  }
  page_ = new (at) DoorbellPage{};
  page_->owner_pid = static_cast<std::int32_t>(getpid());
  std::atomic_thread_fence(std::memory_order_release);
  page_->magic = kMagic;
}

Doorbell::~Doorbell() {
  // A peer that maps the page from now on finds no magic (another runtime of this process
  // makes a page of its own).
  page_->magic = 0;
  munmap(page_, kPageBytes);
  if (fd_ >= 0) close(fd_);
}

bool Doorbell::sleep_until(Clock::time_point until, const std::function<bool()>& ready,
                           Ringers ringers) {
  const bool own_only = ringers == Ringers::own_only;
  const std::uint32_t count = own_only ? kOwnRingersOnly : 1;
  std::atomic<std::uint32_t>& word = own_only ? page_->own_word : page_->word;
  page_->sleepers.fetch_add(count, std::memory_order_seq_cst);
  const std::uint32_t seen = word.load(std::memory_order_seq_cst);
  bool slept = false;
  if (!ready()) {
    slept = true;
    const auto left = until - Clock::now();
    if (left > Clock::duration::zero()) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      syscall(SYS_futex, futex_word(word), FUTEX_WAIT, seen, &ts, nullptr, 0);
    }
  }
  page_->sleepers.fetch_sub(count, std::memory_order_seq_cst);
  return slept;
}

void Doorbell::ring() { ring_page(page_, true); }

std::shared_ptr<PeerDoorbell> PeerDoorbell::open(int pid) {
  if (pid <= 0) return nullptr;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return nullptr;
  const std::string want = std::string("/memfd:") + kName;
  DoorbellPage* found = nullptr;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = dir + "/" + e->d_name;
    char target[256];
    const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (std::strncmp(target, want.c_str(), want.size()) != 0) continue;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    void* at = fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(kPageBytes) ? map_page(fd)
                                                                                   : nullptr;
    close(fd);
    if (!at) continue;
    auto* p = static_cast<DoorbellPage*>(at);
    if (p->magic == kMagic && p->owner_pid == pid) {
      std::atomic_thread_fence(std::memory_order_acquire);
      found = p;
      break;
    }
    munmap(at, kPageBytes);
  }
  closedir(d);
  if (!found) return nullptr;
  return std::shared_ptr<PeerDoorbell>(new PeerDoorbell(found));
}

PeerDoorbell::~PeerDoorbell() { munmap(page_, kPageBytes); }

void PeerDoorbell::ring() { ring_page(page_, false); }

}  // namespace cadre::transport
