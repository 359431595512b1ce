// The kernels for the build's own target, which every CPU it builds for runs: SSE2 on x86-64
// (or more under -march=...), NEON on AArch64. xsimd::default_arch is the widest the compiler
// flags allow.
#include "core/kernels.hpp"

#define NORMLAB_KERNEL_ARCH xsimd::default_arch
#define NORMLAB_KERNEL_NAMESPACE generic
#define NORMLAB_KERNEL_ISA Isa::generic
#define NORMLAB_KERNEL_ISA_NAME "generic"
#include "core/kernels.inl"

const normlab::kernels::Table* normlab::kernels::generic_table() { return generic::table(); }
