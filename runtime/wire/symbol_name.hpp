#pragma once
// Names a function from the symbol tables of the ELF file that holds it, so that an error
// about an unregistered function can say which one in any build: dladdr alone sees only the
// dynamic symbols (an executable exports none without -rdynamic, and a static function never).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace cadre::detail {

/// What looking a function up in an ELF image found.
enum class SymbolLookup : std::uint8_t {
  found,            ///< a function symbol covers the address; `name` holds it
  not_found,        ///< the image has a symbol table, but no function symbol covers the address
  no_symbol_table,  ///< the image has no .symtab (stripped) and its .dynsym lacks the address
  unreadable,       ///< not a readable 64-bit ELF file of this machine's byte order
};

/// The function symbol covering an address in an ELF image, or why there is none.
struct ElfFunction {
  /// What the lookup found.
  SymbolLookup lookup = SymbolLookup::unreadable;
  /// The symbol's name, demangled when it is a C++ name; empty unless lookup is found.
  std::string name;
};

/// Looks up the function symbol whose [value, value + size) holds `address` (a link-time
/// address: the run-time address minus the object's load bias) in the ELF image `image`,
/// searching .symtab first and .dynsym next. Checks every offset against the image's size:
/// a truncated, malformed, 32-bit or non-ELF image gives `unreadable`, never a crash. Never
/// throws but std::bad_alloc; does not block; any thread.
ElfFunction elf_function_in(std::span<const std::byte> image, std::uint64_t address);

/// elf_function_in over the file at `path`, mapped read-only for the lookup; a file that
/// cannot be opened or mapped gives `unreadable`. Never throws but std::bad_alloc; reads the
/// file; any thread.
ElfFunction elf_function_at(const std::string& path, std::uint64_t address);

/// Names the function at `fn` for an error message, in every build: "square(int) (0x5648...)"
/// from the symbol tables of the executable or shared object that holds it; when they do not
/// name it, the address and the reason ("0x5648... (the executable has no symbol table
/// (stripped); ...)"). Never throws but std::bad_alloc; reads that file; any thread.
std::string describe_function(const void* fn);

}  // namespace cadre::detail
