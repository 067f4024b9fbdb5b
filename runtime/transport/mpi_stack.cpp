#include "transport/mpi_stack.hpp"

#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <exception>

namespace cadre::transport {

namespace ctx = boost::context;

// A fiber that runs each job it is handed and switches back. It never finishes: destroying it
// unwinds its stack (Boost.Context's forced unwind passes through, never caught here).
struct MpiStack::Impl {
  static constexpr std::size_t kStackBytes = std::size_t{4} << 20;
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
  std::exception_ptr error;
  ctx::fiber caller;
  ctx::fiber worker;

  Impl()
      : worker(std::allocator_arg, ctx::fixedsize_stack(kStackBytes), [this](ctx::fiber&& c) {
          caller = std::move(c);
          for (;;) {
            try {
              fn(arg);
            } catch (...) {
              error = std::current_exception();
            }
            caller = std::move(caller).resume();
          }
          return std::move(caller);
        }) {}
};

MpiStack::MpiStack() = default;
MpiStack::~MpiStack() = default;

void MpiStack::run_erased(void (*fn)(void*), void* arg) {
  if (!impl_) impl_ = std::make_unique<Impl>();
  impl_->fn = fn;
  impl_->arg = arg;
  impl_->worker = std::move(impl_->worker).resume();
  if (impl_->error) std::rethrow_exception(std::exchange(impl_->error, nullptr));
}

}  // namespace cadre::transport
