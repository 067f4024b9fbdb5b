// Function names from ELF symbol tables: this test binary's own static function, and images
// that are truncated, corrupt, stripped, 32-bit or not ELF at all (nothing found, no crash).

#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "wire/symbol_name.hpp"

// A static function has no dynamic symbol in any build: only .symtab names it.
static int symbol_test_static(int x) { return x * 7919 + 13; }

using namespace cadre::detail;

namespace {

using Image = std::vector<std::byte>;

Image read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Image image(chars.size());
  std::memcpy(image.data(), chars.data(), chars.size());
  return image;
}

void write_file(const std::string& path, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

/// The link-time address of `fn` in this executable (its run-time address minus the bias).
std::uint64_t link_time_address(const void* fn) {
  Dl_info info{};
  link_map* map = nullptr;
  EXPECT_NE(dladdr1(fn, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP), 0);
  return reinterpret_cast<std::uintptr_t>(fn) - (map ? map->l_addr : 0);
}

const void* static_fn() { return reinterpret_cast<const void*>(&symbol_test_static); }

Elf64_Ehdr header_of(const Image& image) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  return eh;
}

/// The offset in `image` of the header of its first section of type `type`.
std::size_t section_header_offset(const Image& image, std::uint32_t type) {
  Elf64_Ehdr eh = header_of(image);
  for (std::size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr s;
    const std::size_t at = eh.e_shoff + i * sizeof(Elf64_Shdr);
    std::memcpy(&s, image.data() + at, sizeof s);
    if (s.sh_type == type) return at;
  }
  ADD_FAILURE() << "no section of type " << type;
  return 0;
}

class SymbolName : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { self_ = new Image(read_file("/proc/self/exe")); }
  static void TearDownTestSuite() { delete self_; }
  static const Image& self() { return *self_; }
  static Image* self_;
};
Image* SymbolName::self_ = nullptr;

}  // namespace

TEST_F(SymbolName, NamesAStaticFunctionOfThisExecutable) {
  const std::uint64_t at = link_time_address(static_fn());
  ElfFunction f = elf_function_in(self(), at);
  EXPECT_EQ(f.lookup, SymbolLookup::found);
  EXPECT_EQ(f.name, "symbol_test_static(int)");
  EXPECT_EQ(elf_function_in(self(), at + 1).name, "symbol_test_static(int)") << "inside it";
  EXPECT_EQ(elf_function_at("/proc/self/exe", at).name, "symbol_test_static(int)");
  EXPECT_EQ(elf_function_in(self(), ~std::uint64_t(0) - 16).lookup, SymbolLookup::not_found);

  const std::string described = describe_function(static_fn());
  EXPECT_EQ(described.find("symbol_test_static(int) (0x"), 0u) << described;
}

TEST_F(SymbolName, TruncatedImagesGiveNothing) {
  const std::uint64_t at = link_time_address(static_fn());
  const Elf64_Ehdr eh = header_of(self());
  const std::size_t table_end = eh.e_shoff + eh.e_shnum * sizeof(Elf64_Shdr);
  for (std::size_t size : {std::size_t(0), std::size_t(4), sizeof(Elf64_Ehdr) - 1,
                           sizeof(Elf64_Ehdr), std::size_t(eh.e_shoff), table_end - 1}) {
    ElfFunction f = elf_function_in(std::span(self().data(), size), at);
    EXPECT_EQ(f.lookup, SymbolLookup::unreadable) << "cut at " << size;
    EXPECT_EQ(f.name, "") << "cut at " << size;
  }
  const std::string path = ::testing::TempDir() + "cadre_symbol_truncated";
  write_file(path, self().data(), table_end - 1);
  EXPECT_EQ(elf_function_at(path, at).lookup, SymbolLookup::unreadable);
  write_file(path, self().data(), 0);
  EXPECT_EQ(elf_function_at(path, at).lookup, SymbolLookup::unreadable) << "an empty file";
}

TEST_F(SymbolName, NonElfAndMissingFilesGiveNothing) {
  const std::string path = ::testing::TempDir() + "cadre_symbol_text";
  const std::string text(4096, 'x');
  write_file(path, text.data(), text.size());
  ElfFunction f = elf_function_at(path, 0x1000);
  EXPECT_EQ(f.lookup, SymbolLookup::unreadable);
  EXPECT_EQ(f.name, "");
  EXPECT_EQ(elf_function_at(path + ".missing", 0x1000).lookup, SymbolLookup::unreadable);
  EXPECT_EQ(elf_function_at(::testing::TempDir(), 0x1000).lookup, SymbolLookup::unreadable)
      << "a directory";
}

