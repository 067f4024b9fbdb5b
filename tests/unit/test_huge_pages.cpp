// Huge-page advice for very large blocks (a huge map's futures): only the 2 MiB-aligned
// part of a block at least kHugeAdviceBytes long is advised, nothing of a smaller one.

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <fstream>

#include "cadre/detail/huge_pages.hpp"

using cadre::detail::advise_huge_pages;
using cadre::detail::kHugeAdviceBytes;

namespace {

constexpr std::uintptr_t kHuge = std::uintptr_t(2) << 20;

bool kernel_has_thp() {
  return std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").good();
}

}  // namespace

TEST(HugePages, OnlyTheAlignedPartOfALargeBlockIsAdvised) {
  const std::size_t span = kHugeAdviceBytes + 8 * kHuge;
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  char* p = static_cast<char*>(m) + 100;  // not aligned: a malloc'd block starts so
  const std::size_t bytes = kHugeAdviceBytes + 3 * kHuge;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t last = (begin + bytes) & ~(kHuge - 1);
  const std::size_t advised = advise_huge_pages(p, bytes);
  if (!kernel_has_thp()) {
    std::printf("this kernel has no transparent huge pages: the advice is refused\n");
    EXPECT_EQ(advised, 0u);
  } else {
    EXPECT_EQ(advised, last - first);
    EXPECT_EQ(advised % kHuge, 0u);
    EXPECT_GE(advised, bytes - 2 * kHuge);
  }
  // The block stays usable whatever the kernel did with the advice.
  for (std::size_t i = 0; i < bytes; i += 4096) p[i] = static_cast<char>(i);
  EXPECT_EQ(p[4096 * 7], static_cast<char>(4096 * 7));
  munmap(m, span);
}

TEST(HugePages, SmallBlocksAndNullAreLeftAlone) {
  static char small[1 << 16];
  EXPECT_EQ(advise_huge_pages(small, sizeof small), 0u);
  EXPECT_EQ(advise_huge_pages(nullptr, kHugeAdviceBytes * 2), 0u);
}
