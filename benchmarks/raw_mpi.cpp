#include "raw_mpi.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace cadre::bench::raw {

namespace {

// -- plumbing -------------------------------------------------------------------------------

/// The tags of each baseline; distinct so that a straggler of one can never match another.
enum class Tag : int {
  farm_task = 0x6a00,
  farm_stop,
  farm_result,
  pingpong,
  rate_data,
  rate_ack,
  bcast_data,
  bcast_ack,
};

/// The MPI tag of `t`.
constexpr int tag(Tag t) { return static_cast<int>(t); }

/// Throws std::runtime_error naming the MPI routine and MPI's text for the error code.
[[noreturn]] void throw_mpi_error(int code, const char* what) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(std::string("raw MPI baseline: ") + what + " failed: " + text);
}

/// Every MPI call goes through here; the branch costs nothing measurable in the timed loops.
inline void check(int code, const char* what) {
  if (code != MPI_SUCCESS) [[unlikely]] {
    throw_mpi_error(code, what);
  }
}

/// Throws std::invalid_argument with `message` unless `condition` holds.
void require(bool condition, const char* message) {
  if (!condition) {
    throw std::invalid_argument(std::string("raw MPI baseline: ") + message);
  }
}

/// The caller's rank in a communicator and the communicator's size.
struct Ranks {
  int rank = 0;
  int size = 1;
};

/// The caller's place in `comm`.
Ranks ranks_of(MPI_Comm comm) {
  Ranks r;
  check(MPI_Comm_rank(comm, &r.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &r.size), "MPI_Comm_size");
  return r;
}

/// What rank 0 returns for a figure that cannot be measured with the ranks at hand.
constexpr double not_measured = std::numeric_limits<double>::quiet_NaN();

/// A page-aligned, pre-touched byte buffer (as OSU uses), so that no page fault and no
/// accidental alignment lands in a timed loop.
class PageBuffer {
 public:
  explicit PageBuffer(std::size_t bytes) {
    constexpr std::size_t page = 4096;
    const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + page - 1) / page * page;
    data_.reset(static_cast<std::byte*>(std::aligned_alloc(page, rounded)));
    if (!data_) {
      throw std::bad_alloc();
    }
    std::memset(data_.get(), 'a', rounded);
  }
  /// The first byte; the buffer stays valid as long as this object.
  std::byte* data() const { return data_.get(); }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;
};

/// A barrier that does not spin: ranks with nothing to do in a measurement wait here sleeping
/// (up to 1 ms at a time), so that on an oversubscribed node they leave the cores to the ranks
/// being measured. It costs them at most ~1 ms after the measurement has ended.
void sleeping_barrier(MPI_Comm comm) {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier");
  long sleep_ns = 1000;
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) {
      return;
    }
    const timespec pause{0, sleep_ns};
    nanosleep(&pause, nullptr);
    sleep_ns = std::min(sleep_ns * 2, 1000000L);
  }
}

/// The barrier of the ranks being measured: they arrive last, so they need not sleep.
void busy_barrier(MPI_Comm comm) {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier");
  check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
}

// -- task farm ------------------------------------------------------------------------------

/// The input of task i: small enough that its square cannot overflow.
inline std::int64_t task_input(long i) { return static_cast<std::int64_t>(i & 0xfffff) + 1; }

/// The task itself.
inline std::int64_t task(std::int64_t x) { return x * x; }

/// The sum every farm must produce, modulo 2^64.
std::uint64_t expected_sum(long ntasks) {
  std::uint64_t sum = 0;
  for (long i = 0; i < ntasks; ++i) {
    sum += static_cast<std::uint64_t>(task(task_input(i)));
  }
  return sum;
}

/// One rank: the master squares the inputs itself, one at a time. The empty asm keeps the
/// compiler from vectorising the loop or replacing it by a closed form.
double local_farm(long ntasks, std::uint64_t& sum) {
  const double start = MPI_Wtime();
  for (long i = 0; i < ntasks; ++i) {
    std::int64_t x = task_input(i);
    asm volatile("" : "+r"(x));
    sum += static_cast<std::uint64_t>(task(x));
  }
  return ntasks / (MPI_Wtime() - start);
}

