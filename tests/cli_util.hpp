// Running the built `laconic` binary (LACONIC_BINARY) from a test as a user
// does: through the shell, stdout and stderr captured in files, the exit
// status decoded. Used by the bad-input and determinism suites.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace laconic::test {

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct CliResult {
  std::string command;
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;

  std::string describe() const {
    auto cut = [](const std::string& s) { return s.size() <= 3000 ? s : s.substr(0, 3000) + "\n..."; };
    return "\n  command: " + command + "\n  exit status: " + std::to_string(status) + "\n  stdout:\n" + cut(out) +
           "\n  stderr:\n" + cut(err);
  }
};

// Runs `laconic args...` with stdout and stderr in files under `scratch`.
inline CliResult run_cli(const std::vector<std::string>& args, const TempDir& scratch) {
  static int counter = 0;
  const int id = counter++;
  const std::string out_path = scratch.file(".cli-stdout." + std::to_string(id));
  const std::string err_path = scratch.file(".cli-stderr." + std::to_string(id));
  CliResult run;
  run.command = shell_quote(binary_path());
  for (const auto& a : args) run.command += " " + shell_quote(a);
  const std::string full = run.command + " >" + shell_quote(out_path) + " 2>" + shell_quote(err_path) + " </dev/null";
  const int raw = std::system(full.c_str());
  if (raw != -1 && WIFEXITED(raw)) run.status = WEXITSTATUS(raw);
  else if (raw != -1 && WIFSIGNALED(raw)) run.status = 128 + WTERMSIG(raw);
  run.out = read_text(out_path);
  run.err = read_text(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return run;
}

inline bool contains(const std::string& text, const std::string& phrase) {
  return text.find(phrase) != std::string::npos;
}

// The names in `dir`, sorted.
inline std::vector<std::string> listing(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace laconic::test
