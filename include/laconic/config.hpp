// What to compute and on which accelerator geometry (MODEL.md §4, §5).
#pragma once

#include <cstdint>
#include <string>

#include "laconic/terms.hpp"

namespace laconic {

// T tiles, each of Rt rows (filters) × Ct columns (windows) × L lanes
// (channels); T·Rt filters are in flight (§5).
struct Geometry {
  std::int64_t tiles = 16;    // T
  std::int64_t rows = 16;     // Rt
  std::int64_t columns = 16;  // Ct
  std::int64_t lanes = 16;    // L
  std::int64_t filters_in_flight() const { return tiles * rows; }
  friend bool operator==(const Geometry& a, const Geometry& b) {
    return a.tiles == b.tiles && a.rows == b.rows && a.columns == b.columns && a.lanes == b.lanes;
  }
};

struct ProfileConfig {
  Encoding encoding = Encoding::booth;
  Geometry geometry;
  int baseline_width = 16;  // P_base, the bit-parallel operand width (§2, §4)
  // Which figures to compute; the benchmark times them separately. Term
  // statistics are always computed.
  bool compute_work = true;
  bool compute_cycles = true;

  void validate() const;  // throws laconic::Error on a non-positive size or width
};

}  // namespace laconic
