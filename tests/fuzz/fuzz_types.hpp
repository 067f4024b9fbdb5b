#pragma once
/// \file fuzz_types.hpp
/// The payload types the decode fuzzer tries, shared with the seed generator.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/ids.hpp"

namespace fuzz {

/// A scoped enum (fixed underlying type: every value is valid).
enum class Mode : std::uint8_t { idle, busy, gone };

/// A bitwise-safe struct.
struct Vec3 {
  float x, y, z;
  std::int32_t id;
};

/// A recursive user type: exercises the nesting bound.
struct Tree {
  std::int32_t value = 0;
  std::vector<Tree> kids;
  /// Boost.Serialization protocol.
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& value& kids;
  }
};

/// A user struct with a bit of everything.
struct Record {
  cadre::Pid pid;
  std::vector<bool> flags;
  std::unordered_map<std::int32_t, std::set<std::string>> groups;
  std::array<std::uint16_t, 3> arr{};
  Mode mode = Mode::idle;
  std::chrono::milliseconds timeout{0};
  std::deque<std::pair<std::int64_t, bool>> pairs;
  std::optional<Tree> tree;
  /// Boost.Serialization protocol.
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& pid& flags& groups& arr& mode& timeout& pairs& tree;
  }
};

using T0 = std::tuple<int, std::string, std::vector<double>>;
using T1 = std::map<std::string, std::vector<int>>;
using T2 = std::optional<std::variant<int, std::string, std::vector<std::string>>>;
using T3 = Record;
using T4 = Tree;
using T5 = std::vector<Vec3>;
using T6 = std::multimap<std::u16string, std::tuple<std::monostate, std::array<char, 2>>>;

/// Number of payload types; an envelope's type_id modulo this picks one.
inline constexpr std::uint64_t kTypeCount = 7;

}  // namespace fuzz

CADRE_BITWISE(fuzz::Vec3);
