// Writing files so that a failure never leaves one that looks complete.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace laconic {

// The file a path names after following symbolic links (a link's relative
// target is relative to the link's directory); the path itself when it is
// not a link. A report written to a symlink goes through it to its target,
// so the link stays a link. Throws laconic::Error naming `path` for a loop
// of links.
std::string resolve_symlinks(const std::string& path);

// Writes the concatenation of `parts` to a temporary file beside `path`
// (path.tmp.<pid>.<n>, so concurrent writers of one path stay apart) and
// renames it into place; the file is synced before the rename and its
// directory after (LevelDB's SetCurrentFile), so that a crash leaves either
// the old file or the whole new one; a symbolic link is written through to
// its target (resolve_symlinks). On any failure the temporary file is removed
// and laconic::Error names `path` and the reason.
void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> parts);

inline void write_file_atomically(const std::string& path, std::string_view content) {
  write_file_atomically(path, {content});
}

// Several files (path, content) written as one: every content goes to a
// temporary file beside its path, and only when all of them are written are
// they renamed into place. If a write fails, no file is touched and every
// temporary file is removed. (A rename failing after another succeeded, on a
// path that passed every write, cannot be undone; it is reported all the same.)
void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace laconic
