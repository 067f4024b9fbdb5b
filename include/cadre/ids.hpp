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
  constexpr NodeId() = default;
  constexpr explicit NodeId(std::uint32_t v) : v_(v) {}
  constexpr std::uint32_t value() const { return v_; }
  friend constexpr auto operator<=>(NodeId, NodeId) = default;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& v_;
  }

 private:
  std::uint32_t v_ = 0;
};

/// A process: {node, serial}. Default-constructed it is the null pid. Prints as <node.serial>.
struct Pid {
  NodeId node = NodeId(UINT32_MAX);
  std::uint64_t serial = 0;

  /// True for the null pid (the default): it names no process.
  constexpr bool is_null() const { return node.value() == UINT32_MAX; }
  friend constexpr auto operator<=>(const Pid&, const Pid&) = default;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& node& serial;
  }
};

/// The null pid: compares unequal to every real pid.
inline constexpr Pid null_pid{};

}  // namespace cadre

template <>
struct std::hash<cadre::NodeId> {
  std::size_t operator()(cadre::NodeId n) const noexcept {
    return std::hash<std::uint32_t>{}(n.value());
  }
};
template <>
struct std::hash<cadre::Pid> {
  std::size_t operator()(const cadre::Pid& p) const noexcept {
    return std::hash<std::uint64_t>{}((std::uint64_t(p.node.value()) << 40) ^ p.serial);
  }
};

template <>
struct fmt::formatter<cadre::NodeId> : fmt::formatter<std::uint32_t> {
  template <class Ctx>
  auto format(cadre::NodeId n, Ctx& ctx) const {
    return fmt::formatter<std::uint32_t>::format(n.value(), ctx);
  }
};
template <>
struct fmt::formatter<cadre::Pid> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Ctx>
  auto format(const cadre::Pid& p, Ctx& ctx) const {
    if (p.is_null()) return fmt::format_to(ctx.out(), "<null>");
    return fmt::format_to(ctx.out(), "<{}.{}>", p.node.value(), p.serial);
  }
};
