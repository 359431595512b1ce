#include "core/parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "core/gemm.hpp"

namespace normlab {

namespace {

// Spins this many times on a flag before sleeping on it (std::atomic::wait, a futex on Linux):
// a step starts many short parallel regions in a row, and waking a sleeping thread costs several
// microseconds each time.
constexpr int kSpins = 4000;
// ... yielding the CPU every kYieldEvery spins: OpenBLAS's own threads wait for their next call
// with sched_yield on the same cores, and a spinner that never yields keeps one of them (and so
// the GEMM the caller waits for) off its core for a scheduler slice.
constexpr int kYieldEvery = 64;

template <class T, class Pred>
void wait_until(const std::atomic<T>& a, Pred done) {
  for (int i = 1; i <= kSpins; ++i) {
    if (done(a.load(std::memory_order_acquire))) return;
    if (i % kYieldEvery == 0) {
      std::this_thread::yield();
    } else {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
  }
  for (T v = a.load(std::memory_order_acquire); !done(v); v = a.load(std::memory_order_acquire)) {
    a.wait(v, std::memory_order_acquire);
  }
}

thread_local bool inside_region = false;

// Marks this thread as running a part, for the nested calls it may make, until the part ends
// (also by an exception).
struct RegionMark {
  RegionMark() { inside_region = true; }
  ~RegionMark() { inside_region = false; }
  RegionMark(const RegionMark&) = delete;
  RegionMark& operator=(const RegionMark&) = delete;
};

class Pool {
 public:
  explicit Pool(int threads) : size_(threads), errors_(std::size_t(threads)) {
    for (int w = 1; w < threads; ++w) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }

  // Whether the calling thread now owns the pool; false while another thread's region runs (that
  // caller then runs its region alone: two callers must not overwrite each other's region).
  bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }

  // Runs the region and releases the pool. Rethrows the exception of the lowest-numbered part
  // that threw, after every part has ended: the workers never outlive the caller's fn.
  void run(std::size_t n, std::size_t parts, detail::RangeFn fn, void* context) {
    n_ = n, fn_ = fn, context_ = context;
    done_.store(0, std::memory_order_relaxed);
    // the parts are claimed from here by whichever thread comes first, the caller included: a
    // worker the scheduler keeps off its CPU (a loaded machine) does not hold up a region it has
    // not started, the caller runs its parts instead; the ranges stay those of split_range
    ticket_.store(std::uint64_t(parts) << 32, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    claim_parts();
    wait_until(done_, [parts](std::uint32_t v) { return v == parts; });
    std::exception_ptr first;
    for (std::size_t p = 0; p < parts; ++p) {
      if (!first) first = errors_[p];
      errors_[p] = nullptr;
    }
    busy_.store(false, std::memory_order_release);
    if (first) std::rethrow_exception(first);
  }

 private:
  // Runs unclaimed parts of the current region until none is left. A claim reads the region's
  // size from the ticket itself, so a worker that wakes late takes nothing from a finished region
  // (every part of it was claimed before the caller moved on) and never reads one half written.
  void claim_parts() {
    for (;;) {
      const std::uint64_t t = ticket_.fetch_add(1, std::memory_order_acq_rel);
      const std::size_t parts = std::size_t(t >> 32), part = std::size_t(t & 0xffffffffu);
      if (part >= parts) return;
      run_part(part, parts);
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == parts) done_.notify_one();
    }
  }
  void run_part(std::size_t part, std::size_t parts) {
    const auto [begin, end] = split_range(n_, parts, part);
    const RegionMark mark;
    try {
      fn_(context_, part, begin, end);
    } catch (...) {
      errors_[part] = std::current_exception();  // one slot per part: no lock, no allocation
    }
  }
  void work() {
    unsigned seen = 0;
    for (;;) {
      wait_until(generation_, [seen](unsigned g) { return g != seen; });
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      claim_parts();
    }
  }

  int size_;
  std::vector<std::exception_ptr> errors_;  // (size_): what each part threw, if it did
  std::vector<std::thread> workers_;
  std::atomic<unsigned> generation_{0};     // bumped for each region (and to stop)
  std::atomic<std::uint64_t> ticket_{0};    // the region's parts << 32 | the next part to claim
  std::atomic<std::uint32_t> done_{0};      // the region's parts that have ended
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};
  // the current region, written before ticket_
  std::size_t n_ = 0;
  detail::RangeFn fn_ = nullptr;
  void* context_ = nullptr;
};

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> p;
  return p;
}

// The size set_threads asked for; the pool itself may be missing after a fork (below).
int& wanted_threads() {
  static int n = 1;
  return n;
}

// A child of fork() has the calling thread only: the workers its copy of the pool would wait for
// do not exist there (bench train measures each workload in a forked child). The child drops
// that copy, without joining (its destructor would wait forever), and its next parallel_for
// starts a pool of its own.
void forget_pool_in_child() { (void)pool().release(); }

// The pool, started on first use after set_threads or a fork; null for one thread.
Pool* current_pool() {
  std::unique_ptr<Pool>& p = pool();
  if (!p && wanted_threads() > 1) p = std::make_unique<Pool>(wanted_threads());
  return p.get();
}

}  // namespace

int set_threads(int threads) {
  static const bool registered = pthread_atfork(nullptr, nullptr, &forget_pool_in_child) == 0;
  (void)registered;
  const int n = std::max(1, std::min(threads, usable_cpus()));
  std::unique_ptr<Pool>& p = pool();
  if (p && p->size() != n) p.reset();
  wanted_threads() = n;
  current_pool();  // the workers start here, not inside the first region
  return n;
}

int threads() { return wanted_threads(); }

namespace detail {

void parallel_for(std::size_t n, std::size_t grain, RangeFn fn, void* context) {
  if (n == 0) return;
  Pool* p = current_pool();
  // ranges of at least `grain` (the header's promise): floor, not ceil, of n / grain
  const std::size_t most = grain > 0 ? std::max<std::size_t>(1, n / grain) : n;
  const std::size_t parts = p && !inside_region ? std::min<std::size_t>(p->size(), most) : 1;
  if (parts <= 1) {
    fn(context, 0, 0, n);
    return;
  }
  if (!p->try_acquire()) {
    // the same ranges one after the other: a kernel that reduces within a range gets the bits it
    // would get in parallel
    for (std::size_t part = 0; part < parts; ++part) {
      const auto [begin, end] = split_range(n, parts, part);
      fn(context, part, begin, end);
    }
    return;
  }
  p->run(n, parts, fn, context);
}

}  // namespace detail

}  // namespace normlab
