#pragma once
/// \file huge_pages.hpp
/// Huge pages for the few very large blocks cadre fills at once (the futures of a huge
/// map): every 4 KiB page of a fresh mapping is a page fault, and on some machines (virtual
/// ones above all) a fault costs more than filling the page many times over.

#include <cstddef>

namespace cadre::detail {

/// Blocks at least this large are their own mapping with glibc as cadre sets it (see Memory
/// in the README), so advising them affects nothing else.
inline constexpr std::size_t kHugeAdviceBytes = std::size_t(32) << 20;

/// Asks the kernel to back the 2 MiB-aligned part of [p, p + bytes) with transparent huge
/// pages (madvise MADV_HUGEPAGE) when `bytes` is at least kHugeAdviceBytes and nothing of it
/// was touched yet. Returns the bytes advised (0: too small, or refused); never throws.
std::size_t advise_huge_pages(void* p, std::size_t bytes) noexcept;

}  // namespace cadre::detail
