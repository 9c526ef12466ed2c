// Writing files so that a failure never leaves one that looks complete.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace laconic {

// Writes the concatenation of `parts` to a temporary file beside `path`
// (path.tmp.<pid>.<n>, so concurrent writers of one path stay apart) and
// renames it into place. On any failure the temporary file is removed and
// laconic::Error names `path` and the reason.
void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> parts);

inline void write_file_atomically(const std::string& path, std::string_view content) {
  write_file_atomically(path, {content});
}

}  // namespace laconic
