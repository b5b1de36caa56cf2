// The fused CPU AdamW update (see optimizer.cpp). A file of its own, without LibTorch, so it can
// be compiled with -fno-math-errno (sqrt then vectorises) without touching the other sources'
// precompiled header.
#include <cmath>
#include <cstdint>

namespace mixhic {

void adamw_cpu_range(float* p, const float* g, float* m, float* v, int64_t begin, int64_t end, float decay, float b1,
                     float b2, float step_size, float bc2_sqrt, float eps) {
  const float c1 = 1 - b1, c2 = 1 - b2;
  for (int64_t i = begin; i < end; ++i) {
    const float gi = g[i];
    const float mi = m[i] * b1 + c1 * gi;
    const float vi = v[i] * b2 + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
  }
}

}  // namespace mixhic
