// rng.hpp — the counter-based random numbers every reproducible draw in mixhic uses (sample
// order, augmentation, synthetic genomes, negative loop pairs): splitmix64, with uniforms and
// normals computed by hand so that no draw depends on a standard library's distributions.
#pragma once

#include <cmath>
#include <cstdint>

namespace mixhic {

// splitmix64's output function of x + golden gamma: a well-mixed 64-bit value of x.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// A splitmix64 stream: next() advances the state by the golden gamma and mixes it.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    const uint64_t x = splitmix64(s_);
    s_ += 0x9E3779B97F4A7C15ULL;
    return x;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n).
  int64_t below(int64_t n) {
    const auto k = static_cast<int64_t>(uniform() * static_cast<double>(n));
    return k < n - 1 ? k : n - 1;
  }
  // Standard normal (Box-Muller, one of the pair).
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  uint64_t state() const { return s_; }

 private:
  uint64_t s_;
};

}  // namespace mixhic
