#include "laconic/config.hpp"

#include "laconic/error.hpp"

namespace laconic {

void ProfileConfig::validate() const {
  auto positive = [](std::int64_t v, const char* what) {
    if (v <= 0) throw Error(std::string("--") + what + " must be a positive number, not " + std::to_string(v));
    if (v > (1 << 20)) throw Error(std::string("--") + what + " is implausibly large: " + std::to_string(v));
  };
  positive(geometry.tiles, "tiles");
  positive(geometry.rows, "rows");
  positive(geometry.columns, "columns");
  positive(geometry.lanes, "lanes");
  if (baseline_width < 1 || baseline_width > 32)
    throw Error("--baseline-width must be between 1 and 32 bits, not " + std::to_string(baseline_width));
}

}  // namespace laconic
