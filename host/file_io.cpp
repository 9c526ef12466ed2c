#include "laconic/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "laconic/error.hpp"

namespace laconic {
namespace {

std::string errno_text(int err) { return std::system_category().message(err); }

// Returns 0 or an errno value.
int write_all(int fd, const char* bytes, std::uint64_t size) {
  constexpr std::uint64_t kChunk = std::uint64_t(1) << 30;  // Linux caps one write() near 2 GiB
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, static_cast<std::size_t>(std::min(size, kChunk)));
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (written == 0) return EIO;
    bytes += written;
    size -= static_cast<std::uint64_t>(written);
  }
  return 0;
}

// Writes `parts` to a new temporary file beside `path` and returns its name;
// on failure removes it and throws.
std::string write_temporary(const std::string& path, std::initializer_list<std::string_view> parts) {
  static std::atomic<unsigned> temp_counter{0};
  const std::string temp_path =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(temp_counter.fetch_add(1));
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(path + ": cannot create temporary file " + temp_path + ": " + errno_text(errno));
  int err = 0;
  for (std::string_view part : parts)
    if (err == 0) err = write_all(fd, part.data(), part.size());
  // Durable before it is renamed into place: a crash must not leave an empty
  // file under the final name.
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  // close() errors matter when writing (NFS, quotas).
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(temp_path.c_str());
    throw Error(path + ": cannot write: " + errno_text(err));
  }
  return temp_path;
}

void rename_into_place(const std::string& temp_path, const std::string& path) {
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path.c_str());
    throw Error(path + ": cannot rename " + temp_path + " into place: " + errno_text(err));
  }
}

// The directory holding `path`, synced so that the rename survives a crash.
// File systems that cannot sync a directory (EINVAL) are taken as they are.
void sync_parent_directory(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open its directory " + dir + " to sync it: " + errno_text(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS)
    throw Error(path + ": cannot sync its directory " + dir + ": " + errno_text(err));
}

}  // namespace

std::string resolve_symlinks(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!fs::is_symlink(p, ec)) return p.string();
    const fs::path target = fs::read_symlink(p, ec);
    if (ec) throw Error(path + ": cannot read the symbolic link " + p.string() + ": " + ec.message());
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  throw Error(path + ": too many levels of symbolic links");
}

void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> parts) {
  const std::string target = resolve_symlinks(path);
  rename_into_place(write_temporary(target, parts), target);
  sync_parent_directory(target);
}

void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::string> temporaries, targets;
  for (const auto& file : files) targets.push_back(resolve_symlinks(file.first));
  try {
    for (std::size_t i = 0; i < files.size(); ++i) temporaries.push_back(write_temporary(targets[i], {files[i].second}));
  } catch (...) {
    for (const auto& temp_path : temporaries) ::unlink(temp_path.c_str());
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    try {
      rename_into_place(temporaries[i], targets[i]);
    } catch (...) {
      for (std::size_t j = i + 1; j < files.size(); ++j) ::unlink(temporaries[j].c_str());
      throw;
    }
  }
  for (const auto& target : targets) sync_parent_directory(target);  // where the renames went
}

}  // namespace laconic
