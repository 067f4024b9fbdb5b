/// \file archive_testing.hpp
/// What the archive's unit tests share: user types of every kind the archive supports, and
/// helpers that encode, decode and build malformed bytes.

#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/serialization/base_object.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/ids.hpp"

namespace app {

/// A user type with a member serialize.
struct Point {
  int x = 0;
  double y = 0;
  std::string label;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& x& y& label;
  }
  friend bool operator==(const Point&, const Point&) = default;
};

/// A user type with a free serialize.
struct Color {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Color&, const Color&) = default;
};
template <class A>
void serialize(A& ar, Color& c, unsigned) {
  ar& c.r& c.g& c.b;
}

/// A user type with split save/load members: it stores a derived value.
class Temperature {
 public:
  Temperature() = default;
  explicit Temperature(double c) : celsius_(c), fahrenheit_(c * 9 / 5 + 32) {}
  double celsius() const { return celsius_; }
  double fahrenheit() const { return fahrenheit_; }
  template <class A>
  void save(A& ar, unsigned) const {
    ar << celsius_;
  }
  template <class A>
  void load(A& ar, unsigned) {
    ar >> celsius_;
    fahrenheit_ = celsius_ * 9 / 5 + 32;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  double celsius_ = 0;
  double fahrenheit_ = 0;
};

/// A user type with split free save/load.
struct Version {
  int major = 0, minor = 0;
  friend bool operator==(const Version&, const Version&) = default;
};
template <class A>
void save(A& ar, const Version& v, unsigned) {
  ar << (v.major * 1000 + v.minor);
}
template <class A>
void load(A& ar, Version& v, unsigned) {
  int packed = 0;
  ar >> packed;
  v.major = packed / 1000;
  v.minor = packed % 1000;
}

/// Uses name-value pairs, a base object and make_array.
struct Base {
  std::string name;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& BOOST_SERIALIZATION_NVP(name);
  }
  friend bool operator==(const Base&, const Base&) = default;
};
struct Derived : Base {
  int values[3] = {0, 0, 0};
  std::vector<std::string> tags;
  std::uint16_t raw[2] = {0, 0};
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& boost::serialization::base_object<Base>(*this);
    ar& BOOST_SERIALIZATION_NVP(values) & boost::serialization::make_nvp("tags", tags);
    ar& boost::serialization::make_array(raw, 2);
  }
  friend bool operator==(const Derived&, const Derived&) = default;
};

/// A bitwise-safe struct (no bool or enum members).
struct Vec3 {
  float x, y, z;
  std::int32_t id;
  friend bool operator==(const Vec3&, const Vec3&) = default;
};

/// A class-versioned type: fields added in version 1 are written when the version says so.
struct Versioned {
  int a = 0;
  int b = 0;
  template <class A>
  void serialize(A& ar, unsigned version) {
    ar& a;
    if (version >= 1) ar& b;
  }
  friend bool operator==(const Versioned&, const Versioned&) = default;
};

/// A recursive type: hostile input could nest it arbitrarily deep.
struct Tree {
  int value = 0;
  std::vector<Tree> kids;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& value& kids;
  }
  friend bool operator==(const Tree&, const Tree&) = default;
};

enum class Mode : std::uint16_t { off = 0, on = 1, auto_ = 7 };
enum Plain { kRed, kGreen, kBlue };

/// Everything at once.
struct Everything {
  Point p;
  Color c;
  Version v;
  std::map<std::string, std::vector<std::optional<std::pair<int, std::string>>>> index;
  std::variant<std::monostate, int, std::string, std::vector<Point>> var;
  std::tuple<Mode, std::chrono::milliseconds> misc;  // no Plain: see archive.hpp limitations
  std::unordered_map<int, std::set<std::string>> groups;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& p& c& v& index& var& misc& groups;
  }
  friend bool operator==(const Everything&, const Everything&) = default;
};

}  // namespace app

CADRE_BITWISE(app::Vec3);
BOOST_SERIALIZATION_SPLIT_FREE(app::Version)
BOOST_CLASS_VERSION(app::Versioned, 1)

namespace archive_testing {

using cadre::DecodeError;
using cadre::detail::ByteBuffer;
using cadre::detail::decode_as;
using cadre::detail::encode;
using cadre::detail::InArchive;
using cadre::detail::OutArchive;
using ::testing::HasSubstr;

template <class T>
std::vector<char> bytes_of(const T& v) {
  ByteBuffer b;
  encode(b, v);
  return b.to_vector();
}

template <class T>
T round_trip(const T& v) {
  auto bytes = bytes_of(v);
  return decode_as<T>(bytes.data(), bytes.size());
}

template <class T>
void expect_round_trip(const T& v) {
  EXPECT_EQ(round_trip(v), v) << cadre::detail::type_name<T>();
}

template <class T>
std::string decode_error(const std::vector<char>& bytes) {
  try {
    (void)decode_as<T>(bytes.data(), bytes.size());
  } catch (const DecodeError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DecodeError decoding " << cadre::detail::type_name<T>() << " from "
                << bytes.size() << " bytes";
  return {};
}

inline std::vector<char> le32(std::uint32_t v) {
  std::vector<char> b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

inline std::vector<char> cat(std::initializer_list<std::vector<char>> parts) {
  std::vector<char> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace archive_testing
