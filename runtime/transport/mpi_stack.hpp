#pragma once
// A stack of its own for MPI calls that make progress.
//
// Under MPICH on the ch4:ucx device (Debian's MPICH 4.0), any call that makes progress
// (MPI_Testsome, MPI_Improbe, ...) may run UCX's handlers for arrived messages, and they take
// more than the 128 KiB of stack a task's or process's fiber has: the fiber overflows its
// stack and the node dies with SIGSEGV. The transport is entered from fibers (a process that
// sends flushes its node's transport when nothing else is ready), so under MPICH it runs those
// calls on this stack instead. Under Open MPI the calls run in place, as they always did.

#include <mpi.h>

#include <memory>
#include <utility>

namespace cadre::transport {

/// Runs calls on a stack of 4 MiB (virtual; touched only as deep as MPI goes) under MPICH,
/// in place otherwise. Not thread-safe: one thread at a time, as the transport itself.
class MpiStack {
 public:
  MpiStack();
  ~MpiStack();
  MpiStack(const MpiStack&) = delete;
  MpiStack& operator=(const MpiStack&) = delete;

  /// Runs `f()` on the MPI stack and returns when it has; an exception it throws is rethrown
  /// here. Blocks as long as `f` does.
  template <class F>
  void run(F&& f) {
#ifdef MPICH_VERSION
    run_erased([](void* p) { (*static_cast<std::remove_reference_t<F>*>(p))(); },
               static_cast<void*>(&f));
#else
    std::forward<F>(f)();
#endif
  }

 private:
  void run_erased(void (*fn)(void*), void* arg);
  struct Impl;
  std::unique_ptr<Impl> impl_;  // made at the first run (never under Open MPI)
};

}  // namespace cadre::transport
