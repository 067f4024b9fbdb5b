// The mailbox ring and the inline message bytes.

#include <gtest/gtest.h>

#include <string>

#include "cadre/detail/buffer.hpp"
#include "services/mail_queue.hpp"

using cadre::detail::InlineBytes;
using cadre::detail::Mail;
using cadre::services::MailQueue;

namespace {

Mail mail(int n, std::size_t bytes = 8) {
  Mail m;
  m.corr = static_cast<std::uint64_t>(n);
  std::string s(bytes, static_cast<char>('a' + n % 26));
  m.payload.assign(s.data(), s.size());
  return m;
}

std::vector<int> order(MailQueue& q) {
  std::vector<int> v;
  for (std::size_t i = 0; i < q.size(); ++i) v.push_back(static_cast<int>(q[i].corr));
  return v;
}

}  // namespace

TEST(InlineBytes, ShortStayInlineLongGoToTheHeap) {
  InlineBytes a;
  EXPECT_TRUE(a.empty());
  a.assign("12345678", 8);
  EXPECT_EQ(std::string(a.data(), a.size()), "12345678");
  std::string big(1000, 'z');
  InlineBytes b;
  b = big;
  EXPECT_EQ(std::string(b.data(), b.size()), big);
  InlineBytes c(std::move(b));
  EXPECT_EQ(std::string(c.data(), c.size()), big);
  EXPECT_EQ(b.size(), 0u);
  a = std::move(c);
  EXPECT_EQ(std::string(a.data(), a.size()), big);
  a.assign("x", 1);  // from the heap back inline
  EXPECT_EQ(std::string(a.data(), a.size()), "x");
  std::string edge(InlineBytes::kInline, 'e');
  a = edge;
  InlineBytes d(std::move(a));
  EXPECT_EQ(std::string(d.data(), d.size()), edge);
}

TEST(MailQueue, KeepsArrivalOrderThroughWrapAndGrowth) {
  MailQueue q;
  int next = 0, first = 0;
  // Interleave appends and takes so the ring wraps many times, and grows past its start.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round % 7 + 3; ++i) q.push_back(mail(next++, i % 2 ? 8 : 100));
    for (int i = 0; i < round % 5 + 1 && !q.empty(); ++i) {
      EXPECT_EQ(static_cast<int>(q.front().corr), first);
      EXPECT_EQ(q.front().payload.data()[0], static_cast<char>('a' + first % 26));
      q.pop_front();
      ++first;
    }
  }
  auto v = order(q);
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i], first + static_cast<int>(i));
  EXPECT_EQ(static_cast<int>(q.size()), next - first);
}

TEST(MailQueue, SelectiveTakesAndErasesKeepTheRestInOrder) {
  MailQueue q;
  for (int i = 0; i < 10; ++i) q.push_back(mail(i));
  q.pop_front();
  q.pop_front();       // 2..9, head moved
  q.erase_at(3);       // drops 5
  q.erase_at(0);       // drops 2
  q.push_back(mail(10));
  EXPECT_EQ(order(q), (std::vector<int>{3, 4, 6, 7, 8, 9, 10}));
  EXPECT_EQ(q.erase_if([](const Mail& m) { return m.corr % 2 == 0; }), 4u);
  EXPECT_EQ(order(q), (std::vector<int>{3, 7, 9}));
  EXPECT_EQ(std::string(q[1].payload.data(), q[1].payload.size()), std::string(8, 'h'));
  q.erase_at(2);
  q.erase_at(0);
  q.pop_front();
  EXPECT_TRUE(q.empty());
  q.push_back(mail(11));
  EXPECT_EQ(order(q), (std::vector<int>{11}));
  // In place: a slot reused after its message was moved out.
  Mail taken = std::move(q.front());
  q.pop_front();
  EXPECT_EQ(taken.corr, 11u);
  Mail& m = q.emplace_back();
  m.corr = 12;
  m.payload.assign("in place", 8);
  EXPECT_EQ(order(q), (std::vector<int>{12}));
  EXPECT_EQ(std::string(q[0].payload.data(), q[0].payload.size()), "in place");
}