TEST_F(SymbolName, ThirtyTwoBitAndForeignByteOrderGiveNothing) {
  const std::uint64_t at = link_time_address(static_fn());
  Image copy = self();
  copy[EI_CLASS] = std::byte{ELFCLASS32};
  EXPECT_EQ(elf_function_in(copy, at).lookup, SymbolLookup::unreadable);
  copy = self();
  copy[EI_DATA] = std::byte{ELFDATA2MSB};
  EXPECT_EQ(elf_function_in(copy, at).lookup, SymbolLookup::unreadable);
}

TEST_F(SymbolName, AStrippedImageSaysSo) {
  const std::uint64_t at = link_time_address(static_fn());
  Image copy = self();
  Elf64_Shdr symtab;
  const std::size_t where = section_header_offset(copy, SHT_SYMTAB);
  std::memcpy(&symtab, copy.data() + where, sizeof symtab);
  symtab.sh_type = SHT_PROGBITS;  // as if strip had removed .symtab
  std::memcpy(copy.data() + where, &symtab, sizeof symtab);
  ElfFunction f = elf_function_in(copy, at);
  EXPECT_EQ(f.lookup, SymbolLookup::no_symbol_table);
  EXPECT_EQ(f.name, "");
}

TEST_F(SymbolName, TablesPointingOutsideTheImageGiveNothing) {
  const std::uint64_t at = link_time_address(static_fn());
  const std::size_t where = section_header_offset(self(), SHT_SYMTAB);
  auto with = [&](auto change) {
    Image copy = self();
    Elf64_Shdr s;
    std::memcpy(&s, copy.data() + where, sizeof s);
    change(s);
    std::memcpy(copy.data() + where, &s, sizeof s);
    return elf_function_in(copy, at).lookup;
  };
  EXPECT_EQ(with([](Elf64_Shdr& s) { s.sh_size = ~std::uint64_t(0); }), SymbolLookup::unreadable);
  EXPECT_EQ(with([](Elf64_Shdr& s) { s.sh_offset = ~std::uint64_t(0) - 8; }),
            SymbolLookup::unreadable);
  EXPECT_EQ(with([](Elf64_Shdr& s) { s.sh_link = 0xffff; }), SymbolLookup::unreadable);
  EXPECT_EQ(with([](Elf64_Shdr& s) { s.sh_entsize = 1; }), SymbolLookup::unreadable);
  Image copy = self();
  Elf64_Ehdr eh = header_of(copy);
  eh.e_shoff = ~std::uint64_t(0) - 100;
  std::memcpy(copy.data(), &eh, sizeof eh);
  EXPECT_EQ(elf_function_in(copy, at).lookup, SymbolLookup::unreadable);
}

TEST_F(SymbolName, CorruptHeadersNeverCrash) {
  // Every byte of the ELF header and of the symbol and string tables' section headers, set to
  // values that make offsets and counts wild: any result but a fault (ASan checks the reads).
  const std::uint64_t at = link_time_address(static_fn());
  Image copy = self();
  const std::size_t symtab = section_header_offset(copy, SHT_SYMTAB);
  Elf64_Shdr s;
  std::memcpy(&s, copy.data() + symtab, sizeof s);
  const std::size_t strtab = header_of(copy).e_shoff + s.sh_link * sizeof(Elf64_Shdr);
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < sizeof(Elf64_Ehdr); ++i) offsets.push_back(i);
  for (std::size_t i = 0; i < sizeof(Elf64_Shdr); ++i) offsets.push_back(symtab + i);
  for (std::size_t i = 0; i < sizeof(Elf64_Shdr); ++i) offsets.push_back(strtab + i);
  int found = 0;
  for (std::size_t i : offsets) {
    const std::byte saved = copy[i];
    for (unsigned v : {0x00u, 0x01u, 0x7fu, 0x80u, 0xffu}) {
      copy[i] = std::byte(v);
      ElfFunction f = elf_function_in(copy, at);
      if (f.lookup == SymbolLookup::found) ++found;
    }
    copy[i] = saved;
  }
  EXPECT_GT(found, 0) << "harmless bytes (padding, flags) still find the function";
  EXPECT_EQ(elf_function_in(copy, at).name, "symbol_test_static(int)") << "restored";
}
