// The mailbox (blocks of 64-byte slots, taken slots in the middle) and the inline message bytes.

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
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
  for (std::size_t i = 0; i < q.size(); ++i)
    if (q[i].kind != cadre::detail::MailKind::taken) v.push_back(static_cast<int>(q[i].corr));
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

TEST(InlineBytes, AdoptsReceivedStorageWithoutACopy) {
  // A received frame's buffer becomes the mail's: its payload starts after the headers.
  cadre::detail::ByteBuffer frame;
  frame.append("HEADERS.", 8);
  std::string payload(100000, 'p');
  payload[0] = 'a';
  payload.back() = 'z';
  frame.append(payload.data(), payload.size());
  const char* where = frame.data() + 8;
  InlineBytes a;
  a.assign("small", 5);
  a.adopt(frame.release(), 8, payload.size());
  EXPECT_TRUE(frame.empty());
  EXPECT_EQ(frame.data(), nullptr);
  EXPECT_EQ(a.data(), where);  // the same bytes, not a copy
  EXPECT_EQ(std::string(a.data(), a.size()), payload);
  EXPECT_EQ(a.heap_bytes(), payload.size());
  InlineBytes b(std::move(a));  // the offset moves with the storage
  EXPECT_EQ(b.data(), where);
  InlineBytes c;
  c = std::move(b);
  EXPECT_EQ(std::string(c.data(), c.size()), payload);
  c.assign(payload.data(), 30);  // a copy again: the offset is gone with the storage
  EXPECT_EQ(std::string(c.data(), c.size()), payload.substr(0, 30));
  // Sizes it cannot hold are refused, and the storage is not leaked (ASan would say).
  InlineBytes d;
  EXPECT_THROW(d.adopt(static_cast<char*>(std::malloc(16)), 0, 8), std::invalid_argument);
  EXPECT_TRUE(d.empty());
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
  q.pop_front();  // 2..9
  q.erase_at(3);  // drops 5: a taken slot, the indices of the others stay
  EXPECT_EQ(q[4].corr, 6u);
  q.erase_at(0);  // drops 2 from the front
  q.push_back(mail(10));
  EXPECT_EQ(order(q), (std::vector<int>{3, 4, 6, 7, 8, 9, 10}));
  EXPECT_EQ(q.live(), 7u);
  EXPECT_EQ(q.erase_if([](const Mail& m) { return m.corr % 2 == 0; }), 4u);
  EXPECT_EQ(order(q), (std::vector<int>{3, 7, 9}));
  EXPECT_EQ(q.front().corr, 3u);
  Mail seven = q.take_at(4);  // 3 4(taken) 5(taken) 6(taken) 7
  EXPECT_EQ(seven.corr, 7u);
  EXPECT_EQ(std::string(seven.payload.data(), seven.payload.size()), std::string(8, 'h'));
  EXPECT_EQ(order(q), (std::vector<int>{3, 9}));
  q.pop_front();  // 3, and the taken slots behind it
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.front().corr, 9u);
  q.pop_front();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  // In place: a slot reused after its message left.
  Mail& m = q.emplace_back(8);
  m.kind = cadre::detail::MailKind::user;
  m.corr = 12;
  m.payload.assign("in place", 8);
  EXPECT_EQ(order(q), (std::vector<int>{12}));
  EXPECT_EQ(std::string(q[0].payload.data(), q[0].payload.size()), "in place");
}

TEST(MailQueue, SlotsAre64BytesAndBytesAreCounted) {
  EXPECT_EQ(sizeof(Mail), 64u);
  EXPECT_EQ(InlineBytes::kInline, 24u);
  MailQueue q;
  q.push_back(mail(0, 8));    // inline: the slot alone
  q.push_back(mail(1, 100));  // on the heap: the slot and its bytes
  EXPECT_EQ(q.bytes(), 2 * MailQueue::kSlotBytes + 100);
  q.erase_at(1);
  EXPECT_EQ(q.bytes(), MailQueue::kSlotBytes);
  q.clear();
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.live(), 0u);
}

