#pragma once
/// \file tasks.hpp
/// Tasks: run a registered function on some node and get its result through a Future.

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/detail/buffer.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/future.hpp"
#include "cadre/ids.hpp"

namespace cadre {

/// Where a task or process runs.
struct Placement {
  enum class Kind : std::uint8_t { any, random, node, host, local };
  Kind kind = Kind::any;
  NodeId node{};
  std::string host;
};

/// The worker with the least outstanding work (the master only when it is the sole node).
inline const Placement any{Placement::Kind::any, NodeId(0), {}};
/// A worker chosen at random (the master only when it is the sole node).
inline const Placement random{Placement::Kind::random, NodeId(0), {}};
/// The calling node itself.
inline const Placement local{Placement::Kind::local, NodeId(0), {}};
/// Node `n`; InvalidNode when it is unknown.
inline Placement on(NodeId n) { return Placement{Placement::Kind::node, n, {}}; }
/// The least loaded node on host `name`; InvalidNode when there is none.
inline Placement on_host(std::string name) {
  return Placement{Placement::Kind::host, NodeId(0), std::move(name)};
}

/// Options of map().
struct MapOptions {
  /// Inputs per message; 0 picks one from the input count and the number of workers.
  std::size_t chunk = 0;
  /// Report progress on the master's progress line.
  bool progress = false;
};

namespace detail {

/// Queues one request (any thread). Throws InvalidNode at once for an unknown node or host.
void submit_run(const Placement& where, const Entry* e, ByteBuffer&& args,
                std::shared_ptr<StateBase> state);

struct ChunkSpec {
  ByteBuffer inputs;  // u32 count, then the encoded inputs
  std::shared_ptr<StateBase> state;
  std::uint32_t count = 0;
};
/// Queues a map job (any thread): chunks are fed to nodes in windows.
void submit_map(const Placement& where, const Entry* e, std::vector<ChunkSpec>&& chunks,
                const MapOptions& opts);
/// Chunk size map() uses when none is given.
std::size_t default_chunk(const Placement& where, std::size_t inputs);

template <class F>
const Entry* task_entry(F* fn) {
  const Entry* e = find_task(reinterpret_cast<const void*>(fn));
  if (!e) throw_task_not_registered(reinterpret_cast<const void*>(fn));
  return e;
}

/// The entry of a task called by name: `name` with the signature `signature` (made from the
/// caller's result and argument types). On the master it is checked against the registries
/// every node sent when it joined: NotRegistered when no node has `name`, RegistryMismatch
/// naming both signatures when the job has it with another. Elsewhere the node that runs it
/// checks (NotRegistered, naming name and signature). Interned: the pointer stays valid.
const Entry* named_task(std::string_view name, std::string signature);

/// The signature a task `R f(A...)` is registered with.
template <class R, class... A>
std::string named_signature() {
  return type_name(typeid(R(*)(std::tuple<std::decay_t<A>...>)));
}

inline Placement placement_of(NodeId n) { return on(n); }
inline const Placement& placement_of(const Placement& p) { return p; }

}  // namespace detail

/// Runs registered task `fn(args...)` on a node chosen by `where`. Never blocks on the
/// remote node. Throws NotRegistered (fn not registered with CADRE_TASK), InvalidNode,
/// PayloadTooLarge, NotRunning. Any thread, task or process.
template <class R, class W, class... P, class... A>
Future<R> run(const W& where, R (*fn)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "cadre::run: wrong number of arguments");
  const detail::Entry* e = detail::task_entry(fn);
  detail::ByteBuffer buf;
  {
    detail::OutArchive ar(buf);
    std::tuple<std::decay_t<P>...> converted(std::forward<A>(args)...);
    std::apply([&](auto&... a) { ((ar & a), ...); }, converted);
  }
  auto st = std::make_shared<detail::ResultState<R>>(1);
  detail::submit_run(detail::placement_of(where), e, std::move(buf), st);
  return Future<R>(std::move(st), 0);
}

/// Runs the task registered as `name` (CADRE_TASK(name)) with `args`, on a node that has it:
/// a program spawned or started beside this one may register names this binary lacks. `R`
/// and the argument types make the signature: `run<int>(on(n), "square", 3)` calls
/// `int square(int)`. A name or signature the job lacks: NotRegistered or RegistryMismatch
/// naming both (checked on the master; elsewhere by the node that runs it).
template <class R, class W, class... A>
Future<R> run(const W& where, std::string_view name, A&&... args) {
  const detail::Entry* e = detail::named_task(name, detail::named_signature<R, A...>());
  detail::ByteBuffer buf;
  {
    detail::OutArchive ar(buf);
    std::tuple<std::decay_t<A>...> converted(std::forward<A>(args)...);
    std::apply([&](auto&... a) { ((ar & a), ...); }, converted);
  }
  auto st = std::make_shared<detail::ResultState<R>>(1);
  detail::submit_run(detail::placement_of(where), e, std::move(buf), st);
  return Future<R>(std::move(st), 0);
}

/// Runs `fn` once per input, spread over the nodes `where` allows, in chunks; returns one
/// future per input, in input order. Every worker is kept busy with a window of chunks.
template <class R, class W, class P, class Range>
std::vector<Future<R>> map(const W& where, R (*fn)(P), const Range& inputs, MapOptions opts = {}) {
  using Param = std::decay_t<P>;
  const detail::Entry* e = detail::task_entry(fn);
  const std::size_t n =
      static_cast<std::size_t>(std::distance(std::begin(inputs), std::end(inputs)));
  std::vector<Future<R>> out;
  out.reserve(n);
  if (n == 0) return out;
  std::size_t chunk = opts.chunk ? opts.chunk : detail::default_chunk(where, n);
  if (chunk > UINT32_MAX) chunk = UINT32_MAX;
  std::vector<detail::ChunkSpec> chunks;
  chunks.reserve((n + chunk - 1) / chunk);
  auto it = std::begin(inputs);
  for (std::size_t done = 0; done < n;) {
    auto k = static_cast<std::uint32_t>(std::min(chunk, n - done));
    detail::ChunkSpec c;
    c.count = k;
    auto st = std::make_shared<detail::ResultState<R>>(k);
    {
      detail::OutArchive ar(c.inputs);
      ar& k;
      for (std::uint32_t i = 0; i < k; ++i, ++it) {
        if constexpr (std::is_same_v<std::decay_t<decltype(*it)>, Param>) {
          ar&* it;
        } else {
          Param p(*it);
          ar& p;
        }
        out.emplace_back(st, i);
      }
    }
    c.state = std::move(st);
    chunks.push_back(std::move(c));
    done += k;
  }
  detail::submit_map(detail::placement_of(where), e, std::move(chunks), opts);
  return out;
}

}  // namespace cadre
