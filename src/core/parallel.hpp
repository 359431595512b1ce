// Threads inside one run, for the parts of a step outside BLAS (attention heads, element-wise
// layers, normalizer rows, the panel GEMM): a fixed pool and a static split.
//
// parallel_for(n, fn) calls fn(begin, end) on contiguous ranges that cover [0, n) once, at most
// threads() of them at a time, and returns when all are done. The split depends only on n and
// threads(), never on timing, so a kernel that writes each index's result from that index's inputs
// alone gives the same bits on any thread count, and one that reduces within a range gives the
// same bits for a given thread count. Which thread runs which range is not fixed: the ranges go
// to whichever thread is free first, the caller included, so that a worker the scheduler keeps
// waiting (a shared machine) delays no region it has not started.
//
// If parts throw, the exception of the lowest-numbered one is rethrown once every part has ended
// (the others are dropped). No allocation per call: the trainer's step stays allocation-free with
// threads. A parallel_for called from inside another runs serially on the calling thread, as one
// range; one called from another thread while the pool is busy runs its ranges one after the
// other on that thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace normlab {

// The pool's size: 1 runs everything on the caller. Capped at usable_cpus() (more only contend).
// Returns the count set. Not to be called while a parallel_for runs. A child of fork() keeps the
// count and starts workers of its own on its first parallel_for.
int set_threads(int threads);
int threads();

namespace detail {
using RangeFn = void (*)(void* context, std::size_t part, std::size_t begin, std::size_t end);
void parallel_for(std::size_t n, std::size_t grain, RangeFn fn, void* context);
}  // namespace detail

// fn(begin, end) over [0, n) in up to threads() ranges of at least `grain` indices each (a range
// is not worth a thread below that).
template <class F>
void parallel_for(std::size_t n, std::size_t grain, F&& fn) {
  detail::parallel_for(
      n, grain,
      [](void* c, std::size_t, std::size_t begin, std::size_t end) {
        (*static_cast<std::remove_reference_t<F>*>(c))(begin, end);  // F may be a reference
      },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

// As parallel_for, with fn(part, begin, end): `part` < threads() numbers the range, for working
// memory the caller keeps one of per part (threads() of them, owned by the calling thread). Memory
// per thread (thread_local) would be first touched whenever a worker first takes a range, which
// may be late in a run: a step would allocate.
template <class F>
void parallel_for_parts(std::size_t n, std::size_t grain, F&& fn) {
  detail::parallel_for(
      n, grain,
      [](void* c, std::size_t part, std::size_t begin, std::size_t end) {
        (*static_cast<std::remove_reference_t<F>*>(c))(part, begin, end);
      },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

// parallel_for for an element-wise kernel over [0, n): ranges of at least `grain` elements that
// start at multiples of kElementAlignment, so that a kernel with a vector loop and a scalar tail
// (or an alignment prologue) gives each element the bits one call over [0, n) gives it.
inline constexpr std::size_t kElementAlignment = 64;
template <class F>
void parallel_for_elements(std::size_t n, std::size_t grain, F&& fn) {
  constexpr std::size_t a = kElementAlignment;
  parallel_for((n + a - 1) / a, (grain + a - 1) / a, [&](std::size_t first, std::size_t last) {
    fn(first * a, std::min(n, last * a));
  });
}

// The range that part `part` of `parts` gets of [0, n): the split parallel_for uses.
inline std::pair<std::size_t, std::size_t> split_range(std::size_t n, std::size_t parts,
                                                       std::size_t part) {
  const std::size_t base = n / parts, extra = n % parts;
  const std::size_t begin = part * base + (part < extra ? part : extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

// Rows per block for a kernel over rows of `row_length` elements whose sums over rows must not
// depend on the thread count: it sums within each block in row order, then over the blocks in
// block order, and splits blocks, never rows of one block, across threads. Depends on the row
// length alone; about `elements` elements per block (a few microseconds of work: more than waking
// a thread costs), a power of two rows. One block is a plain loop over the rows.
inline std::size_t block_rows(std::size_t row_length, std::size_t elements = 8192) {
  const std::size_t rows = row_length ? (elements + row_length - 1) / row_length : elements;
  return std::bit_ceil(std::max<std::size_t>(1, rows));
}

}  // namespace normlab
