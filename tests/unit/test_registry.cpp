// The registry: ids from names and signatures, lookups, and the problems it reports.

#include <gtest/gtest.h>

#include <string>

#include "cadre/detail/registry.hpp"
#include "wire/registry_internal.hpp"

namespace {
int twice(int x) { return 2 * x; }
CADRE_TASK(twice);
std::string label(std::string s, int n) { return s + std::to_string(n); }
CADRE_TASK(label);
struct Note {
  int n;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(Note);
}  // namespace

using namespace cadre::detail;

TEST(Registry, FindsTasksByFunctionAndId) {
  const Entry* e = find_task(reinterpret_cast<const void*>(&twice));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "twice");
  EXPECT_EQ(find_id(e->id), e);
  EXPECT_NE(e->signature.find("int"), std::string::npos);
  EXPECT_EQ(e->id, entry_id("twice", e->signature)) << "ids derive from name and signature";
  EXPECT_NE(entry_id("twice", e->signature), entry_id("twice", e->signature + "x"));
  EXPECT_EQ(find_task(reinterpret_cast<const void*>(&label))->name, "label");
  EXPECT_NE(find_message(typeid(Note)), nullptr);
  EXPECT_EQ(find_message(typeid(int)), nullptr);
}

TEST(Registry, InvokerDecodesCallsAndEncodes) {
  const Entry* e = find_task(reinterpret_cast<const void*>(&label));
  ByteBuffer in, out;
  {
    OutArchive ar(in);
    std::string s = "n=";
    int n = 5;
    ar& s& n;
  }
  InArchive ia(in.data(), in.size());
  OutArchive oa(out);
  bool decoded = false;
  e->invoke(*e, ia, oa, &decoded);
  EXPECT_TRUE(decoded);
  EXPECT_EQ(decode_as<std::string>(out.data(), out.size()), "n=5");
}

TEST(Registry, TruncatedArgumentsAreDecodeErrors) {
  const Entry* e = find_task(reinterpret_cast<const void*>(&label));
  ByteBuffer in, out;
  {
    OutArchive ar(in);
    std::string s = "abc";
    ar& s;  // the int is missing
  }
  InArchive ia(in.data(), in.size());
  OutArchive oa(out);
  bool decoded = false;
  EXPECT_THROW(e->invoke(*e, ia, oa, &decoded), cadre::DecodeError);
  EXPECT_FALSE(decoded);
}

TEST(Registry, DuplicateNamesAreReportedNamingBothPlaces) {
  EXPECT_EQ(registry_errors(), "");
  EXPECT_FALSE(register_task<&twice>("twice", "elsewhere.cpp:1"));
  std::string errs = registry_errors();
  EXPECT_NE(errs.find("'twice' is registered twice"), std::string::npos) << errs;
  EXPECT_NE(errs.find("elsewhere.cpp:1"), std::string::npos) << errs;
  EXPECT_NE(errs.find("test_registry.cpp"), std::string::npos) << errs;
}

TEST(Registry, UnregisteredFunctionsAreNamed) {
  try {
    throw_task_not_registered(reinterpret_cast<const void*>(&twice));
  } catch (const cadre::NotRegistered& e) {
    // Named from the executable's symbol table, though it exports no symbols (no -rdynamic).
    const std::string what = e.what();
    EXPECT_NE(what.find("the function (anonymous namespace)::twice(int) (0x"), std::string::npos)
        << what;
    EXPECT_NE(what.find("is not a registered task; add CADRE_TASK("), std::string::npos) << what;
  }
}

TEST(Registry, MessageTypesAreNamedById) {
  EXPECT_EQ(message_type_name(find_message(typeid(Note))->id), "Note");
  // Standard types this binary never sent nor matched have names too.
  EXPECT_EQ(message_type_name(fnv1a64(type_name(typeid(int)))), "int");
  EXPECT_EQ(message_type_name(fnv1a64(type_name(typeid(std::string)))), "std::string");
  EXPECT_EQ(message_type_name(note_std_message(42, "std::pair<int, int>")), "std::pair<int, int>");
  EXPECT_EQ(message_type_name(0x1234), "an unknown type (id 0x0000000000001234)");
  EXPECT_EQ(with_article("int"), "an int");
  EXPECT_EQ(with_article("std::string"), "a std::string");
  EXPECT_EQ(find_task_named("twice"), find_task(reinterpret_cast<const void*>(&twice)));
  EXPECT_EQ(find_task_named("Note"), nullptr) << "a message is no task";
}