/// The master. Slot s (window per worker, worker s / window + 1) owns one task buffer, one
/// result buffer, the task's MPI_Isend and the result's MPI_Irecv. Issuing a task posts its
/// result's receive first, so every result finds a posted receive. Tasks (and the workers'
/// results) go by MPI_Isend, not MPI_Send: with MPI_Send on either side, batches of 100 ran
/// 1.5-6x slower at 2 and 3 ranks (it seems vader completes a blocking send of a message too
/// big for its fast boxes only once the receiver has taken it), and single tasks were within
/// noise of MPI_Isend (MPI_Send at most 3% faster). MPI_Waitsome collects every result that has
/// arrived in one pass and each freed slot is refilled at once; its previous task send has
/// completed long before (its result is back), so the MPI_Wait on it returns at once.
double farm_master(MPI_Comm comm, int workers, long ntasks, int window, int batch,
                   std::uint64_t& sum) {
  const int slots = workers * window;
  const auto per_slot = static_cast<std::size_t>(batch);
  std::vector<std::int64_t> tasks(per_slot * slots);
  std::vector<std::int64_t> results(per_slot * slots);
  std::vector<MPI_Request> sends(slots, MPI_REQUEST_NULL);
  std::vector<MPI_Request> receives(slots, MPI_REQUEST_NULL);
  std::vector<int> completed(slots);
  std::vector<MPI_Status> statuses(slots);
  long next = 0;
  long done = 0;

  const auto issue = [&](int slot) {
    const int worker = slot / window + 1;
    const int count = static_cast<int>(std::min<long>(batch, ntasks - next));
    check(MPI_Wait(&sends[slot], MPI_STATUS_IGNORE), "MPI_Wait");
    std::int64_t* in = tasks.data() + per_slot * slot;
    for (int i = 0; i < count; ++i) {
      in[i] = task_input(next + i);
    }
    next += count;
    check(MPI_Irecv(results.data() + per_slot * slot, batch, MPI_INT64_T, worker,
                    tag(Tag::farm_result), comm, &receives[slot]),
          "MPI_Irecv");
    check(MPI_Isend(in, count, MPI_INT64_T, worker, tag(Tag::farm_task), comm, &sends[slot]),
          "MPI_Isend");
  };

  const double start = MPI_Wtime();
  // Deal the first window round-robin, so that every worker starts at once.
  for (int k = 0; k < window && next < ntasks; ++k) {
    for (int w = 0; w < workers && next < ntasks; ++w) {
      issue(w * window + k);
    }
  }
  while (done < ntasks) {
    int count = 0;
    check(MPI_Waitsome(slots, receives.data(), &count, completed.data(), statuses.data()),
          "MPI_Waitsome");
    for (int j = 0; j < count; ++j) {
      const int slot = completed[j];
      int n = 0;
      check(MPI_Get_count(&statuses[j], MPI_INT64_T, &n), "MPI_Get_count");
      const std::int64_t* out = results.data() + per_slot * slot;
      for (int i = 0; i < n; ++i) {
        sum += static_cast<std::uint64_t>(out[i]);
      }
      done += n;
      if (next < ntasks) {
        issue(slot);
      }
    }
  }
  const double elapsed = MPI_Wtime() - start;
  // Every receive has completed (one was posted per task message and all results are in), so
  // every task has arrived and these complete at once.
  check(MPI_Waitall(slots, sends.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  // One stop for each receive the worker keeps posted, so none is left to catch later traffic.
  for (int w = 1; w <= workers; ++w) {
    for (int k = 0; k < window; ++k) {
      check(MPI_Send(nullptr, 0, MPI_INT64_T, w, tag(Tag::farm_stop), comm), "MPI_Send");
    }
  }
  return ntasks / elapsed;
}

/// A worker keeps `window` receives posted (the master never has more messages outstanding to
/// it), so tasks land in place instead of in MPI's unexpected queue. Messages from one sender
/// match receives in the order they were posted, so waiting on the slots in turn takes the
/// tasks in the order they were sent. The master sends one stop message for each posted
/// receive once every result is in: the first lands in the slot waited on next and the others
/// complete the receives still posted. (Cancelling those instead races with the master's next
/// measurement, whose first message a not-yet-cancelled MPI_ANY_TAG receive would take.)
/// Results go by MPI_Isend from a buffer per slot, for the same reason as the master's tasks.
void farm_worker(MPI_Comm comm, int window, int batch) {
  const auto per_slot = static_cast<std::size_t>(batch);
  std::vector<std::int64_t> tasks(per_slot * window);
  std::vector<std::int64_t> results(per_slot * window);
  std::vector<MPI_Request> receives(window, MPI_REQUEST_NULL);
  std::vector<MPI_Request> sends(window, MPI_REQUEST_NULL);
  const auto post = [&](int slot) {
    check(MPI_Irecv(tasks.data() + per_slot * slot, batch, MPI_INT64_T, 0, MPI_ANY_TAG, comm,
                    &receives[slot]),
          "MPI_Irecv");
  };
  for (int k = 0; k < window; ++k) {
    post(k);
  }
  for (int slot = 0;; slot = slot + 1 == window ? 0 : slot + 1) {
    MPI_Status status;
    check(MPI_Wait(&receives[slot], &status), "MPI_Wait");
    if (status.MPI_TAG == tag(Tag::farm_stop)) {
      break;
    }
    int count = 0;
    check(MPI_Get_count(&status, MPI_INT64_T, &count), "MPI_Get_count");
    // The previous result from this slot went out a whole window ago.
    check(MPI_Wait(&sends[slot], MPI_STATUS_IGNORE), "MPI_Wait");
    const std::int64_t* in = tasks.data() + per_slot * slot;
    std::int64_t* out = results.data() + per_slot * slot;
    for (int i = 0; i < count; ++i) {
      out[i] = task(in[i]);
    }
    check(MPI_Isend(out, count, MPI_INT64_T, 0, tag(Tag::farm_result), comm, &sends[slot]),
          "MPI_Isend");
    post(slot);
  }
  // The master has received every result before it sent the stops.
  check(MPI_Waitall(window, sends.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  check(MPI_Waitall(window, receives.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
}

// -- tree broadcast -------------------------------------------------------------------------

/// A rank's place in the binomial tree rooted at 0 (MPICH's numbering): the parent is the rank
/// with its lowest set bit cleared; the children are rank + 2^k for every 2^k below that bit,
/// listed largest subtree first.
struct TreeNode {
  int parent = -1;
  int children = 0;
  std::array<int, 32> child{};
};

TreeNode tree_node(int rank, int size) {
  TreeNode node;
  int mask = 1;
  while (mask < size) {
    if (rank & mask) {
      node.parent = rank - mask;
      break;
    }
    mask <<= 1;
  }
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (rank + mask < size) {
      node.child[node.children++] = rank + mask;
    }
  }
  return node;
}

/// One broadcast and its acknowledgement: receive from the parent, post the children's
/// acknowledgements, send to every child at once (MPI_Isend, so that a large message to one
/// child does not hold up the others), and once all children have acknowledged, acknowledge to
/// the parent.
void tree_round(MPI_Comm comm, const TreeNode& node, std::byte* data, int bytes,
                std::array<MPI_Request, 64>& requests) {
  if (node.parent >= 0) {
    check(
        MPI_Recv(data, bytes, MPI_BYTE, node.parent, tag(Tag::bcast_data), comm, MPI_STATUS_IGNORE),
        "MPI_Recv");
  }
  for (int i = 0; i < node.children; ++i) {
    check(MPI_Irecv(nullptr, 0, MPI_BYTE, node.child[i], tag(Tag::bcast_ack), comm,
                    &requests[node.children + i]),
          "MPI_Irecv");
  }
  for (int i = 0; i < node.children; ++i) {
    check(MPI_Isend(data, bytes, MPI_BYTE, node.child[i], tag(Tag::bcast_data), comm, &requests[i]),
          "MPI_Isend");
  }
  check(MPI_Waitall(2 * node.children, requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  if (node.parent >= 0) {
    check(MPI_Send(nullptr, 0, MPI_BYTE, node.parent, tag(Tag::bcast_ack), comm), "MPI_Send");
  }
}

}  // namespace

// -- the baselines --------------------------------------------------------------------------

double farm_tasks_per_sec(MPI_Comm comm, long ntasks, int window, int batch) {
  require(ntasks >= 1, "farm: ntasks must be at least 1");
  require(window >= 1, "farm: window must be at least 1");
  require(batch >= 1, "farm: batch must be at least 1");
  const Ranks r = ranks_of(comm);
  std::uint64_t sum = 0;
  double rate = 0;
  if (r.size == 1) {
    rate = local_farm(ntasks, sum);
  } else {
    busy_barrier(comm);
    if (r.rank == 0) {
      rate = farm_master(comm, r.size - 1, ntasks, window, batch, sum);
    } else {
      farm_worker(comm, window, batch);
    }
  }
  // Every rank learns the verdict, so that all throw together rather than leave peers waiting.
  int correct = r.rank == 0 ? static_cast<int>(sum == expected_sum(ntasks)) : 0;
  if (r.size > 1) {
    check(MPI_Bcast(&correct, 1, MPI_INT, 0, comm), "MPI_Bcast");
  }
  if (!correct) {
    throw std::runtime_error("raw MPI baseline: farm: the sum of the results is wrong");
  }
  return r.rank == 0 ? rate : 0.0;
}

double pingpong_latency_us(MPI_Comm comm, std::size_t bytes, int iterations, int warmup) {
  require(bytes <= INT_MAX, "pingpong: bytes must fit in an int");
  require(iterations >= 1, "pingpong: iterations must be at least 1");
  require(warmup >= 0, "pingpong: warmup must not be negative");
  const Ranks r = ranks_of(comm);
  if (r.size < 2) {
    return not_measured;
  }
  if (r.rank > 1) {
    sleeping_barrier(comm);
    return 0.0;
  }
  PageBuffer buffer(bytes);
  const int count = static_cast<int>(bytes);
  const int peer = 1 - r.rank;
  double start = MPI_Wtime();
  for (int i = 0; i < warmup + iterations; ++i) {
    if (i == warmup) {
      start = MPI_Wtime();
    }
    if (r.rank == 0) {
      check(MPI_Send(buffer.data(), count, MPI_BYTE, peer, tag(Tag::pingpong), comm), "MPI_Send");
      check(MPI_Recv(buffer.data(), count, MPI_BYTE, peer, tag(Tag::pingpong), comm,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
    } else {
      check(MPI_Recv(buffer.data(), count, MPI_BYTE, peer, tag(Tag::pingpong), comm,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
      check(MPI_Send(buffer.data(), count, MPI_BYTE, peer, tag(Tag::pingpong), comm), "MPI_Send");
    }
  }
  const double elapsed = MPI_Wtime() - start;
  busy_barrier(comm);
  return r.rank == 0 ? elapsed * 1e6 / (2.0 * iterations) : 0.0;
}

double message_rate(MPI_Comm comm, std::size_t bytes, int window, long messages) {
  require(bytes <= INT_MAX, "message rate: bytes must fit in an int");
  require(window >= 1, "message rate: window must be at least 1");
  require(messages >= 1, "message rate: messages must be at least 1");
  const Ranks r = ranks_of(comm);
  if (r.size < 2) {
    return not_measured;
  }
  if (r.rank > 1) {
    sleeping_barrier(comm);
    return 0.0;
  }
  // The sender sends every message of a window from one buffer (allowed since MPI-3); the
  // receiver gives each message of a window its own buffer, since concurrent receives into one
  // buffer are erroneous.
  const std::size_t stride = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
  PageBuffer buffer(r.rank == 0 ? bytes : stride * window);
  std::vector<MPI_Request> requests(window, MPI_REQUEST_NULL);
  const int count = static_cast<int>(bytes);
  constexpr long warmup_windows = 16;

  const auto run = [&](long total) {
    for (long left = total; left > 0;) {
      const int n = static_cast<int>(std::min<long>(window, left));
      if (r.rank == 0) {
        for (int j = 0; j < n; ++j) {
          check(
              MPI_Isend(buffer.data(), count, MPI_BYTE, 1, tag(Tag::rate_data), comm, &requests[j]),
              "MPI_Isend");
        }
        check(MPI_Waitall(n, requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
        check(MPI_Recv(nullptr, 0, MPI_BYTE, 1, tag(Tag::rate_ack), comm, MPI_STATUS_IGNORE),
              "MPI_Recv");
      } else {
        for (int j = 0; j < n; ++j) {
          check(MPI_Irecv(buffer.data() + stride * j, count, MPI_BYTE, 0, tag(Tag::rate_data), comm,
                          &requests[j]),
                "MPI_Irecv");
        }
        check(MPI_Waitall(n, requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
        check(MPI_Send(nullptr, 0, MPI_BYTE, 0, tag(Tag::rate_ack), comm), "MPI_Send");
      }
      left -= n;
    }
  };
  run(warmup_windows * window);
  const double start = MPI_Wtime();
  run(messages);
  const double elapsed = MPI_Wtime() - start;
  busy_barrier(comm);
  return r.rank == 0 ? messages / elapsed : 0.0;
}

double tree_bcast_us(MPI_Comm comm, std::size_t bytes, int iterations) {
  require(bytes <= INT_MAX, "tree broadcast: bytes must fit in an int");
  require(iterations >= 1, "tree broadcast: iterations must be at least 1");
  const Ranks r = ranks_of(comm);
  const TreeNode node = tree_node(r.rank, r.size);
  PageBuffer buffer(bytes);
  std::array<MPI_Request, 64> requests;
  requests.fill(MPI_REQUEST_NULL);
  const int count = static_cast<int>(bytes);
  const int warmup = std::max(1, iterations / 10);
  busy_barrier(comm);
  double start = MPI_Wtime();
  for (int i = 0; i < warmup + iterations; ++i) {
    if (i == warmup) {
      start = MPI_Wtime();
    }
    tree_round(comm, node, buffer.data(), count, requests);
  }
  const double elapsed = MPI_Wtime() - start;
  // The last acknowledgement reaches rank 0 only after every rank has sent its own, so every
  // request is complete here; no closing barrier is needed.
  return r.rank == 0 ? elapsed * 1e6 / iterations : 0.0;
}

}  // namespace cadre::bench::raw
