// The thread pool (core/parallel.hpp): parallel_for covers [0, n) exactly once in split_range's
// ranges, nested calls run serially, set_threads resizes the pool, thousands of short regions in
// a row neither lose work nor deadlock (also when a region has fewer parts than the pool has
// threads), an exception in a part reaches the caller, and a second caller thread is served.
// On a machine with one usable CPU the pool has one thread and these check the serial path.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace {
using namespace normlab;

// Restores the pool size a test found, whatever the test set.
struct KeepThreads {
  int before = threads();
  ~KeepThreads() { set_threads(before); }
};

// The ranges one parallel_for handed out, in the order they were recorded.
std::vector<std::pair<std::size_t, std::size_t>> ranges_of(std::size_t n, std::size_t grain) {
  std::mutex m;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  parallel_for(n, grain, [&](std::size_t begin, std::size_t end) {
    const std::lock_guard lock(m);
    ranges.emplace_back(begin, end);
  });
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

}  // namespace

TEST_CASE("parallel: split_range covers 0 to n in order, sizes within one of each other") {
  for (std::size_t n : {0, 1, 2, 5, 64, 1001}) {
    for (std::size_t parts : {1, 2, 3, 7}) {
      std::size_t next = 0, smallest = n, largest = 0;
      for (std::size_t p = 0; p < parts; ++p) {
        const auto [begin, end] = split_range(n, parts, p);
        CHECK(begin == next);
        next = end;
        smallest = std::min(smallest, end - begin);
        largest = std::max(largest, end - begin);
      }
      CHECK(next == n);
      CHECK(largest - smallest <= 1);
    }
  }
}

TEST_CASE("parallel: every index once, in split_range's ranges of at least the grain") {
  const KeepThreads keep;
  for (int t : {1, 2, 4}) {
    const int used = set_threads(t);
    CHECK(used == std::min(t, usable_cpus()));
    CHECK(threads() == used);
    for (std::size_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      for (std::size_t grain : {0, 1, 5, 64}) {
        std::vector<std::atomic<int>> hits(n);
        parallel_for(n, grain, [&](std::size_t begin, std::size_t end) {
          for (std::size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        });
        for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);

        const auto ranges = ranges_of(n, grain);
        const std::size_t most = grain ? std::max<std::size_t>(1, n / grain) : n;
        const std::size_t parts = std::min<std::size_t>(std::size_t(used), most);
        if (n == 0) {
          CHECK(ranges.empty());
          continue;
        }
        INFO("threads " << used << ", n " << n << ", grain " << grain);
        REQUIRE(ranges.size() == std::max<std::size_t>(parts, 1));
        for (std::size_t p = 0; p < ranges.size(); ++p) {
          CHECK(ranges[p] == split_range(n, ranges.size(), p));
          if (ranges.size() > 1) CHECK(ranges[p].second - ranges[p].first >= grain);
        }
      }
    }
  }
}

TEST_CASE("parallel: the parts run on different threads at once") {
  const KeepThreads keep;
  if (set_threads(2) < 2) {
    WARN("one usable CPU: nothing to check");
    return;
  }
  // Each part waits (up to 20 s) for the other to start: only two threads can finish this in time.
  std::atomic<int> started{0};
  std::vector<std::thread::id> ids(2);
  std::atomic<bool> met{true};
  parallel_for(2, 1, [&](std::size_t begin, std::size_t) {
    ids[begin] = std::this_thread::get_id();
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 2) {
      if (std::chrono::steady_clock::now() > deadline) {
        met = false;
        return;
      }
      std::this_thread::yield();
    }
  });
  CHECK(met.load());
  CHECK(ids[0] != ids[1]);
}

TEST_CASE("parallel: a nested parallel_for runs serially, as one range on the calling thread") {
  const KeepThreads keep;
  set_threads(4);
  std::vector<std::atomic<int>> hits(6 * 50);
  std::atomic<int> inner_ranges{0}, foreign{0};
  parallel_for(6, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const std::thread::id outer = std::this_thread::get_id();
      parallel_for(50, 1, [&](std::size_t b, std::size_t e) {
        inner_ranges.fetch_add(1);
        if (std::this_thread::get_id() != outer) foreign.fetch_add(1);
        for (std::size_t j = b; j < e; ++j) hits[i * 50 + j].fetch_add(1);
      });
    }
  });
  for (auto& h : hits) REQUIRE(h.load() == 1);
  CHECK(inner_ranges.load() == 6);
  CHECK(foreign.load() == 0);
  // after the region, a call is parallel again
  CHECK(ranges_of(50, 1).size() == std::size_t(threads()));
}

