#include "api/node_services.hpp"

#include <atomic>

#include "api/join_gate.hpp"
#include "cadre/errors.hpp"

namespace cadre::api {
NodeServices::NodeServices(node::Core& core)
    : processes(core), output(core, processes), tasks(core, output), node_events(core, processes) {
  if (core.is_master()) processes.add_driver();
  core.add_service(tasks);
  core.add_service(processes);
  core.add_service(output);
  core.add_service(node_events);
  g_node_services.store(this, std::memory_order_release);
}

NodeServices::~NodeServices() {
  NodeServices* me = this;
  g_node_services.compare_exchange_strong(me, nullptr);
}

void throw_no_services() {
  throw NotRunning(
      "cadre: the runtime is not running (construct cadre::Runtime or call cadre::launch "
      "first)");
}

}  // namespace cadre::api
