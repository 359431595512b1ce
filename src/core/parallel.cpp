#include "core/parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
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
    for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
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
    n_ = n, parts_ = parts, fn_ = fn, context_ = context;
    // every worker acknowledges every region, taking part or not: none can still be reading
    // n_ or parts_ of this one when the next is written
    pending_.store(size_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    run_part(0);
    wait_until(pending_, [](int v) { return v == 0; });
    std::exception_ptr first;
    for (std::size_t p = 0; p < parts; ++p) {
      if (!first) first = errors_[p];
      errors_[p] = nullptr;
    }
    busy_.store(false, std::memory_order_release);
    if (first) std::rethrow_exception(first);
  }

 private:
  void run_part(std::size_t part) {
    const auto [begin, end] = split_range(n_, parts_, part);
    const RegionMark mark;
    try {
      fn_(context_, begin, end);
    } catch (...) {
      errors_[part] = std::current_exception();  // one slot per part: no lock, no allocation
    }
  }
  void work(int w) {
    unsigned seen = 0;
    for (;;) {
      wait_until(generation_, [seen](unsigned g) { return g != seen; });
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      if (std::size_t(w) < parts_) run_part(std::size_t(w));
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  int size_;
  std::vector<std::exception_ptr> errors_;  // (size_): what each part threw, if it did
  std::vector<std::thread> workers_;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};
  // the current region, written before generation_ is bumped
  std::size_t n_ = 0, parts_ = 0;
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
    fn(context, 0, n);
    return;
  }
  if (!p->try_acquire()) {
    // the same ranges one after the other: a kernel that reduces within a range gets the bits it
    // would get in parallel
    for (std::size_t part = 0; part < parts; ++part) {
      const auto [begin, end] = split_range(n, parts, part);
      fn(context, begin, end);
    }
    return;
  }
  p->run(n, parts, fn, context);
}

}  // namespace detail

}  // namespace normlab