TEST_CASE("parallel: set_threads resizes the pool between regions") {
  const KeepThreads keep;
  const int cpus = usable_cpus();
  CHECK(set_threads(0) == 1);
  CHECK(threads() == 1);
  CHECK(set_threads(cpus + 7) == cpus);
  CHECK(threads() == cpus);
  for (int t : {2, 1, 3, 2, 2, 1}) {
    const int used = set_threads(t);
    CHECK(threads() == used);
    std::atomic<std::size_t> sum{0};
    parallel_for(1000, 1, [&](std::size_t begin, std::size_t end) {
      std::size_t s = 0;
      for (std::size_t i = begin; i < end; ++i) s += i;
      sum.fetch_add(s);
    });
    CHECK(sum.load() == 999 * 1000 / 2);
    CHECK(ranges_of(1000, 1).size() == std::size_t(used));
  }
}

TEST_CASE("parallel: many short regions in a row, with fewer parts than threads") {
  const KeepThreads keep;
  set_threads(4);
  // n = 1 (one part, the caller alone), 2 and 3 parts, and the pool's size: the workers that
  // take no part must still acknowledge each region before the next one is written
  std::vector<std::atomic<int>> hits(3);
  constexpr int kRegions = 20000;
  for (int r = 0; r < kRegions; ++r) {
    const std::size_t n = 1 + std::size_t(r % 3);
    parallel_for(n, 1, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
    });
  }
  CHECK(hits[0].load() == kRegions);
  CHECK(hits[1].load() == kRegions / 3 * 2 + (kRegions % 3 == 2 ? 1 : 0));
  CHECK(hits[2].load() == kRegions / 3);
}

TEST_CASE("parallel: an exception in a part reaches the caller after every part has ended") {
  const KeepThreads keep;
  if (set_threads(2) < 2) {
    WARN("one usable CPU: nothing to check");
    return;
  }
  for (std::size_t thrower : {0, 1}) {
    std::atomic<int> ended{0};
    CHECK_THROWS_WITH(parallel_for(2, 1,
                                   [&](std::size_t begin, std::size_t) {
                                     if (begin == thrower) throw std::runtime_error("part failed");
                                     ended.fetch_add(1);
                                   }),
                      "part failed");
    CHECK(ended.load() == 1);
  }
  // the lowest-numbered part's exception when both throw
  CHECK_THROWS_WITH(parallel_for(2, 1,
                                 [&](std::size_t begin, std::size_t) {
                                   throw std::runtime_error(begin == 0 ? "first" : "second");
                                 }),
                    "first");
  // the pool still works, in parallel: the caller's part did not stay marked as a region
  CHECK(ranges_of(10, 1).size() == std::size_t(threads()));
}

TEST_CASE("parallel: a second caller thread is served while the pool is busy") {
  const KeepThreads keep;
  set_threads(2);
  std::vector<std::atomic<int>> a(64), b(64);
  auto fill = [](std::vector<std::atomic<int>>& hits) {
    for (int r = 0; r < 2000; ++r) {
      parallel_for(hits.size(), 1, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
      });
    }
  };
  std::thread other([&] { fill(b); });
  fill(a);
  other.join();
  for (std::size_t i = 0; i < 64; ++i) {
    REQUIRE(a[i].load() == 2000);
    REQUIRE(b[i].load() == 2000);
  }
}

TEST_CASE("parallel: a forked child runs regions with a pool of its own") {
  const KeepThreads keep;
  set_threads(2);
  parallel_for(8, 1, [](std::size_t, std::size_t) {});  // the parent's workers have run
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    alarm(20);  // a child waiting for its parent's workers would hang: SIGALRM ends it instead
    std::vector<std::atomic<int>> hits(100);
    for (int r = 0; r < 100; ++r) {
      parallel_for(100, 1, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
      });
    }
    bool ok = true;
    for (auto& h : hits) ok = ok && h.load() == 100;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("parallel: parallel_for_parts numbers each range by its place in the split") {
  const KeepThreads keep;
  for (int t : {1, 2}) {
    const int used = set_threads(t);
    for (std::size_t n : {1, 2, 9, 1000}) {
      std::mutex m;
      std::vector<std::pair<std::size_t, std::pair<std::size_t, std::size_t>>> seen;
      parallel_for_parts(n, 1, [&](std::size_t part, std::size_t begin, std::size_t end) {
        const std::lock_guard lock(m);
        seen.push_back({part, {begin, end}});
      });
      const std::size_t parts = std::min<std::size_t>(std::size_t(used), n);
      REQUIRE(seen.size() == parts);
      std::sort(seen.begin(), seen.end());
      for (std::size_t p = 0; p < parts; ++p) {
        CHECK(seen[p].first == p);
        CHECK(seen[p].second == split_range(n, parts, p));
      }
    }
  }
}
