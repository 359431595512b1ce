// A counting allocator: alloc_count.cpp replaces the global operator new and delete (every
// standard form: plain, array, nothrow, aligned, sized) with malloc/free plus a relaxed atomic
// counter, so that a benchmark can show how many heap allocations a piece of code makes
// (`normlab bench train`: allocations per training step). It counts C++ allocations only: the
// mallocs of C libraries (OpenBLAS, HDF5) go around operator new and are not seen.
//
// The replacement is linked into every program that links normlab_lib and refers to this header's
// functions (the static library's object is pulled in by that reference; bench_train does).
//
//   const auto before = alloc_count::allocations();
//   step();
//   const auto n = alloc_count::allocations() - before;  // operator new calls inside step()
#pragma once

#include <cstdint>

namespace normlab::alloc_count {

std::uint64_t allocations();    // operator new calls (every form) since the program started
std::uint64_t deallocations();  // operator delete calls on a non-null pointer
std::uint64_t bytes();          // bytes asked for by those operator new calls

}  // namespace normlab::alloc_count
