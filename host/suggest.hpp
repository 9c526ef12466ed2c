// "Did you mean": the known name closest to one the user wrote, for messages
// about unknown keys and names (manifests, configuration files, option values).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace laconic {

// Levenshtein distance (insertions, deletions, substitutions of bytes).
std::size_t edit_distance(const std::string& a, const std::string& b);

// The allowed name closest to `name` (compared in lower case) within edit
// distance 2; empty when none is that close.
std::string nearest_name(const std::string& name, const std::vector<std::string>& allowed);

// What to append to a message about the unknown `name`: " (did you mean 'x'?)"
// for the allowed name closest to it (case-insensitive) within distance 2, or
// "; <what>: a b c" listing every allowed name.
std::string unknown_name_hint(const std::string& name, const std::vector<std::string>& allowed,
                              const std::string& what = "allowed keys");

}  // namespace laconic
