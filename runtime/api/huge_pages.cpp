// Transparent huge pages for very large blocks (cadre/detail/huge_pages.hpp).

#include "cadre/detail/huge_pages.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace cadre::detail {

std::size_t advise_huge_pages(void* p, std::size_t bytes) noexcept {
  constexpr std::uintptr_t kHuge = std::uintptr_t(2) << 20;
  if (p == nullptr || bytes < kHugeAdviceBytes) return 0;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t last = (begin + bytes) & ~(kHuge - 1);
  if (last <= first) return 0;
#ifdef MADV_HUGEPAGE
  // Refused where transparent huge pages are off or unsupported: the block stays as it is.
  if (::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) != 0) return 0;
  return last - first;
#else
  return 0;
#endif
}

}  // namespace cadre::detail
