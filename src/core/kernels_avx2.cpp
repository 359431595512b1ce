// The AVX2 + FMA kernels (x86-64 only): compiled with -mavx2 -mfma whatever the build's target
// (CMakeLists.txt), run only where the CPU has them.
#include "core/kernels.hpp"

#if defined(__x86_64__)
#define NORMLAB_KERNEL_ARCH xsimd::fma3<xsimd::avx2>
#define NORMLAB_KERNEL_NAMESPACE avx2
#define NORMLAB_KERNEL_ISA Isa::avx2
#define NORMLAB_KERNEL_ISA_NAME "avx2"
#include "core/kernels.inl"

const normlab::kernels::Table* normlab::kernels::avx2_table() { return avx2::table(); }
#else
const normlab::kernels::Table* normlab::kernels::avx2_table() { return nullptr; }
#endif
