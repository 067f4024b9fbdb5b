// The bodies of include/cadre/runtime.hpp: Runtime and launch(): which thread runs the node loop,
// which the driver, and how the process ends (MPI_Finalize when every node acknowledged shut-down,
// _exit otherwise, since MPI_Finalize waits for every rank). The node is made here, above the node
// layer.

#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "api/join_gate.hpp"
#include "api/join_request.hpp"
#include "api/node_services.hpp"
#include "api/spawn_checks.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "cadre/runtime.hpp"
#include "node/end_signal.hpp"
#include "node/options_env.hpp"
#include "node/payload.hpp"
#include "node/trace.hpp"
#include "transport/exit_guard.hpp"
#include "transport/links.hpp"
#include "transport/mpi_env.hpp"
#include "transport/user_comms.hpp"

namespace cadre {
namespace {
std::atomic<bool> g_runtime_made{false};

// SIGPIPE is ignored unless the program chose what it does (a handler, or SIG_IGN already).
void ignore_sigpipe_if_default() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO))
    std::signal(SIGPIPE, SIG_IGN);
}
}  // namespace

namespace detail {

class RuntimeImpl {
 public:
  RuntimeImpl(int& argc, char**& argv, Options o, bool launch_mode) {
    if (g_runtime_made.exchange(true))
      throw InitTwice(
          "cadre::Runtime: a runtime was already created in this process (one per process; "
          "cadre::launch creates it for you)");
    try {
      // Over TCP (hosts, spawned nodes) a send to a peer that died raises SIGPIPE, which by
      // default kills the sender: a lost peer must not take this node with it.
      ignore_sigpipe_if_default();
      node::apply_environment(o);
      node::clamp_durations(o);
      if (o.keep_freed_memory) node::keep_freed_memory();
      // A joinable job (cadre-run --joinable) accepts joiners on a thread of its own.
      const char* joinable = std::getenv("CADRE_JOINABLE");
      const bool multiple = o.mpi_thread_multiple || (joinable && std::string(joinable) == "1");
      mpi_ = std::make_unique<transport::MpiEnvironment>(argc, argv, !launch_mode, multiple);
      std::vector<char> bootstrap;
      std::string join_port;
      if (std::string where = api::take_join_request(); !where.empty())
        join_port = api::join_handshake(where, std::chrono::seconds(10));
      auto transport = transport::make_transport(o, std::chrono::seconds(60), bootstrap, join_port);
      if (transport->spawned()) apply_bootstrap(bootstrap);
      // The user's own communicators (boost_mpi.hpp): every rank of this launch, here.
      user_comms_ =
          std::make_unique<transport::UserComms>(!transport->spawned() && join_port.empty());
      core_ = std::make_unique<node::Core>(std::move(transport), o, mpi_->host());
      services_ = std::make_unique<api::NodeServices>(*core_);
      master_ = core_->is_master();
      // With MPI SERIALIZED a waiting driver serves the loop itself (no thread switches).
      if (master_ && mpi_->serialized()) core_->enable_driver_baton();
      // mpirun ends a job it gives up on with SIGTERM: the master still reports why.
      if (master_) node::catch_end_signal();
      if (master_ && !launch_mode) {
        start_loop_thread();
        driver_t0_ = node::trace::now_ns();  // the driver is the caller, from here on
        node::t_driver_thread = true;
        if (o.node_init) o.node_init();
        if (o.master_init) o.master_init();
      } else {
        core_->bind_loop_thread();
        core_->start();
        if (o.node_init) o.node_init();
      }
    } catch (const std::exception& e) {
      // Said before MPI_Finalize: once one rank exits non-zero, mpirun ends the others.
      node::log_local(Level::error, e.what());
      cleanup_after_failed_start();
      throw;
    } catch (...) {
      cleanup_after_failed_start();
      throw;
    }
  }

  /// A spawned process: the environment and output files the master's spawn_nodes asked for.
  static void apply_bootstrap(const std::vector<char>& bytes) {
    if (bytes.empty()) return;
    auto b =
        node::decode_payload<api::SpawnBootstrap>(bytes.data(), bytes.size(), "spawn bootstrap");
    for (auto& [k, v] : b.env) ::setenv(k.c_str(), v.c_str(), 1);
    auto redirect = [](const std::string& path, FILE* stream, const char* what) {
      if (path.empty()) return;
      std::fflush(stream);
      if (!std::freopen(path.c_str(), "a", stream))
        throw SpawnError(
            fmt::format("cadre: cannot open {} file '{}' of this spawned node", what, path));
      std::setvbuf(stream, nullptr, stream == stderr ? _IONBF : _IOLBF, 0);
    };
    redirect(b.stdout_path, stdout, "stdout_path");
    redirect(b.stderr_path, stderr, "stderr_path");
  }

