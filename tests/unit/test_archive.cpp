/// \file test_archive.cpp
/// Unit tests of cadre's bounded binary archives (include/cadre/detail/archive.hpp).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/serialization/base_object.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>

#include "cadre/detail/archive.hpp"
#include "cadre/ids.hpp"

// ---- allocation watch: the largest single allocation made while armed ------------------------

namespace {
std::atomic<bool> g_watch{false};
std::atomic<std::size_t> g_largest{0};

void note_allocation(std::size_t n) {
  if (!g_watch.load(std::memory_order_relaxed)) return;
  std::size_t cur = g_largest.load(std::memory_order_relaxed);
  while (n > cur && !g_largest.compare_exchange_weak(cur, n)) {
  }
}
}  // namespace

// GCC cannot tell that these replacements pair malloc with free consistently.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  note_allocation(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

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

namespace {

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

std::vector<char> le32(std::uint32_t v) {
  std::vector<char> b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

std::vector<char> cat(std::initializer_list<std::vector<char>> parts) {
  std::vector<char> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- ByteBuffer -------------------------------------------------------------------------------

TEST(ByteBuffer, GrowAppendResizeMove) {
  ByteBuffer b;
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.capacity(), 0u);
  char* p = b.grow(3);
  std::memcpy(p, "abc", 3);
  b.append("de", 2);
  EXPECT_EQ(std::string(b.data(), b.size()), "abcde");
  std::size_t cap = b.capacity();
  EXPECT_GE(cap, 5u);
  for (int i = 0; i < 1000; ++i) b.append("x", 1);
  EXPECT_EQ(b.size(), 1005u);
  EXPECT_GE(b.capacity(), 1005u);
  EXPECT_LT(b.capacity(), 4 * 1005u);  // geometric, not wildly over
  b.resize(2);
  EXPECT_EQ(std::string(b.data(), b.size()), "ab");
  b.resize(10);
  EXPECT_EQ(b.size(), 10u);
  ByteBuffer c(std::move(b));
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(c.size(), 10u);
  ByteBuffer d;
  d = std::move(c);
  EXPECT_EQ(d.size(), 10u);
  EXPECT_EQ(std::string(d.data(), 2), "ab");
  auto v = d.to_vector();
  EXPECT_EQ(v.size(), 10u);
  d.clear();
  EXPECT_EQ(d.size(), 0u);
  EXPECT_GE(d.capacity(), 10u);
  d.reserve(100000);
  EXPECT_GE(d.capacity(), 100000u);
  d.append(nullptr, 0);
  EXPECT_EQ(d.size(), 0u);
  d.shrink_to_fit();
  EXPECT_EQ(d.capacity(), 0u);
  static_assert(!std::is_copy_constructible_v<ByteBuffer>);
  static_assert(std::is_nothrow_move_constructible_v<ByteBuffer>);
}

TEST(ByteBuffer, ReleaseGivesUpTheStorage) {
  ByteBuffer b;
  b.append("abc", 3);
  const char* at = b.data();
  char* storage = b.release();
  EXPECT_EQ(storage, at);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(std::string(storage, 3), "abc");
  std::free(storage);
  b.append("d", 1);  // usable again
  EXPECT_EQ(std::string(b.data(), b.size()), "d");
}

// ---- borrowing ----------------------------------------------------------------------------------

TEST(ArchiveBorrowing, LargeBlocksAreRecordedInPlaceAndSmallOnesCopied) {
  std::vector<char> big(cadre::detail::kBorrowBytes, 'b');
  std::vector<char> small(cadre::detail::kBorrowBytes - 1, 's');
  std::string text(3 * cadre::detail::kBorrowBytes, 't');
  ByteBuffer head;
  std::vector<cadre::detail::BorrowedBytes> borrowed;
  OutArchive ar(head, borrowed);
  ar << big << small << std::uint16_t{7} << text;
  // Copied: three counts, the small block, the u16; borrowed: the two large blocks, in order.
  ASSERT_EQ(borrowed.size(), 2u);
  EXPECT_EQ(borrowed[0].at, 4u);
  EXPECT_EQ(borrowed[0].data, big.data());
  EXPECT_EQ(borrowed[0].size, big.size());
  EXPECT_EQ(borrowed[1].at, 4u + 4u + small.size() + 2u + 4u);
  EXPECT_EQ(borrowed[1].data, text.data());
  EXPECT_EQ(head.size(), 4u + 4u + small.size() + 2u + 4u);
  // Put together, they are exactly what a copying archive writes.
  const ByteBuffer whole = cadre::detail::join_borrowed(head, borrowed);
  ByteBuffer copied;
  OutArchive plain(copied);
  plain << big << small << std::uint16_t{7} << text;
  EXPECT_EQ(std::string(whole.data(), whole.size()), std::string(copied.data(), copied.size()));
}

// ---- encodings ----------------------------------------------------------------------------------

TEST(Archive, ExactEncodings) {
  EXPECT_EQ(bytes_of(std::int32_t{1}), (std::vector<char>{1, 0, 0, 0}));
  EXPECT_EQ(bytes_of(true), (std::vector<char>{1}));
  EXPECT_EQ(bytes_of(std::string("ab")), (std::vector<char>{2, 0, 0, 0, 'a', 'b'}));
  EXPECT_EQ(bytes_of(std::vector<std::uint16_t>{1, 2}),
            (std::vector<char>{2, 0, 0, 0, 1, 0, 2, 0}));
  EXPECT_EQ(bytes_of(std::vector<bool>{true, false, true}),
            (std::vector<char>{3, 0, 0, 0, 1, 0, 1}));
  EXPECT_EQ(bytes_of(std::optional<std::uint8_t>{}), (std::vector<char>{0}));
  EXPECT_EQ(bytes_of(std::optional<std::uint8_t>{9}), (std::vector<char>{1, 9}));
  EXPECT_EQ(bytes_of(std::variant<std::uint8_t, std::string>{std::uint8_t{5}}),
            (std::vector<char>{0, 5}));
  EXPECT_EQ(bytes_of(std::monostate{}), (std::vector<char>{}));
  EXPECT_EQ(bytes_of(app::Mode::auto_), (std::vector<char>{7, 0}));
  EXPECT_EQ(bytes_of(std::array<std::uint8_t, 3>{1, 2, 3}), (std::vector<char>{1, 2, 3}));
  EXPECT_EQ(bytes_of(std::pair<std::uint8_t, bool>{4, false}), (std::vector<char>{4, 0}));
  EXPECT_EQ(bytes_of(app::Vec3{1, 2, 3, 4}).size(), sizeof(app::Vec3));
  EXPECT_EQ(bytes_of(cadre::Pid{cadre::NodeId(1), 2}).size(), 12u);

  ByteBuffer b;
  b.append("zz", 2);
  OutArchive ar(b);
  ar << 1 << std::string("x");
  EXPECT_EQ(ar.bytes_written(), 9u);
  EXPECT_EQ(b.size(), 11u);
  ar.write_bytes("q", 1);
  EXPECT_EQ(ar.bytes_written(), 10u);
}

TEST(Archive, MinWireSize) {
  using cadre::detail::min_wire_size;
  static_assert(min_wire_size<int>() == 4);
  static_assert(min_wire_size<bool>() == 1);
  static_assert(min_wire_size<std::string>() == 4);
  static_assert(min_wire_size<std::vector<double>>() == 4);
  static_assert(min_wire_size<std::optional<double>>() == 1);
  static_assert(min_wire_size<std::variant<int, double>>() == 1);
  static_assert(min_wire_size<std::pair<int, double>>() == 12);
  static_assert(min_wire_size<std::tuple<int, char, std::string>>() == 9);
  static_assert(min_wire_size<std::array<int, 5>>() == 20);
  static_assert(min_wire_size<app::Point>() == 0);
  static_assert(min_wire_size<app::Vec3>() == sizeof(app::Vec3));
  static_assert(min_wire_size<app::Mode>() == 2);
  static_assert(min_wire_size<std::chrono::milliseconds>() == 8);
  static_assert(min_wire_size<std::monostate>() == 0);
}

// ---- round trips -----------------------------------------------------------------------------

template <class T>
void round_trip_limits() {
  expect_round_trip(T{});
  expect_round_trip(std::numeric_limits<T>::min());
  expect_round_trip(std::numeric_limits<T>::max());
  expect_round_trip(std::numeric_limits<T>::lowest());
}

TEST(Archive, RoundTripArithmetic) {
  round_trip_limits<bool>();
  round_trip_limits<char>();
  round_trip_limits<signed char>();
  round_trip_limits<unsigned char>();
  round_trip_limits<short>();
  round_trip_limits<unsigned short>();
  round_trip_limits<int>();
  round_trip_limits<unsigned>();
  round_trip_limits<long>();
  round_trip_limits<unsigned long>();
  round_trip_limits<long long>();
  round_trip_limits<unsigned long long>();
  round_trip_limits<std::int8_t>();
  round_trip_limits<std::uint64_t>();
  round_trip_limits<char16_t>();
  round_trip_limits<char32_t>();
  round_trip_limits<wchar_t>();
  round_trip_limits<float>();
  round_trip_limits<double>();
  expect_round_trip(-0.0);
  expect_round_trip(std::numeric_limits<double>::infinity());
  expect_round_trip(std::numeric_limits<double>::denorm_min());
  double nan = round_trip(std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(std::isnan(nan));
  expect_round_trip(std::byte{0xAB});
}

TEST(Archive, RoundTripEnumsAndDurations) {
  expect_round_trip(app::Mode::auto_);
  expect_round_trip(app::kBlue);
  expect_round_trip(std::chrono::milliseconds(-1234));
  expect_round_trip(std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max()));
  expect_round_trip(std::chrono::duration<double>(2.5));
}

TEST(Archive, RoundTripStrings) {
  expect_round_trip(std::string());
  expect_round_trip(std::string("hello"));
  expect_round_trip(std::string("with\0nul\0bytes", 14));
  expect_round_trip(std::string(100000, 'x'));
  expect_round_trip(std::u16string(u"wide \u00e9"));
  expect_round_trip(std::u32string(U"\U0001F600"));
  expect_round_trip(std::wstring(L"wstring"));
}

TEST(Archive, RoundTripSequences) {
  expect_round_trip(std::vector<int>{});
  expect_round_trip(std::vector<int>{1, -2, 3});
  expect_round_trip(std::vector<double>(1000, 1.5));
  expect_round_trip(std::vector<bool>{});
  expect_round_trip(std::vector<bool>{true, false, false, true, true});
  expect_round_trip(std::vector<std::string>{"a", "", "ccc"});
  expect_round_trip(std::vector<std::vector<int>>{{}, {1}, {2, 3}});
  expect_round_trip(std::vector<std::byte>{std::byte{1}, std::byte{255}});
  expect_round_trip(std::vector<app::Mode>{app::Mode::on, app::Mode::off});
  expect_round_trip(std::deque<std::string>{"x", "y"});
  expect_round_trip(std::list<int>{3, 2, 1});
  expect_round_trip(std::array<int, 3>{7, 8, 9});
  expect_round_trip(std::array<std::string, 2>{"p", "q"});
  expect_round_trip(std::array<int, 0>{});
  expect_round_trip(std::array<std::array<bool, 2>, 2>{{{true, false}, {false, true}}});
}

TEST(Archive, RoundTripAssociative) {
  expect_round_trip(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  expect_round_trip(std::multimap<int, std::string>{{1, "x"}, {1, "y"}, {0, "z"}});
  expect_round_trip(std::set<std::string>{"q", "r"});
  expect_round_trip(std::multiset<int>{1, 1, 2});
  expect_round_trip(std::unordered_map<int, std::vector<int>>{{1, {1}}, {2, {}}, {3, {3, 3}}});
  expect_round_trip(std::unordered_set<std::string>{"u", "v", "w"});
  expect_round_trip(std::unordered_multimap<int, int>{{1, 1}, {1, 2}});
  expect_round_trip(std::unordered_multiset<int>{5, 5});
  expect_round_trip(std::map<int, int>{});
  std::map<std::vector<int>, std::map<std::string, std::set<int>>> nested{
      {{1, 2}, {{"a", {1, 2, 3}}, {"b", {}}}}, {{}, {}}};
  expect_round_trip(nested);
}

TEST(Archive, RoundTripProductsAndSums) {
  expect_round_trip(std::pair<int, std::string>{4, "four"});
  expect_round_trip(std::tuple<>{});
  expect_round_trip(std::tuple<int, std::string, std::vector<double>>{1, "s", {1.0, 2.0}});
  expect_round_trip(std::optional<int>{});
  expect_round_trip(std::optional<int>{0});
  expect_round_trip(std::optional<std::vector<std::string>>{{"a", "b"}});
  expect_round_trip(std::optional<std::optional<int>>{std::optional<int>{}});
  using V = std::variant<std::monostate, int, std::string, std::vector<std::string>>;
  expect_round_trip(V{});
  expect_round_trip(V{42});
  expect_round_trip(V{std::string("s")});
  expect_round_trip(V{std::vector<std::string>{"x", "y"}});
  expect_round_trip(std::variant<int, int>{std::in_place_index<1>, 3});
  expect_round_trip(std::monostate{});
  expect_round_trip(
      std::optional<std::variant<int, std::string, std::vector<std::string>>>{std::string("z")});
}

template <int I>
struct Tag {
  template <class A>
  void serialize(A&, unsigned) {}
};
template <std::size_t... I>
auto big_variant(std::index_sequence<I...>) -> std::variant<Tag<static_cast<int>(I)>...>;

// Encoding a 256-alternative variant takes a minute to compile with -g (type names grow with
// the alternatives), so only the choice of index width is checked here.
static_assert(
    sizeof(
        cadre::detail::variant_index_t<decltype(big_variant(std::make_index_sequence<255>{}))>) ==
    1);
static_assert(
    sizeof(
        cadre::detail::variant_index_t<decltype(big_variant(std::make_index_sequence<256>{}))>) ==
    4);

TEST(Archive, RoundTripUserTypes) {
  expect_round_trip(app::Point{3, 4.5, "p"});
  expect_round_trip(app::Color{1, 2, 3});
  app::Temperature t = round_trip(app::Temperature(100));
  EXPECT_EQ(t.celsius(), 100);
  EXPECT_EQ(t.fahrenheit(), 212);
  EXPECT_EQ(bytes_of(app::Temperature(1)).size(), sizeof(double));
  expect_round_trip(app::Version{3, 14});
  EXPECT_EQ(bytes_of(app::Version{3, 14}).size(), sizeof(int));
  app::Derived d;
  d.name = "base part";
  d.values[0] = 1;
  d.values[2] = 3;
  d.tags = {"t1", "t2"};
  d.raw[0] = 7;
  d.raw[1] = 9;
  expect_round_trip(d);
  expect_round_trip(app::Vec3{1.5f, -2, 3, 77});
  expect_round_trip(std::vector<app::Vec3>{{1, 2, 3, 4}, {5, 6, 7, 8}});
  expect_round_trip(app::Versioned{1, 2});
  EXPECT_EQ(bytes_of(app::Versioned{1, 2}).size(), 8u);
  expect_round_trip(cadre::Pid{cadre::NodeId(5), 123456789});
  expect_round_trip(cadre::Pid{});
  expect_round_trip(cadre::NodeId(9));
  app::Tree tree{1, {{2, {}}, {3, {{4, {}}}}}};
  expect_round_trip(tree);
}

TEST(Archive, RoundTripEverythingNested) {
  app::Everything e;
  e.p = {1, 2, "three"};
  e.c = {4, 5, 6};
  e.v = {7, 8};
  e.index["k"] = {std::nullopt, std::pair<int, std::string>{9, "nine"}};
  e.index["empty"] = {};
  e.var = std::vector<app::Point>{{1, 1, "a"}, {2, 2, "b"}};
  e.misc = {app::Mode::on, std::chrono::milliseconds(99)};
  e.groups[1] = {"x", "y"};
  e.groups[-5] = {};
  expect_round_trip(e);
  // Every strict prefix of this deep encoding is refused.
  auto bytes = bytes_of(e);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW((void)decode_as<app::Everything>(bytes.data(), n), DecodeError) << "n=" << n;
  }
}

TEST(Archive, SeveralValuesInOneBuffer) {
  ByteBuffer b;
  encode(b, 1, std::string("two"), std::vector<int>{3}, app::Point{4, 4, "4"});
  InArchive ar(b.data(), b.size());
  int one = 0;
  std::string two;
  std::vector<int> three;
  app::Point four;
  ar >> one >> two;
  ar& three& four;
  ar.expect_end();
  EXPECT_EQ(one, 1);
  EXPECT_EQ(two, "two");
  EXPECT_EQ(three, std::vector<int>{3});
  EXPECT_EQ(four, (app::Point{4, 4, "4"}));
  EXPECT_EQ(ar.remaining(), 0u);
  EXPECT_EQ(ar.consumed(), b.size());
}

TEST(Archive, DecodingReplacesContents) {
  auto bytes = bytes_of(std::vector<int>{1, 2});
  std::vector<int> v{9, 9, 9, 9};
  cadre::detail::decode_into(v, bytes.data(), bytes.size());
  EXPECT_EQ(v, (std::vector<int>{1, 2}));
  auto mbytes = bytes_of(std::map<int, int>{{1, 1}});
  std::map<int, int> m{{5, 5}};
  cadre::detail::decode_into(m, mbytes.data(), mbytes.size());
  EXPECT_EQ(m, (std::map<int, int>{{1, 1}}));
  auto obytes = bytes_of(std::optional<int>{});
  std::optional<int> o = 3;
  cadre::detail::decode_into(o, obytes.data(), obytes.size());
  EXPECT_FALSE(o.has_value());
}

// ---- malformed input ----------------------------------------------------------------------------

template <class T>
void expect_every_truncation_throws(const T& v) {
  auto bytes = bytes_of(v);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW((void)decode_as<T>(cut.data(), cut.size()), DecodeError)
        << cadre::detail::type_name<T>() << " cut to " << n << " of " << bytes.size();
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_THAT(decode_error<T>(longer), HasSubstr("1 trailing bytes"));
}

TEST(ArchiveMalformed, TruncatedAtEveryByte) {
  expect_every_truncation_throws(std::int64_t{-1});
  expect_every_truncation_throws(true);
  expect_every_truncation_throws(std::string("truncate me"));
  expect_every_truncation_throws(std::vector<int>{1, 2, 3});
  expect_every_truncation_throws(std::vector<bool>{true, false});
  expect_every_truncation_throws(std::vector<std::string>{"a", "bc"});
  expect_every_truncation_throws(std::array<std::uint16_t, 3>{1, 2, 3});
  expect_every_truncation_throws(std::map<std::string, std::vector<int>>{{"k", {1, 2}}});
  expect_every_truncation_throws(std::unordered_set<int>{1, 2, 3});
  expect_every_truncation_throws(std::tuple<int, std::string, std::vector<double>>{1, "s", {2}});
  expect_every_truncation_throws(std::optional<std::string>{"opt"});
  expect_every_truncation_throws(std::variant<int, std::string>{std::string("var")});
  expect_every_truncation_throws(app::Point{1, 2, "pt"});
  expect_every_truncation_throws(app::Derived{});
  expect_every_truncation_throws(app::Vec3{1, 2, 3, 4});
  expect_every_truncation_throws(std::chrono::seconds(5));
  expect_every_truncation_throws(app::Mode::on);
  expect_every_truncation_throws(cadre::Pid{cadre::NodeId(1), 2});
}

TEST(ArchiveMalformed, HugeCountsAndLengths) {
  const std::uint32_t big = 0xFFFFFFFFu;
  EXPECT_THAT(decode_error<std::vector<int>>(cat({le32(1u << 27), std::vector<char>(12)})),
              HasSubstr("std::vector<int>: count 134217728 needs 536870912 bytes, 12 left"));
  EXPECT_THAT(decode_error<std::string>(cat({le32(big), std::vector<char>(3, 'a')})),
              HasSubstr("std::string: count 4294967295 needs 4294967295 bytes, 3 left"));
  EXPECT_THAT(decode_error<std::vector<std::string>>(cat({le32(3), std::vector<char>(8)})),
              HasSubstr("count 3 needs 12 bytes, 8 left"));
  EXPECT_THAT(decode_error<std::vector<bool>>(le32(big)), HasSubstr("count 4294967295"));
  EXPECT_THAT((decode_error<std::map<int, double>>(cat({le32(2), std::vector<char>(23)}))),
              HasSubstr("std::map<int, double>: count 2 needs 24 bytes, 23 left"));
  EXPECT_THAT(decode_error<std::set<std::string>>(le32(big)), HasSubstr("std::set"));
  EXPECT_THAT((decode_error<std::unordered_map<int, int>>(le32(big))),
              HasSubstr("std::unordered_map<int, int>: count"));
  EXPECT_THAT(decode_error<std::unordered_set<std::string>>(le32(big)), HasSubstr("count"));
  EXPECT_THAT(decode_error<std::deque<int>>(le32(big)), HasSubstr("std::deque<int>"));
  EXPECT_THAT(decode_error<std::list<app::Point>>(le32(big)), HasSubstr("count 4294967295"));
  EXPECT_THAT(decode_error<std::vector<app::Vec3>>(cat({le32(2), std::vector<char>(16)})),
              HasSubstr("count 2 needs 32 bytes, 16 left"));
  // A count nested inside a valid outer structure.
  EXPECT_THAT(decode_error<std::vector<std::vector<int>>>(cat({le32(1), le32(big)})),
              HasSubstr("std::vector<int>: count 4294967295"));
  EXPECT_THAT(decode_error<std::u16string>(cat({le32(3), std::vector<char>(5)})),
              HasSubstr("count 3 needs 6 bytes, 5 left"));
}

TEST(ArchiveMalformed, BadFlagsAndIndices) {
  EXPECT_THAT(decode_error<bool>({2}), HasSubstr("bool: byte value 2 is not 0 or 1"));
  EXPECT_THAT(decode_error<bool>({char(0xFF)}), HasSubstr("255"));
  EXPECT_THAT(decode_error<std::vector<bool>>(cat({le32(2), {1, 3}})),
              HasSubstr("std::vector<bool>: element byte value 3"));
  EXPECT_THAT(decode_error<std::optional<int>>({2, 0, 0, 0, 0}),
              HasSubstr("std::optional<int>: presence byte 2 is not 0 or 1"));
  using V = std::variant<int, std::string>;
  EXPECT_THAT(decode_error<V>({2, 0, 0, 0, 0}),
              HasSubstr("std::variant<int, std::string>: alternative index 2 out of range"));
  EXPECT_THAT(decode_error<V>({char(255)}), HasSubstr("index 255"));
  EXPECT_THAT((decode_error<std::tuple<bool, bool>>({1, 5})), HasSubstr("byte value 5"));
  EXPECT_THROW((void)(decode_as<std::pair<int, bool>>("\1\0\0\0\2", 5)), DecodeError);
}

TEST(ArchiveMalformed, DuplicateKeys) {
  auto two_ones = cat({le32(2), le32(1), le32(10), le32(1), le32(11)});
  EXPECT_THAT((decode_error<std::map<int, int>>(two_ones)),
              HasSubstr("std::map<int, int>: element 1 repeats a key"));
  EXPECT_THROW((void)(decode_as<std::unordered_map<int, int>>(two_ones.data(), two_ones.size())),
               DecodeError);
  auto multi = decode_as<std::multimap<int, int>>(two_ones.data(), two_ones.size());
  EXPECT_EQ(multi.size(), 2u);
  auto set_dup = cat({le32(2), le32(7), le32(7)});
  EXPECT_THAT(decode_error<std::set<int>>(set_dup), HasSubstr("repeats a key"));
  EXPECT_THROW((void)decode_as<std::unordered_set<int>>(set_dup.data(), set_dup.size()),
               DecodeError);
  EXPECT_EQ((decode_as<std::multiset<int>>(set_dup.data(), set_dup.size()).size()), 2u);
}

TEST(ArchiveMalformed, TrailingBytes) {
  auto bytes = cat({le32(5), {0}});
  EXPECT_THAT(decode_error<int>(bytes), HasSubstr("1 trailing bytes after the value"));
  InArchive ar(bytes.data(), bytes.size());
  EXPECT_EQ(ar.read<int>(), 5);
  EXPECT_THROW(ar.expect_end(), DecodeError);
  std::uint8_t last = 1;
  ar >> last;
  EXPECT_EQ(last, 0);
  EXPECT_NO_THROW(ar.expect_end());
}

TEST(ArchiveMalformed, ReadsPastEndThrowWithContext) {
  InArchive ar("\1\2", 2);
  char out[4];
  EXPECT_THAT(
      [&] {
        try {
          ar.read_bytes(out, 4);
        } catch (const DecodeError& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      HasSubstr("needs 4 bytes, 2 left"));
  EXPECT_THAT(decode_error<double>({1, 2, 3}), HasSubstr("double: needs 8 bytes, 3 left"));
  EXPECT_THAT(decode_error<std::vector<int>>({1, 0}),
              HasSubstr("std::vector<int>: count needs 4 bytes, 2 left"));
  EXPECT_THAT(decode_error<app::Point>(le32(1)), HasSubstr("double: needs 8 bytes, 0 left"));
}

TEST(ArchiveMalformed, ClaimedHugeVectorThrowsFastWithoutAllocating) {
  // 20 bytes that claim a vector of 2^27 ints.
  auto bytes = cat({le32(1u << 27), std::vector<char>(16, 1)});
  ASSERT_EQ(bytes.size(), 20u);
  g_largest = 0;
  g_watch = true;
  auto t0 = std::chrono::steady_clock::now();
  bool threw = false;
  try {
    (void)decode_as<std::vector<int>>(bytes.data(), bytes.size());
  } catch (const DecodeError&) {
    threw = true;
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  g_watch = false;
  EXPECT_TRUE(threw);
  EXPECT_LT(elapsed, std::chrono::milliseconds(100));
  EXPECT_LT(g_largest.load(), 4096u) << "largest allocation while decoding";
  // Same for nested and associative containers: nothing sized from the claimed count.
  g_largest = 0;
  g_watch = true;
  EXPECT_THROW((void)(decode_as<std::vector<std::vector<std::string>>>(bytes.data(), 20)),
               DecodeError);
  EXPECT_THROW((void)(decode_as<std::unordered_map<std::string, int>>(bytes.data(), 20)),
               DecodeError);
  EXPECT_THROW((void)(decode_as<std::string>(bytes.data(), 20)), DecodeError);
  g_watch = false;
  EXPECT_LT(g_largest.load(), 4096u);
}

TEST(ArchiveMalformed, ReserveIsBoundedByInputSize) {
  // A count that fits the bytes left (4 bytes per string) but strings are 32 bytes in memory:
  // the decoder must not reserve count * sizeof(std::string) up front.
  std::vector<char> bytes = le32(50000);
  bytes.resize(4 + 50000 * 4 - 1, 0);  // one byte short: fails on the last element
  g_largest = 0;
  g_watch = true;
  EXPECT_THROW((void)decode_as<std::vector<std::string>>(bytes.data(), bytes.size()), DecodeError);
  g_watch = false;
  EXPECT_LE(g_largest.load(), 2 * bytes.size() + 4096);
}

TEST(ArchiveMalformed, DeepNestingIsRefused) {
  // Encoded Tree nodes: value (4 bytes), kids count = 1, repeated.
  std::vector<char> hostile;
  for (int i = 0; i < 100000; ++i) {
    auto v = le32(static_cast<std::uint32_t>(i));
    hostile.insert(hostile.end(), v.begin(), v.end());
    auto c = le32(1);
    hostile.insert(hostile.end(), c.begin(), c.end());
  }
  EXPECT_THAT(decode_error<app::Tree>(hostile), HasSubstr("nested deeper than 64"));

  app::Tree deep{0, {}};
  app::Tree* cur = &deep;
  for (int i = 1; i < 300; ++i) {
    cur->kids.push_back(app::Tree{i, {}});
    cur = &cur->kids.back();
  }
  auto bytes = bytes_of(deep);
  EXPECT_THROW((void)decode_as<app::Tree>(bytes.data(), bytes.size()), DecodeError);
  InArchive ar(bytes.data(), bytes.size());
  ar.set_max_depth(1000);
  EXPECT_EQ(ar.max_depth(), 1000u);
  app::Tree back;
  ar >> back;
  ar.expect_end();
  EXPECT_EQ(back, deep);
}

TEST(ArchiveMalformed, RandomMutationsOnlyEverThrowDecodeError) {
  app::Everything e;
  e.p = {1, 2, "three"};
  e.index["k"] = {std::nullopt, std::pair<int, std::string>{9, "nine"}};
  e.var = std::string("variant");
  e.groups[1] = {"x", "y"};
  auto bytes = bytes_of(e);
  std::uint64_t state = 12345;
  auto rnd = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  int decoded = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto m = bytes;
    int flips = 1 + static_cast<int>(rnd() % 4);
    for (int f = 0; f < flips; ++f) m[rnd() % m.size()] = static_cast<char>(rnd());
    try {
      (void)decode_as<app::Everything>(m.data(), m.size());
      ++decoded;
    } catch (const DecodeError&) {
      ++rejected;
    }
  }
  EXPECT_EQ(decoded + rejected, 20000);
  EXPECT_GT(rejected, 0);
}

}  // namespace
