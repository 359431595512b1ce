// The replaced global operator new and delete ([new.delete] in the C++ standard: every
// replaceable form). Each new is malloc (posix_memalign when over-aligned) plus one relaxed atomic
// increment, each delete is free: the counting costs a few nanoseconds per call and changes no
// allocation pattern. The throwing forms loop on the new-handler as the standard's do.
#include "bench/alloc_count.hpp"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace normlab::alloc_count {

namespace {
// Constant-initialized: valid before any static constructor runs (those may allocate).
std::atomic<std::uint64_t> g_allocations{0}, g_deallocations{0}, g_bytes{0};

void* allocate(std::size_t size, std::size_t alignment) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(size, std::memory_order_relaxed);
  if (size == 0) size = 1;  // a distinct non-null pointer for new of zero bytes
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  void* p = nullptr;
  if (alignment < sizeof(void*)) alignment = sizeof(void*);
  return posix_memalign(&p, alignment, size) == 0 ? p : nullptr;
}

void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  for (;;) {
    if (void* p = allocate(size, alignment)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void* allocate_nothrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate_or_throw(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

void release(void* p) noexcept {
  if (!p) return;
  g_deallocations.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}

constexpr std::size_t kDefault = alignof(std::max_align_t);
}  // namespace

std::uint64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }
std::uint64_t deallocations() { return g_deallocations.load(std::memory_order_relaxed); }
std::uint64_t bytes() { return g_bytes.load(std::memory_order_relaxed); }

}  // namespace normlab::alloc_count

using normlab::alloc_count::allocate_nothrow;
using normlab::alloc_count::allocate_or_throw;
using normlab::alloc_count::kDefault;
using normlab::alloc_count::release;

void* operator new(std::size_t n) { return allocate_or_throw(n, kDefault); }
void* operator new[](std::size_t n) { return allocate_or_throw(n, kDefault); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, kDefault);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, kDefault);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return allocate_or_throw(n, std::size_t(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return allocate_or_throw(n, std::size_t(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, std::size_t(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, std::size_t(a));
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