  void cleanup_after_failed_start() {
    {
      if (loop_.joinable()) {
        stop_.store(true);
        if (core_) core_->post([] {});
        loop_.join();
      }
      services_.reset();
      core_.reset();
      if (mpi_) mpi_->finalize();
    }
  }

  ~RuntimeImpl() {
    if (done_) return;
    try {
      if (master_)
        shutdown();
      else
        serve();
    } catch (const std::exception& e) {
      node::log_local(Level::error, fmt::format("cadre::~Runtime: {}", e.what()));
    }
  }

  bool master() const { return master_; }
  bool spawned() const { return core_ && core_->spawned() && !core_->joined_job(); }

  int serve() {
    if (master_)
      throw WrongRole(
          "cadre::Runtime::serve: called on the master (node 0), which runs the driver; call "
          "shutdown() there");
    if (done_) return status_;
    int st = core_->serve();
    return finish(st);
  }

  int shutdown() {
    if (!master_)
      throw WrongRole(
          "cadre::Runtime::shutdown: called on a worker; workers call serve() and are shut "
          "down by the master");
    if (done_) return status_;
    if (node::trace::on()) node::trace::span(node::trace::Kind::driver, driver_t0_, 0, 0);
    stop_.store(true);
    core_->post([] {});
    loop_.join();
    return finish(loop_status_);
  }

  /// launch() on the master: the loop runs here, the driver on a thread of its own.
  int run_driver(const std::function<int()>& driver, const std::function<void()>& init) {
    std::atomic<bool> driver_done{false};
    int driver_status = 0;
    node::Core* core = core_.get();
    std::thread th([&] {
      node::t_driver_thread = true;
      const std::int64_t t0 = node::trace::now_ns();
      try {
        if (init) init();
        driver_status = driver();
        if (node::trace::on()) node::trace::span(node::trace::Kind::driver, t0, 0, 0);
      } catch (const services::ProcessEnded& e) {
        node::log_local(Level::error, fmt::format("the driver (<0.0>) ended: {}: {}",
                                                  to_string(e.reason), e.detail));
        driver_status = 1;
      } catch (const std::exception& e) {
        node::log_local(Level::error, fmt::format("the driver threw {}: {}",
                                                  detail::type_name(typeid(e)), e.what()));
        driver_status = 1;
      } catch (...) {
        node::log_local(Level::error, "the driver threw a non-standard exception");
        driver_status = 1;
      }
      driver_done.store(true);
      core->post([] {});
    });
    core_->serve_driver([&] { return driver_done.load() || core->job_failed(); });
    if (!driver_done.load()) {
      // The job failed while the driver runs (its mailbox overflowed): it was told (its next
      // receive throws); give it a moment, then end the job without it.
      core_->run_until([&] { return driver_done.load(); },
                       node::Clock::now() + std::chrono::seconds(1));
    }
    if (!driver_done.load()) {
      node::log_local(
          Level::error,
          "the job failed while the driver was still running: shutting down without it");
      int status = core_->shutdown(1);
      th.detach();  // it may still be running user code: the process ends under it
      finish(status, /*exit_now=*/true);
    }
    th.join();
    return finish(core_->shutdown(driver_status));
  }

 private:
  void start_loop_thread() {
    // Shared with the loop thread, which may still signal after this function has returned.
    struct Start {
      std::mutex m;
      std::condition_variable cv;
      bool started = false;
      std::exception_ptr error;
    };
    auto st = std::make_shared<Start>();
    loop_ = std::thread([this, st, core = core_.get()] {
      core->bind_loop_thread();
      std::exception_ptr error;
      try {
        core->start();
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard lock(st->m);
        st->error = error;
        st->started = true;
      }
      st->cv.notify_one();
      if (!error) {
        core->serve_driver([this, core] { return stop_.load() || core->job_failed(); });
        loop_status_ = core->shutdown(0);
      }
      core->unbind_loop_thread();
    });
    std::unique_lock lock(st->m);
    st->cv.wait(lock, [&] { return st->started; });
    if (std::exception_ptr error = st->error) {
      lock.unlock();
      loop_.join();
      std::rethrow_exception(error);
    }
  }

