#pragma once
/// \file ids.hpp
/// Identities: NodeId (one OS process of the runtime) and Pid (a process on a node).

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>

namespace cadre {

/// A node of the runtime: node 0 is the master. Explicitly constructible from an integer.
class NodeId {
 public:
  /// Node 0, the master.
  constexpr NodeId() = default;
  /// Node `v`.
  constexpr explicit NodeId(std::uint32_t v) : v_(v) {}
  /// The node's number.
  constexpr std::uint32_t value() const { return v_; }
  /// Ordered by number.
  friend constexpr auto operator<=>(NodeId, NodeId) = default;
  /// Reads or writes the fields (cadre's archives and Boost.Serialization's alike).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& v_;
  }

 private:
  std::uint32_t v_ = 0;
};

/// A process: {node, serial}. Default-constructed it is the null pid. Prints as <node.serial>.
struct Pid {
  NodeId node = NodeId(UINT32_MAX);  ///< the node the process runs on
  std::uint64_t serial = 0;          ///< its number on that node, never reused

  /// True for the null pid (the default): it names no process.
  constexpr bool is_null() const { return node.value() == UINT32_MAX; }
  /// Ordered by node, then serial.
  friend constexpr auto operator<=>(const Pid&, const Pid&) = default;
  /// Reads or writes the fields (cadre's archives and Boost.Serialization's alike).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& node& serial;
  }
};

/// The null pid: compares unequal to every real pid.
inline constexpr Pid null_pid{};

}  // namespace cadre

/// NodeIds as keys of unordered containers.
template <>
struct std::hash<cadre::NodeId> {
  /// The hash of the number.
  std::size_t operator()(cadre::NodeId n) const noexcept {
    return std::hash<std::uint32_t>{}(n.value());
  }
};
/// Pids as keys of unordered containers.
template <>
struct std::hash<cadre::Pid> {
  /// The hash of node and serial.
  std::size_t operator()(const cadre::Pid& p) const noexcept {
    return std::hash<std::uint64_t>{}((std::uint64_t(p.node.value()) << 40) ^ p.serial);
  }
};

namespace fmt {
/// NodeIds in fmt (cadre::log): their number.
template <>
struct formatter<cadre::NodeId> : formatter<std::uint32_t> {
  /// Writes the number.
  template <class Ctx>
  auto format(cadre::NodeId n, Ctx& ctx) const {
    return formatter<std::uint32_t>::format(n.value(), ctx);
  }
};
/// Pids in fmt (cadre::log): `<node.serial>`, or `<null>`.
template <>
struct formatter<cadre::Pid> {
  /// No format options.
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  /// Writes `<node.serial>`, or `<null>` for the null pid.
  template <class Ctx>
  auto format(const cadre::Pid& p, Ctx& ctx) const {
    if (p.is_null()) return fmt::format_to(ctx.out(), "<null>");
    return fmt::format_to(ctx.out(), "<{}.{}>", p.node.value(), p.serial);
  }
};
}  // namespace fmt
