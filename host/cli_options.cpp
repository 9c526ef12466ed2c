#include "cli_options.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "suggest.hpp"

namespace laconic::cli {

namespace {

bool is_number(const std::string& text) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

void check_values(const cxxopts::ParseResult& r, const std::vector<std::string>& repeatable) {
  std::map<std::string, std::string> given;
  for (const auto& kv : r.arguments()) {
    const std::string& value = kv.value();
    const bool numeric = value.size() > 1 && (std::isdigit(static_cast<unsigned char>(value[1])) != 0 || is_number(value));
    if (value.size() > 1 && value[0] == '-' && !numeric)
      throw UsageError("--" + kv.key() + " takes a value, but was given '" + value +
                       "', which looks like an option (give the value after --" + kv.key() +
                       "; a file of that name is ./" + value + ")");
    if (std::find(repeatable.begin(), repeatable.end(), kv.key()) != repeatable.end()) continue;
    const auto [it, fresh] = given.emplace(kv.key(), value);
    if (!fresh && it->second != value)
      throw UsageError("--" + kv.key() + " is given twice, as '" + it->second + "' and as '" + value +
                       "'; give it once");
  }
}

cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv, const std::string& command) {
  std::vector<std::string> known;
  for (const std::string& group : options.groups())
    for (const auto& option : options.group_help(group).options)
      for (const std::string& name : option.l) known.push_back(name);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;  // the rest are positional
    if (arg.size() <= 2 || arg.compare(0, 2, "--") != 0) continue;
    const std::string name = arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    const std::string nearest = nearest_name(name, known);
    throw UsageError("unknown option --" + name + (nearest.empty() ? "" : " (did you mean --" + nearest + "?)") +
                     "; see laconic " + command + " --help");
  }
  return options.parse(argc, argv);
}

std::int64_t whole_number(const cxxopts::ParseResult& r, const std::string& name, std::int64_t minimum) {
  const std::string text = r[name].as<std::string>();
  const std::string what = minimum >= 1 ? "a positive whole number" : "a whole number of at least " +
                                                                          std::to_string(minimum);
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE)
    throw UsageError("--" + name + " must be " + what + ", not '" + text + "'");
  if (value < minimum) throw UsageError("--" + name + " must be " + what + ", not " + text);
  return value;
}

double fraction(const cxxopts::ParseResult& r, const std::string& name) {
  const std::string text = r[name].as<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value < 0 || value > 1)
    throw UsageError("--" + name + " must be a fraction between 0 and 1, not '" + text + "'");
  return value;
}

std::string path_option(const cxxopts::ParseResult& r, const std::string& name, bool stdout_allowed) {
  const std::string path = r[name].as<std::string>();
  if (path.empty()) throw UsageError("--" + name + " needs a file name, not an empty one");
  if (path == "-" && !stdout_allowed)
    throw UsageError("--" + name + " needs a file name: '-' (standard input or output) is not read or written here");
  return path;
}

std::vector<std::string> layer_list(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const std::string name = trimmed(item);
    if (name.empty())
      throw UsageError("--layers '" + text + "': an empty layer name (names are separated by commas)");
    names.push_back(name);
  }
  if (names.empty()) throw UsageError("--layers needs at least one layer name");
  return names;
}

}  // namespace laconic::cli