  /// Ends the runtime: MPI_Finalize when every node acknowledged, else _exit. With
  /// `exit_now` the process ends here either way (a thread of the user's is still running).
  int finish(int status, bool exit_now = false) {
    done_ = true;
    status_ = status;
    const bool safe = core_->clean_exit();
    services_.reset();  // before the node, whose scheduler holds their fibers' stacks
    core_.reset();
    if (!safe) {
      // A node never acknowledged: MPI_Finalize would wait for it forever.
      node::log_local(
          Level::error,
          fmt::format("ending without MPI_Finalize (a node was lost or did not acknowledge "
                      "shut-down); status {}",
                      status ? status : 1));
      std::fflush(nullptr);
      std::_Exit(status ? status : 1);
    }
    finalize_bounded(status);
    if (exit_now) {
      std::fflush(nullptr);
      std::_Exit(status ? status : 1);
    }
    return status;
  }

  /// MPI_Finalize; bounded when an MPI_Comm_accept never returned (a joiner died in the
  /// middle), which it may wait on: the job's status stands either way.
  void finalize_bounded(int status) {
    if (!api::JoinGate::accept_stuck()) {
      mpi_->finalize();
      return;
    }
    transport::ExitGuard guard(
        std::chrono::seconds(10),
        fmt::format("cadre warn: MPI_Finalize did not return within 10 s (a joiner's "
                    "MPI_Comm_accept never returned); ending without it, status {}",
                    status),
        status);
    mpi_->finalize();
  }

  std::unique_ptr<transport::MpiEnvironment> mpi_;
  std::unique_ptr<transport::UserComms> user_comms_;
  std::unique_ptr<node::Core> core_;
  std::unique_ptr<api::NodeServices> services_;  // the composition root: after the node
  bool master_ = false;
  bool done_ = false;
  std::int64_t driver_t0_ = 0;  // the run timeline's driver span (Runtime without launch)
  int status_ = 0;
  std::thread loop_;
  std::atomic<bool> stop_{false};
  int loop_status_ = 0;
};

}  // namespace detail

Runtime::Runtime(int& argc, char**& argv, Options options)
    : impl_(std::make_unique<detail::RuntimeImpl>(argc, argv, std::move(options), false)) {}

Runtime::Runtime(int& argc, char**& argv, Options options, LaunchTag)
    : impl_(std::make_unique<detail::RuntimeImpl>(argc, argv, std::move(options), true)) {}

Runtime::~Runtime() = default;

bool Runtime::is_master() const { return impl_->master(); }
bool Runtime::is_worker() const { return !impl_->master(); }
bool Runtime::is_spawned() const { return impl_->spawned(); }
int Runtime::serve() { return impl_->serve(); }
int Runtime::shutdown() { return impl_->shutdown(); }

int launch(int& argc, char**& argv, std::function<int()> driver, Options options) {
  std::function<void()> init = options.master_init;
  std::unique_ptr<Runtime> rt;
  try {
    rt.reset(new Runtime(argc, argv, std::move(options), Runtime::LaunchTag{}));
  } catch (const InitTwice&) {
    throw;
  } catch (const std::exception&) {
    return 1;  // already reported by the runtime, on this rank
  }
  if (rt->is_worker()) return rt->serve();
  return rt->impl_->run_driver(driver, init);
}

// -- nodes ------------------------------------------------------------------------------

std::vector<NodeId> nodes() {
  auto t = node::Core::get().table();
  std::vector<NodeId> out;
  for (auto& n : *t)
    if (n.state == NodeState::up || n.state == NodeState::stopping) out.push_back(n.id);
  return out;
}

std::vector<NodeId> all_nodes() {
  auto t = node::Core::get().table();
  std::vector<NodeId> out;
  for (auto& n : *t) out.push_back(n.id);
  return out;
}

NodeInfo node_info(NodeId n) {
  auto& core = node::Core::get();
  auto t = core.table();
  for (auto& i : *t)
    if (i.id == n) return i;
  core.check_node(n, "cadre::node_info");  // throws InvalidNode with the live list
  return {};
}

std::optional<NodeId> node_named(std::string_view name) {
  auto t = node::Core::get().table();
  for (auto& i : *t)
    if (i.name == name) return i.id;
  return std::nullopt;
}

Pid self() {
  auto* core = node::Core::try_get();
  if (node::t_driver_thread) return Pid{NodeId(0), 0};
  if (core && core->on_loop_thread())
    if (auto* f = sched::Scheduler::current()) return Pid{core->self_node(), f->serial()};
  return null_pid;
}

NodeId self_node() { return node::Core::get().self_node(); }

void yield() {
  auto* core = node::Core::try_get();
  if (core && core->on_loop_thread() && sched::Scheduler::current()) {
    core->scheduler().yield();
    api::processes().check_killed(api::processes().current());
  } else {
    std::this_thread::yield();
  }
}

}  // namespace cadre
