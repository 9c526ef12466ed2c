// Reports of a profile: Markdown for people, CSV and JSON for programs.
// Counts are printed as the integers they are; ratios as decimals, `inf`
// (JSON null) where the divisor is 0 (MODEL.md §4).
#pragma once

#include <string>

#include "laconic/file_io.hpp"
#include "laconic/profile.hpp"

namespace laconic {

std::string markdown_report(const NetworkResult& result);

// One row per layer; with `per_sample`, also one row per layer and sample.
std::string csv_report(const NetworkResult& result, bool per_sample);

// The JSON document described in the README ("JSON report").
std::string json_report(const NetworkResult& result, bool per_sample);

// Checks that `path` can be written (its directory exists and is writable)
// before a long run starts; throws laconic::Error if not.
void check_writable(const std::string& path, const std::string& option);

std::string version_string();

}  // namespace laconic
