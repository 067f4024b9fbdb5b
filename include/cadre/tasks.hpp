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
#include "cadre/detail/huge_pages.hpp"
#include "cadre/detail/map_inputs.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/future.hpp"
#include "cadre/ids.hpp"

namespace cadre {

namespace detail {
/// The parameter type that makes cadre::random a function of its own (see below).
struct RandomPick {
  explicit RandomPick() = default;
};
}  // namespace detail

/// Where a task or process runs: a placement below, or a bare NodeId.
struct Placement {
  /// What kind of choice this is.
  enum class Kind : std::uint8_t { any, random, node, host, local, random_on };
  Kind kind = Kind::any;           ///< the kind of choice
  NodeId node{};                   ///< Kind::node: the node
  std::string host;                ///< Kind::host: the host
  std::vector<std::string> hosts;  ///< Kind::random_on: the hosts

  /// cadre::any.
  Placement() = default;
  /// A placement of kind `k`.
  Placement(Kind k, NodeId n, std::string h = {}, std::vector<std::string> hs = {})
      : kind(k), node(n), host(std::move(h)), hosts(std::move(hs)) {}
  /// A bare NodeId: on(n).
  Placement(NodeId n) : kind(Kind::node), node(n) {}  // NOLINT(google-explicit-constructor)
  /// cadre::random, named as a value.
  Placement(Placement (*)(detail::RandomPick))  // NOLINT(google-explicit-constructor)
      : kind(Kind::random) {}
};

/// The worker with the least outstanding work (the master only when it is the sole node).
inline const Placement any{Placement::Kind::any, NodeId(0)};
/// A worker chosen at random (the master only when it is the sole node). Named as a value,
/// `run(cadre::random, f, x)`. It is a function, never called by the user, so that after
/// `using namespace cadre;` the plain name `random` still works both as this placement and
/// as the C library's `random()` (`<cstdlib>`), instead of being ambiguous.
inline Placement random(detail::RandomPick) {
  return Placement(Placement::Kind::random, NodeId(0));
}
/// The calling node itself.
inline const Placement local{Placement::Kind::local, NodeId(0)};
/// Node `n`; InvalidNode when it is unknown.
inline Placement on(NodeId n) { return Placement{Placement::Kind::node, n}; }
/// The least loaded node on host `name`; InvalidNode when there is none.
inline Placement on_host(std::string name) {
  return Placement{Placement::Kind::host, NodeId(0), std::move(name)};
}
/// A worker chosen at random among the live workers on `hosts` (the master only when it is
/// the sole node there). InvalidNode for an empty list, a name that is no node's host, or
/// when every node on those hosts is lost.
inline Placement random_on(std::vector<std::string> hosts) {
  return Placement{Placement::Kind::random_on, NodeId(0), {}, std::move(hosts)};
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

/// Queues a map job (any thread): the node loop encodes the chunks of `inputs` as they leave
/// and feeds them to nodes in windows. Throws NotRunning, InvalidNode at once.
void submit_map(const Placement& where, const Entry* e, std::unique_ptr<MapInputs> inputs,
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

/// A placement as given: a Placement, a NodeId, or cadre::random named as a value.
inline Placement placement_of(const Placement& p) { return p; }

}  // namespace detail

/// Runs registered task `fn(args...)` on a node chosen by `where`. Never blocks on the
/// remote node. Throws NotRegistered (fn not registered with CADRE_TASK), InvalidNode,
/// PayloadTooLarge, NotRunning. Any thread, task or process.
template <class R, class W = Placement, class... P, class... A>
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
template <class R, class W = Placement, class... A>
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

namespace detail {

/// map()'s body once the inputs are its own: one state per chunk, the job handed to the node
/// loop (chunks start leaving now), then the futures, handles {chunk state, slot}.
template <class R, class W = Placement, class T>
std::vector<Future<R>> map_own(const W& where, const Entry* e,
                               std::unique_ptr<MapInputsOf<T>> inputs, const MapOptions& opts) {
  const std::size_t n = inputs->count();
  auto states = inputs->template make_states<R>();
  submit_map(placement_of(where), e, std::move(inputs), opts);
  std::vector<Future<R>> out;
  out.reserve(n);
  // A huge map's futures fill hundreds of MB at once: in huge pages, not a fault per 4 KiB.
  advise_huge_pages(out.data(), n * sizeof(Future<R>));
  for (auto& st : states) {
    const std::uint32_t slots = st->slots();
    ResultState<R>* s = st.get();
    StateBase::attach(std::move(st), slots);  // one count for the chunk's futures
    for (std::uint32_t i = 0; i < slots; ++i) out.emplace_back(attached, s, i);
  }
  return out;
}

/// Inputs per chunk: `opts.chunk`, or default_chunk's choice; at most 2^32 - 1.
template <class W>
std::size_t map_chunk(const W& where, std::size_t n, const MapOptions& opts) {
  std::size_t chunk = opts.chunk ? opts.chunk : default_chunk(placement_of(where), n);
  return chunk > UINT32_MAX ? UINT32_MAX : chunk;
}

}  // namespace detail

/// Runs `fn` once per input, spread over the nodes `where` allows, in chunks; returns one
/// future per input, in input order. Every worker is kept busy with a window of chunks.
/// Returns at once: map takes its own copy of the inputs (each converted to the parameter
/// type), so the caller may change or destroy `inputs` as soon as it returns, and the node
/// loop encodes each chunk as it leaves. A chunk that cannot be encoded, or whose encoding
/// is above the payload cap, fails its own futures (Error, PayloadTooLarge), not the map.
/// Throws NotRegistered, InvalidNode, NotRunning, and what converting an input throws.
template <class R, class W = Placement, class P, class Range>
std::vector<Future<R>> map(const W& where, R (*fn)(P), const Range& inputs, MapOptions opts = {}) {
  using Param = std::decay_t<P>;
  const detail::Entry* e = detail::task_entry(fn);
  const std::size_t n =
      static_cast<std::size_t>(std::distance(std::begin(inputs), std::end(inputs)));
  if (n == 0) return {};
  const std::size_t chunk = detail::map_chunk(where, n, opts);
  return detail::map_own<R>(
      where, e, std::make_unique<detail::MapInputsOf<Param>>(std::begin(inputs), n, chunk), opts);
}

/// As above, with the inputs moved in (no copy): `map(where, fn, std::move(xs))`, or a
/// braced list. The vector is the map's from then on.
template <class R, class W = Placement, class P>
std::vector<Future<R>> map(const W& where, R (*fn)(P), std::vector<std::decay_t<P>>&& inputs,
                           MapOptions opts = {}) {
  const detail::Entry* e = detail::task_entry(fn);
  const std::size_t n = inputs.size();
  if (n == 0) return {};
  const std::size_t chunk = detail::map_chunk(where, n, opts);
  return detail::map_own<R>(
      where, e, std::make_unique<detail::MapInputsOf<std::decay_t<P>>>(std::move(inputs), chunk),
      opts);
}

}  // namespace cadre
