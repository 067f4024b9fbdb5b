#pragma once
// Waiting for work the node loop finishes later (stop_node, remove_node): started on the loop,
// reported through a callback.

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cadre/detail/future_state.hpp"
#include "cadre/errors.hpp"
#include "node/core.hpp"

namespace cadre::api {

/// What the loop calls once the work is done: an empty error, or what went wrong.
using LoopDone = std::function<void(std::string error)>;

/// Runs `start(done)` on the node loop and waits (a fiber or a thread) until `done` is
/// called; throws Error with its error when there is one, or what `start` threw.
inline void await_loop(node::Core& core, std::function<void(LoopDone)> start) {
  auto st = std::make_shared<detail::ResultState<int>>(1);
  core.execute([st, start = std::move(start)] {
    try {
      start([st](std::string e) {
        if (!e.empty()) st->set_error(0, std::make_exception_ptr(Error(e)));
        st->complete();
      });
    } catch (...) {
      st->set_error(0, std::current_exception());
      st->complete();
    }
  });
  detail::wait_state(st.get(), std::nullopt);
  if (auto e = st->error(0)) std::rethrow_exception(e);
}

}  // namespace cadre::api
