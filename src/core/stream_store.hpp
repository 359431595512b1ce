// Copies with non-temporal (streaming) stores, for outputs too large for any cache to keep for
// their next reader. An ordinary store to a line not in cache first reads the line
// (read-for-ownership), so a kernel writing a large output moves three tensors' worth of bytes for
// two; a streaming store writes whole lines without reading them, as glibc's memcpy does above
// its own threshold. Below the threshold ordinary stores are right: the next layer reads the
// output from cache.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

namespace normlab {

// Outputs of at least this many bytes are streamed: 8x a core's L2 here (2 MiB), beyond the
// activations a training step keeps resident between two layers.
inline constexpr std::size_t kStreamingStoreBytes = std::size_t(16) << 20;
// ... when written in rows of at least this many bytes. Rows of 64 and 256 floats streamed out
// one by one ran at 48% and 72% of memcpy, against 76% and 78% with ordinary stores (bench norms);
// rows of 1024 at 84-88% against 64-68%.
inline constexpr std::size_t kStreamingRowBytes = 4096;

// Whether a kernel writing `rows` rows of `row_bytes` each should stream them.
inline bool stream_output(std::size_t rows, std::size_t row_bytes) {
  return row_bytes >= kStreamingRowBytes && rows * row_bytes >= kStreamingStoreBytes;
}

namespace detail {
constexpr std::size_t kVectorBytes =
#if defined(__AVX512F__)
    64;
#elif defined(__AVX__)
    32;
#else
    0;
#endif

inline void stream_vector(float* dst, const float* src) {
#if defined(__AVX512F__)
  _mm512_stream_ps(dst, _mm512_loadu_ps(src));
#elif defined(__AVX__)
  _mm256_stream_ps(dst, _mm256_loadu_ps(src));
#else
  (void)dst, (void)src;
#endif
}
inline void stream_vector(double* dst, const double* src) {
#if defined(__AVX512F__)
  _mm512_stream_pd(dst, _mm512_loadu_pd(src));
#elif defined(__AVX__)
  _mm256_stream_pd(dst, _mm256_loadu_pd(src));
#else
  (void)dst, (void)src;
#endif
}
}  // namespace detail

// dst[0..n) <- src[0..n), the aligned whole vectors with streaming stores. Call stream_fence()
// before another thread (or a later ordinary store's reader) relies on the data.
template <class T>
void stream_copy(T* dst, const T* src, std::size_t n) {
  std::size_t j = 0;
  if constexpr (detail::kVectorBytes > 0) {
    constexpr std::size_t lanes = detail::kVectorBytes / sizeof(T);
    for (; j < n && reinterpret_cast<std::uintptr_t>(dst + j) % detail::kVectorBytes != 0; ++j) {
      dst[j] = src[j];
    }
    for (; j + lanes <= n; j += lanes) detail::stream_vector(dst + j, src + j);
  }
  for (; j < n; ++j) dst[j] = src[j];
}

// Orders the streaming stores before every later store (sfence).
inline void stream_fence() {
#if defined(__AVX512F__) || defined(__AVX__)
  _mm_sfence();
#endif
}

}  // namespace normlab
