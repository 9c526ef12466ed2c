// Command-line values as the CLI reads them (host/main.cpp): every problem is
// a UsageError that names the option and the value, before any work starts.
#pragma once

#include <cstdint>
#include <cxxopts.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace laconic::cli {

// Bad usage: exit status 2, printed as "laconic: error: ...".
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Refuses an option's value that looks like another option: `--json -q`
// would otherwise write a file named "-q" and not be quiet. A value that
// starts with '-' is accepted when it is "-" alone or starts with a number
// ("-1", "-1/2": the option checks it); a file whose name starts with '-'
// can be given as ./-q. Also refuses an option given twice with different
// values (`--shard 1/3 ... --shard 2/3`: one would silently win), except
// the options in `repeatable`, which apply each value in order.
void check_values(const cxxopts::ParseResult& r, const std::vector<std::string>& repeatable = {});

// options.parse(argc, argv), after refusing a long option `options` does not
// know with a UsageError that suggests the nearest one ("unknown option
// --jsn (did you mean --json?)"); `command` names the subcommand for --help.
cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv, const std::string& command);

// Whole-number options, given as text so that `--samples two` names the
// option: the value of --name, at least `minimum`.
std::int64_t whole_number(const cxxopts::ParseResult& r, const std::string& name, std::int64_t minimum);
inline std::int64_t positive(const cxxopts::ParseResult& r, const std::string& name) {
  return whole_number(r, name, 1);
}
// A fraction in [0, 1].
double fraction(const cxxopts::ParseResult& r, const std::string& name);

// A path option. "-" means standard output where `stdout_allowed` (the
// caller says so in --help), else it is refused as a usage error.
std::string path_option(const cxxopts::ParseResult& r, const std::string& name, bool stdout_allowed);

// --layers: comma-separated names with surrounding spaces trimmed; an empty
// list or an empty name is a usage error.
std::vector<std::string> layer_list(const std::string& text);

}  // namespace laconic::cli
