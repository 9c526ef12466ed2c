// One pass over values [first, first + count) of a TensorSource, in chunks
// small enough to stay in cache; threads share the chunks when `parallel`.
// Each thread owns a `Local` (per-thread sums) that `merge` folds in at the
// end. An invalid value throws the error of the first chunk that has one,
// whatever the thread order (first_error.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "first_error.hpp"
#include "laconic/tensor.hpp"

namespace laconic {

// body(values, n, offset, local): the n values read for elements
// first + offset … first + offset + n − 1.
template <class Local, class Body, class Merge>
void read_in_chunks(const TensorSource& source, std::uint64_t first, std::uint64_t count, bool parallel, Body body,
                    Merge merge) {
  constexpr std::uint64_t kChunk = 1 << 14;
  const auto chunks = static_cast<std::int64_t>((count + kChunk - 1) / kChunk);
  FirstError error;
#pragma omp parallel if (parallel && chunks > 1)
  {
    std::vector<std::int64_t> values(static_cast<std::size_t>(std::min(count, kChunk)));
    Local local{};
#pragma omp for schedule(static)
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
      const std::uint64_t offset = static_cast<std::uint64_t>(chunk) * kChunk;
      const std::uint64_t n = std::min(kChunk, count - offset);
      try {
        source.read(first + offset, n, values.data());
        body(values.data(), n, offset, local);
      } catch (...) {
        error.record(chunk);
      }
    }
#pragma omp critical(laconic_read_in_chunks)
    merge(local);
  }
  error.rethrow();
}

}  // namespace laconic
