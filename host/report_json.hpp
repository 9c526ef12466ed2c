// The JSON form of a configuration, shared by the profile report and the
// comparison (README "JSON report"). Internal to the library: public headers
// do not expose nlohmann::json.
#pragma once

#include <nlohmann/json.hpp>

#include "laconic/compare.hpp"
#include "laconic/config.hpp"

namespace laconic {

// The report's "config" object without "sample_limit" and "source":
// {"preset": name or null, "encoding", "baseline_width", "accelerators":
// {"baseline": {"tiles", "rows", "columns", "lanes"}, "stripes": {...},
// "pragmatic": {..., "column_registers", "shifter_bits" (null: B = ∞)},
// "laconic": {..., "column_registers"}}, "depthwise", "fold_first_layer"}.
nlohmann::ordered_json settings_json(const ProfileConfig& config);

// The report's "config" object read back (settings checked as the profile
// checked them, "preset" against them, "sample_limit", "source"); errors
// name `path` and the field (compare.cpp).
ReportConfig read_report_config(const nlohmann::json& config, const std::string& path);

}  // namespace laconic
