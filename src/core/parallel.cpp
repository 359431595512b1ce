#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
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

template <class T, class Pred>
void wait_until(const std::atomic<T>& a, Pred done) {
  for (int i = 0; i < kSpins; ++i) {
    if (done(a.load(std::memory_order_acquire))) return;
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  for (T v = a.load(std::memory_order_acquire); !done(v); v = a.load(std::memory_order_acquire)) {
    a.wait(v, std::memory_order_acquire);
  }
}

thread_local bool inside_region = false;

class Pool {
 public:
  explicit Pool(int threads) : size_(threads) {
    for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
  }
  ~Pool() {
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }

  void run(std::size_t n, std::size_t parts, detail::RangeFn fn, void* context) {
    n_ = n, parts_ = parts, fn_ = fn, context_ = context;
    // every worker acknowledges every region, taking part or not: none can still be reading
    // n_ or parts_ of this one when the next is written
    pending_.store(size_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    run_part(0);
    wait_until(pending_, [](int v) { return v == 0; });
  }

 private:
  void run_part(std::size_t part) {
    const auto [begin, end] = split_range(n_, parts_, part);
    inside_region = true;
    fn_(context_, begin, end);
    inside_region = false;
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
  std::vector<std::thread> workers_;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  // the current region, written before generation_ is bumped
  std::size_t n_ = 0, parts_ = 0;
  detail::RangeFn fn_ = nullptr;
  void* context_ = nullptr;
};

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> p;
  return p;
}

}  // namespace

int set_threads(int threads) {
  const int n = std::max(1, std::min(threads, usable_cpus()));
  std::unique_ptr<Pool>& p = pool();
  if (n == 1) {
    p.reset();
  } else if (!p || p->size() != n) {
    p.reset();
    p = std::make_unique<Pool>(n);
  }
  return n;
}

int threads() {
  const std::unique_ptr<Pool>& p = pool();
  return p ? p->size() : 1;
}

namespace detail {

void parallel_for(std::size_t n, std::size_t grain, RangeFn fn, void* context) {
  if (n == 0) return;
  Pool* p = pool().get();
  const std::size_t most = grain > 0 ? (n + grain - 1) / grain : n;
  const std::size_t parts = p && !inside_region ? std::min<std::size_t>(p->size(), most) : 1;
  if (parts <= 1) {
    fn(context, 0, n);
    return;
  }
  p->run(n, parts, fn, context);
}

}  // namespace detail

}  // namespace normlab
