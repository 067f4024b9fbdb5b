#include "scheduler/scheduler.hpp"

#include <sched.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define CADRE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CADRE_ASAN 1
#endif
#endif

#ifdef CADRE_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace cadre::sched {
namespace {

// ASan must be told about every stack switch, or it reports false stack-buffer-overflows
// (FACTS.md). The annotations compile to nothing in other builds.
inline void start_switch(void** fake_save, const void* bottom, std::size_t size) {
#ifdef CADRE_ASAN
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save, (void)bottom, (void)size;
#endif
}
inline void finish_switch(void* fake_save, const void** old_bottom, std::size_t* old_size) {
#ifdef CADRE_ASAN
  __sanitizer_finish_switch_fiber(fake_save, old_bottom, old_size);
#else
  (void)fake_save, (void)old_bottom, (void)old_size;
#endif
}

// Uses little stack and no stdio: it may run on a fiber's stack that is nearly used up.
[[noreturn]] void stack_overflow(const Fiber* f, const char* how) {
  char serial[24];
  auto end = std::to_chars(serial, serial + sizeof serial, f->serial()).ptr;
  auto put = [](const char* p, std::size_t n) {
    while (n > 0) {
      auto k = ::write(2, p, n);
      if (k <= 0) return;
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  };
  auto puts = [&](const char* p) { put(p, std::strlen(p)); };
  puts("cadre: fiber ");
  put(serial, static_cast<std::size_t>(end - serial));
  puts(" overflowed its stack (");
  puts(how);
  puts("); raise Options::stack_size / CADRE_STACK_SIZE\n");
  std::abort();
}

}  // namespace

#ifdef CADRE_ASAN
constexpr std::size_t kStackScale = 3;  // ASan's redzones need larger stacks (FACTS.md)
#else
constexpr std::size_t kStackScale = 1;
#endif

namespace {
// The part of a parked fiber's stack that wake() prefetches, around its parked frame.
constexpr std::ptrdiff_t kPrefetchBelow = 256;
constexpr std::ptrdiff_t kPrefetchAbove = 2048;
}  // namespace

Scheduler::Scheduler(std::size_t stack_size) : pool_(stack_size * kStackScale) {}

Scheduler::~Scheduler() = default;

void Scheduler::set_stack_size(std::size_t n) { pool_.set_stack_size(n * kStackScale); }

Fiber* Scheduler::spawn(Job body, std::uint64_t serial) {
  auto* f = new Fiber;
  f->serial_ = serial;
  f->body_ = std::move(body);
  f->ctx_ = boost::context::fiber(
      std::allocator_arg, PooledStack(pool_, &f->stack_), [this, f](boost::context::fiber&& loop) {
        f->caller_ = std::move(loop);
        finish_switch(nullptr, &loop_stack_bottom_, &loop_stack_size_);
        try {
          f->body_();
        } catch (...) {
          std::fprintf(stderr, "cadre: an exception escaped fiber %llu\n",
                       static_cast<unsigned long long>(f->serial_));
          std::terminate();
        }
        f->body_ = Job();  // release captures while the stack still exists
        f->done_ = true;
        // The stack returns to the pool now: its canary is checked once, here.
        if (!StackPool::canary_intact(f->stack_)) stack_overflow(f, "canary destroyed");
        // nullptr: this stack is about to be released.
        start_switch(nullptr, loop_stack_bottom_, loop_stack_size_);
        return std::move(f->caller_);
      });
  ++live_;
  wake(f);
  return f;
}

void Scheduler::resume(Fiber* f) {
  Fiber* prev = t_current;
  t_current = f;
  void* fake = nullptr;
  // The fiber's stack is not known before its first resume allocates it; ASan accepts a
  // null bottom for the first switch and learns the stack from finish_switch.
  start_switch(&fake, f->stack_.sp ? static_cast<char*>(f->stack_.sp) - f->stack_.size : nullptr,
               f->stack_.size);
  f->ctx_ = std::move(f->ctx_).resume();
  finish_switch(fake, nullptr, nullptr);
  t_current = prev;
  if (f->overflowed_) stack_overflow(f, "stack pointer below the limit at a switch");
  if (f->done_) {
    --live_;
    delete f;
  }
}

std::size_t Scheduler::run_ready() {
  std::size_t n = ready_.size();
  std::size_t ran = 0;
  for (std::size_t i = 0; i < n && !ready_.empty(); ++i) {
    Fiber* f = ready_.front();
    ready_.pop_front();
    f->queued_ = false;
    resume(f);
    ++ran;
  }
  return ran;
}

void Scheduler::suspend() {
  Fiber* f = t_current;
  // The stack pointer of the switching frame, against the limit: cheap, and it touches no
  // cold memory (a canary read at every switch would load a line of a page far below). The
  // loop reports it (resume()): on this stack, even the dynamic linker's first call of a
  // function could overrun it.
  const char* sp = static_cast<const char*>(__builtin_frame_address(0));
  if (sp < StackPool::stack_limit(f->stack_)) f->overflowed_ = true;
  f->parked_sp_ = sp;
  start_switch(&f->asan_fake_stack_, loop_stack_bottom_, loop_stack_size_);
  f->caller_ = std::move(f->caller_).resume();
  finish_switch(f->asan_fake_stack_, &loop_stack_bottom_, &loop_stack_size_);
}

void Scheduler::wake(Fiber* f) {
  if (f->queued_ || f->done_) return;
  f->queued_ = true;
  ready_.push_back(f);
  // The lines its resume will read first: the registers its switch saved below the parked
  // frame, and the frames above it. Among tens of thousands of processes they are cold, and
  // a resume would otherwise wait for them one by one; the loads overlap with what the loop
  // does before it runs this fiber (ring_50000: +17 % hops/s).
  if (const char* sp = f->parked_sp_) {
    const char* top = static_cast<const char*>(f->stack_.sp);
    for (const char* p = sp - kPrefetchBelow; p < top && p < sp + kPrefetchAbove; p += 64)
      __builtin_prefetch(p, 1, 3);
  }
}

void Scheduler::yield() {
  wake(t_current);
  suspend();
}

}  // namespace cadre::sched