TEST(MailQueue, AMillionMessagesKeepOrderAcrossBlocks) {
  // A flood: appends never rebuild what is queued (blocks are added), and the oldest leave
  // block by block.
  MailQueue q;
  const int n = 1000000;
  for (int i = 0; i < n; ++i) q.push_back(mail(i, 8));
  EXPECT_EQ(q.live(), static_cast<std::size_t>(n));
  EXPECT_EQ(q.bytes(), static_cast<std::size_t>(n) * MailQueue::kSlotBytes);
  Mail& mid = q[n / 2];
  q.push_back(mail(n, 8));
  EXPECT_EQ(&mid, &q[n / 2]);  // slots never move when the mailbox grows
  for (int i = 0; i <= n; ++i) {
    ASSERT_EQ(q.front().corr, static_cast<std::uint64_t>(i));
    q.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

TEST(MailQueue, CompactionReclaimsTakenSlots) {
  // A process that keeps one old message and takes every newer one: the taken slots between
  // them are reclaimed once they outnumber the messages.
  MailQueue q;
  q.push_back(mail(0));
  for (int i = 1; i < 1000; ++i) {
    q.push_back(mail(i));
    q.push_back(mail(-i));
    q.erase_at(q.size() - 2);  // take the newer one in the middle
    if (q.should_compact()) q.compact();
  }
  EXPECT_LT(q.size(), 2 * q.live() + 70);
  std::vector<int> want{0};
  for (int i = 1; i < 1000; ++i) want.push_back(-i);
  EXPECT_EQ(order(q), want);
  EXPECT_EQ(q.live(), 1000u);
}

TEST(MailQueue, AFewMessagesHoldASmallBlockAndSlotsStayPutPastIt) {
  // A mailbox that was empty takes a small first block: tens of thousands of mailboxes with
  // one message each must not hold a 32 KiB block each.
  MailQueue q;
  EXPECT_EQ(q.capacity(), 0u);
  q.push_back(mail(0));
  EXPECT_EQ(q.capacity(), MailQueue::kFirstBlock);
  for (int i = 1; i < static_cast<int>(MailQueue::kFirstBlock); ++i) q.push_back(mail(i));
  EXPECT_EQ(q.capacity(), MailQueue::kFirstBlock);
  Mail& first = q[0];
  Mail& last_small = q[MailQueue::kFirstBlock - 1];
  // Past the small block, full blocks follow it; no slot moves (a receive walking the
  // mailbox keeps its place while messages arrive).
  const int n = 3 * static_cast<int>(MailQueue::kBlock);
  for (int i = static_cast<int>(MailQueue::kFirstBlock); i < n; ++i)
    q.push_back(mail(i, i % 3 ? 8 : 100));
  EXPECT_EQ(&first, &q[0]);
  EXPECT_EQ(&last_small, &q[MailQueue::kFirstBlock - 1]);
  EXPECT_EQ(q.capacity(), MailQueue::kFirstBlock + 3 * MailQueue::kBlock);
  // Takes in the small block and at the tail, then the tail trimmed back into the first
  // full block: the order holds, and the blocks no longer needed go.
  q.erase_at(1);
  q.erase_at(MailQueue::kFirstBlock);
  for (int i = n - 1; i >= static_cast<int>(MailQueue::kFirstBlock) + 10; --i)
    q.erase_at(q.size() - 1);
  EXPECT_EQ(q.capacity(), MailQueue::kFirstBlock + MailQueue::kBlock);
  std::vector<int> want{0};
  for (int i = 2; i < static_cast<int>(MailQueue::kFirstBlock) + 10; ++i)
    if (i != static_cast<int>(MailQueue::kFirstBlock)) want.push_back(i);
  EXPECT_EQ(order(q), want);
  // Growing again, then draining from the front: the small block leaves first, and the
  // mailbox, once empty, holds no block.
  for (int i = 1000; i < 1000 + n; ++i) q.push_back(mail(i));
  for (int i = 1000; i < 1000 + n; ++i) want.push_back(i);
  EXPECT_EQ(order(q), want);
  for (int w : want) {
    ASSERT_EQ(q.front().corr, static_cast<std::uint64_t>(w));
    q.pop_front();
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  // And it starts small again.
  q.push_back(mail(7));
  EXPECT_EQ(q.capacity(), MailQueue::kFirstBlock);
  EXPECT_EQ(q.front().corr, 7u);
}

TEST(MailQueue, CompactionAcrossTheSmallBlockKeepsOrder) {
  MailQueue q;
  for (int i = 0; i < 600; ++i) q.push_back(mail(i));
  // Take two of every three messages past the first five: the rest move together over the
  // gaps, into the small block and the full one behind it.
  for (std::size_t i = 5; i < q.size(); ++i)
    if (i % 3 != 0) q.erase_at(i);
  ASSERT_TRUE(q.should_compact());
  q.compact();
  std::vector<int> want{0, 1, 2, 3, 4};
  for (int i = 6; i < 600; i += 3) want.push_back(i);
  EXPECT_EQ(order(q), want);
  EXPECT_EQ(q.size(), want.size());
  EXPECT_EQ(q.capacity(), MailQueue::kFirstBlock + MailQueue::kBlock);
}
