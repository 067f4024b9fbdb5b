// Function names from ELF symbol tables (see symbol_name.hpp). The image is untrusted bytes:
// every header, table and string is copied out only after its range is checked against the
// image's size, so a truncated or corrupt file reads as `unreadable` instead of faulting.

#include "wire/symbol_name.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace cadre::detail {
namespace {

using Bytes = std::span<const std::byte>;

/// A T copied from image[offset, offset + sizeof(T)), when that range lies inside the image.
template <class T>
std::optional<T> read_at(Bytes image, std::uint64_t offset) {
  if (offset > image.size() || image.size() - offset < sizeof(T)) return std::nullopt;
  T t;
  std::memcpy(&t, image.data() + offset, sizeof(T));
  return t;
}

/// The bytes of section `s`, when they lie inside the image.
std::optional<Bytes> section_bytes(Bytes image, const Elf64_Shdr& s) {
  if (s.sh_type == SHT_NOBITS || s.sh_offset > image.size() ||
      image.size() - s.sh_offset < s.sh_size)
    return std::nullopt;
  return image.subspan(s.sh_offset, s.sh_size);
}

/// The section headers of a 64-bit ELF image of this machine's byte order; nullopt when the
/// image is not one or its section header table does not lie inside it.
std::optional<std::vector<Elf64_Shdr>> section_headers(Bytes image) {
  constexpr unsigned char host_order =
      std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  auto eh = read_at<Elf64_Ehdr>(image, 0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != host_order)
    return std::nullopt;
  if (eh->e_shoff == 0) return std::vector<Elf64_Shdr>{};  // no sections, so no symbol table
  if (eh->e_shentsize != sizeof(Elf64_Shdr)) return std::nullopt;
  std::uint64_t count = eh->e_shnum;
  if (count == 0) {  // extended numbering: section 0's sh_size holds the count
    auto first = read_at<Elf64_Shdr>(image, eh->e_shoff);
    if (!first) return std::nullopt;
    count = first->sh_size;
  }
  if (eh->e_shoff > image.size() || count > (image.size() - eh->e_shoff) / sizeof(Elf64_Shdr))
    return std::nullopt;
  std::vector<Elf64_Shdr> sections(count);
  if (count > 0)  // an empty vector's data() may be null, which memcpy must not get
    std::memcpy(sections.data(), image.data() + eh->e_shoff, count * sizeof(Elf64_Shdr));
  return sections;
}

std::string demangled(const char* name) {
  int status = -1;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

/// Searches the symbol table `table` (its sh_link names its string table) for a function
/// symbol covering `address`: its name, "" when none covers it, nullopt when the table, its
/// string table or a name in it does not lie inside the image.
std::optional<std::string> search_table(Bytes image, const std::vector<Elf64_Shdr>& sections,
                                        const Elf64_Shdr& table, std::uint64_t address) {
  if (table.sh_entsize != sizeof(Elf64_Sym) || table.sh_link >= sections.size())
    return std::nullopt;
  const Elf64_Shdr& strings = sections[table.sh_link];
  auto syms = section_bytes(image, table);
  auto strs = section_bytes(image, strings);
  if (strings.sh_type != SHT_STRTAB || !syms || !strs) return std::nullopt;
  for (std::size_t at = 0; syms->size() - at >= sizeof(Elf64_Sym); at += sizeof(Elf64_Sym)) {
    Elf64_Sym sym;
    std::memcpy(&sym, syms->data() + at, sizeof sym);
    if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
    const bool covers = address >= sym.st_value && (address - sym.st_value < sym.st_size ||
                                                    (sym.st_size == 0 && address == sym.st_value));
    if (!covers) continue;
    if (sym.st_name >= strs->size()) return std::nullopt;
    const char* name = reinterpret_cast<const char*>(strs->data()) + sym.st_name;
    if (!std::memchr(name, '\0', strs->size() - sym.st_name)) return std::nullopt;
    if (*name != '\0') return demangled(name);
  }
  return std::string();
}

/// A file mapped read-only for as long as it lives; `bytes` is empty when that failed.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p =
          ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        bytes_ = Bytes(static_cast<const std::byte*>(p), st.st_size);
#if defined(__SANITIZE_ADDRESS__)
        // The mapping may reuse the addresses of an unmapped fiber stack whose shadow ASan
        // still marks as poisoned; every byte of a fresh mapping is readable.
        ASAN_UNPOISON_MEMORY_REGION(p, bytes_.size());
#endif
      }
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (!bytes_.empty()) ::munmap(const_cast<std::byte*>(bytes_.data()), bytes_.size());
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  Bytes bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

}  // namespace

ElfFunction elf_function_in(Bytes image, std::uint64_t address) {
  auto sections = section_headers(image);
  if (!sections) return {};
  bool has_symtab = false;
  // .symtab names static functions too; .dynsym (exported names) when the file was stripped.
  for (std::uint32_t type : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (const Elf64_Shdr& s : *sections) {
      if (s.sh_type != type) continue;
      has_symtab = has_symtab || type == SHT_SYMTAB;
      auto name = search_table(image, *sections, s, address);
      if (!name) return {};
      if (!name->empty()) return {SymbolLookup::found, std::move(*name)};
    }
  }
  return {has_symtab ? SymbolLookup::not_found : SymbolLookup::no_symbol_table, {}};
}

ElfFunction elf_function_at(const std::string& path, std::uint64_t address) {
  MappedFile file(path);
  return elf_function_in(file.bytes(), address);
}

std::string describe_function(const void* fn) {
  const std::string address = fmt::format("{}", fn);
  Dl_info info{};
  link_map* map = nullptr;
  if (!dladdr1(fn, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) || !map)
    return fmt::format("{} (no loaded executable or shared object holds this address)", address);
  // The main program's link map has no name; its file is still open to us through /proc.
  const bool executable = !map->l_name || map->l_name[0] == '\0';
  const std::string path = executable ? "/proc/self/exe" : map->l_name;
  // Symbol values are link-time addresses: the run-time one minus the load bias (0 for a
  // position-dependent executable).
  const ElfFunction f = elf_function_at(path, reinterpret_cast<std::uintptr_t>(fn) - map->l_addr);
  if (f.lookup == SymbolLookup::found) return fmt::format("{} ({})", f.name, address);
  if (info.dli_sname) return fmt::format("{} ({})", demangled(info.dli_sname), address);
  const std::string object =
      executable ? std::string("the executable") : fmt::format("the shared object {}", path);
  switch (f.lookup) {
    case SymbolLookup::no_symbol_table:
      return fmt::format(
          "{} ({} has no symbol table (stripped); build it unstripped to see the function's name)",
          address, object);
    case SymbolLookup::not_found:
      return fmt::format("{} (no function symbol of {} covers this address)", address, object);
    default:
      return fmt::format("{} ({} could not be read for its symbols)", address, object);
  }
}

}  // namespace cadre::detail
