// The AVX-512 kernels (x86-64 only): compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl
// -mfma whatever the build's target (CMakeLists.txt), run only where the CPU has them.
#include "core/kernels.hpp"

#if defined(__x86_64__)
#define NORMLAB_KERNEL_ARCH xsimd::avx512bw
#define NORMLAB_KERNEL_NAMESPACE avx512
#define NORMLAB_KERNEL_ISA Isa::avx512
#define NORMLAB_KERNEL_ISA_NAME "avx512"
#include "core/kernels.inl"

const normlab::kernels::Table* normlab::kernels::avx512_table() { return avx512::table(); }
#else
const normlab::kernels::Table* normlab::kernels::avx512_table() { return nullptr; }
#endif
