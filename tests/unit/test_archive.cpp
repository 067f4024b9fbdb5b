/// \file test_archive.cpp
/// Unit tests of cadre's bounded binary archives (include/cadre/detail/archive.hpp): the byte
/// buffer, borrowed blocks, exact encodings and round trips of every supported kind of type.
/// Malformed input is in test_archive_malformed.cpp.

#include "archive_testing.hpp"

namespace archive_testing {
namespace {

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

}  // namespace
}  // namespace archive_testing
