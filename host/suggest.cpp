#include "suggest.hpp"

#include <algorithm>
#include <cctype>

namespace laconic {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string nearest_name(const std::string& name, const std::vector<std::string>& allowed) {
  std::string lowered = name;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& key : allowed) {
    const std::size_t d = edit_distance(lowered, key);
    if (d < best_distance) {
      best_distance = d;
      best = key;
    }
  }
  return best;
}

std::string unknown_name_hint(const std::string& name, const std::vector<std::string>& allowed,
                              const std::string& what) {
  const std::string best = nearest_name(name, allowed);
  if (!best.empty()) return " (did you mean '" + best + "'?)";
  std::string list = "; " + what + ":";
  for (const auto& key : allowed) list += " " + key;
  return list;
}

}  // namespace laconic
