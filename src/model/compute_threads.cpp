// See include/mixhic/compute_threads.hpp.
#include "mixhic/compute_threads.hpp"

#include <dlfcn.h>

namespace mixhic {

void set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  // Looked up at run time: the symbol exists only when LibTorch uses OpenBLAS.
  if (auto* set_blas = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas(threads);
}

}  // namespace mixhic
