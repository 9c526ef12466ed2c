#include "laconic/run/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "laconic/error.hpp"
#include "laconic/run/identity.hpp"

namespace laconic::run {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::system_category().message(err); }

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string words_to_bytes(const std::vector<std::uint64_t>& words) {
  std::string bytes(words.size() * 8, '\0');
  for (std::size_t i = 0; i < words.size(); ++i)
    for (int b = 0; b < 8; ++b) bytes[i * 8 + static_cast<std::size_t>(b)] = static_cast<char>((words[i] >> (8 * b)) & 0xff);
  return bytes;
}

std::vector<std::uint64_t> bytes_to_words(const char* p, std::size_t size) {
  std::vector<std::uint64_t> words(size / 8);
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i * 8 + static_cast<std::size_t>(b)])) << (8 * b);
    words[i] = v;
  }
  return words;
}

// Returns 0 or an errno value.
int write_all(int fd, const char* bytes, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (written == 0) return EIO;
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
  return 0;
}

void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error("checkpoint " + dir + ": cannot open the directory to sync it: " + errno_text(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) throw Error("checkpoint " + dir + ": cannot sync the directory: " + errno_text(err));
}

// "<tag>.<n>.log" -> n, or -1.
long log_number(const std::string& name, const std::string& tag) {
  const std::string prefix = tag + ".", suffix = ".log";
  if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
    return -1;
  return std::stol(digits);
}

}  // namespace

std::string frame_record(const std::string& payload) {
  std::string out;
  out.reserve(8 + payload.size());
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u32(out, crc32_of(payload.data(), payload.size()));
  out += payload;
  return out;
}

// Syncs the log in the background: each append asks for a sync of
// everything written so far; one fdatasync covers every record written
// before it starts.
struct CheckpointWriter::Syncer {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t written = 0, synced = 0;  // records
  int error = 0;                          // errno of a failed sync
  bool stop = false;
  std::thread thread;

  explicit Syncer(int fd) {
    thread = std::thread([this, fd] {
      std::unique_lock<std::mutex> lock(mutex);
      for (;;) {
        changed.wait(lock, [&] { return stop || written > synced; });
        if (written == synced) return;  // stopping, nothing left to sync
        const std::uint64_t target = written;
        lock.unlock();
        const int err = ::fdatasync(fd) == 0 ? 0 : errno;
        lock.lock();
        if (err != 0 && error == 0) error = err;
        synced = target;
        changed.notify_all();
      }
    });
  }
  ~Syncer() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    changed.notify_all();
    thread.join();
  }
};

CheckpointWriter::CheckpointWriter(const std::string& dir, const std::string& tag, const std::string& identity) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec))
    throw Error("--checkpoint " + dir + ": cannot create the directory" + (ec ? ": " + ec.message() : std::string()));
  const std::string lock_path = (fs::path(dir) / (tag + ".lock")).string();
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw Error("checkpoint " + lock_path + ": cannot create the lock file: " + errno_text(errno));
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(lock_fd_, F_SETLK, &lock) != 0) {
    const int err = errno;
    struct flock holder {};
    holder.l_type = F_WRLCK;
    holder.l_whence = SEEK_SET;
    std::string who;
    if (::fcntl(lock_fd_, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK)
      who = " (process " + std::to_string(holder.l_pid) + ")";
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (err == EACCES || err == EAGAIN)
      throw Error("checkpoint " + dir + ": another laconic run" + who + " is writing it (it holds " + lock_path +
                  "); wait for it to end or use another --checkpoint directory");
    throw Error("checkpoint " + lock_path + ": cannot lock: " + errno_text(err));
  }
  long next = 1;
  for (const auto& entry : fs::directory_iterator(dir, ec)) next = std::max(next, log_number(entry.path().filename().string(), tag) + 1);
  path_ = (fs::path(dir) / (tag + "." + std::to_string(next) + ".log")).string();
  log_fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd_ < 0) {
    const int err = errno;
    ::close(lock_fd_);
    throw Error("checkpoint " + path_ + ": cannot create the log: " + errno_text(err));
  }
  const std::string head = std::string(kCheckpointMagic) + frame_record(identity);
  int err = write_all(log_fd_, head.data(), head.size());
  if (err == 0 && ::fsync(log_fd_) != 0) err = errno;
  if (err != 0) {
    ::close(log_fd_);
    ::close(lock_fd_);
    throw Error("checkpoint " + path_ + ": cannot write: " + errno_text(err));
  }
  // The new name must survive a crash before the first unit does.
  try {
    sync_directory(dir);
  } catch (...) {
    ::close(log_fd_);
    ::close(lock_fd_);
    throw;
  }
  syncer_ = std::make_unique<Syncer>(log_fd_);
}

CheckpointWriter::~CheckpointWriter() {
  syncer_.reset();  // its last sync done
  if (log_fd_ >= 0) ::close(log_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

void CheckpointWriter::append(const std::vector<std::uint64_t>& words) {
  const std::string record = frame_record(words_to_bytes(words));
  const int err = write_all(log_fd_, record.data(), record.size());
  if (err != 0) throw Error("checkpoint " + path_ + ": cannot record a finished unit: " + errno_text(err));
  std::lock_guard<std::mutex> lock(syncer_->mutex);
  if (syncer_->error != 0)
    throw Error("checkpoint " + path_ + ": cannot sync the log: " + errno_text(syncer_->error));
  ++syncer_->written;
  syncer_->changed.notify_all();
}

void CheckpointWriter::finish() {
  std::unique_lock<std::mutex> lock(syncer_->mutex);
  syncer_->changed.wait(lock, [&] { return syncer_->synced == syncer_->written; });
  if (syncer_->error != 0)
    throw Error("checkpoint " + path_ + ": cannot sync the log: " + errno_text(syncer_->error));
}

bool checkpoint_has_logs(const std::string& dir, const std::string& tag) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (tag.empty() ? entry.path().extension() == ".log" : log_number(name, tag) >= 0) return true;
  }
  return false;
}

CheckpointContents read_checkpoint(const std::string& dir, const std::string& identity, const UnitPlan& plan,
                                   Block keep) {
  CheckpointContents out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  if (!fs::is_directory(dir, ec)) throw Error("--checkpoint " + dir + ": is not a directory");
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".log") out.logs.push_back(entry.path().string());
  if (ec) throw Error("checkpoint " + dir + ": cannot list the directory: " + ec.message());
  std::sort(out.logs.begin(), out.logs.end());

  std::vector<bool> recorded(plan.units.size(), false);
  std::map<std::size_t, std::string> kept_from;  // unit -> log
  const std::string magic = kCheckpointMagic;
  for (const std::string& log : out.logs) {
    std::ifstream in(log, std::ios::binary);
    if (!in) throw Error("checkpoint " + log + ": cannot be read");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw Error("checkpoint " + log + ": cannot be read");
    const std::string bytes = buffer.str();
    auto fail = [&](std::size_t offset, const std::string& what) {
      throw Error("checkpoint " + log + ": at byte " + std::to_string(offset) + ": " + what);
    };
    // Magic line: a prefix of it is a log whose creation was cut short.
    if (bytes.size() < magic.size() && magic.compare(0, bytes.size(), bytes) == 0) {
      ++out.torn;
      continue;
    }
    if (bytes.compare(0, magic.size(), magic) != 0) {
      if (bytes.rfind("laconic checkpoint ", 0) == 0)
        fail(0, "a checkpoint log of format \"" + bytes.substr(0, bytes.find('\n')) +
                    "\"; this laconic (" + std::string(kCheckpointMagic).substr(0, magic.size() - 1) +
                    ") cannot resume it; start afresh in another directory");
      fail(0, "not a laconic checkpoint log (it does not start with \"laconic checkpoint 1\")");
    }
    std::size_t offset = magic.size();
    bool first = true;
    std::string log_engine;
    while (offset < bytes.size()) {
      const std::size_t left = bytes.size() - offset;
      if (left < 8) {  // cut short in its length or CRC
        ++out.torn;
        break;
      }
      const std::uint32_t length = get_u32(bytes.data() + offset);
      const std::uint32_t crc = get_u32(bytes.data() + offset + 4);
      if (left - 8 < length) {  // cut short in its payload
        ++out.torn;
        break;
      }
      const char* payload = bytes.data() + offset + 8;
      const bool last = offset + 8 + length == bytes.size();
      if (crc32_of(payload, length) != crc) {
        if (last) {  // a last record not wholly written before the crash
          ++out.torn;
          break;
        }
        fail(offset, "the record's CRC-32 does not match its " + std::to_string(length) +
                         " bytes: the log is damaged (records follow it, so it is not a record cut short by an "
                         "interruption); remove " + dir + " or give another --checkpoint directory to start afresh");
      }
      if (first) {
        first = false;
        const std::string recorded_identity(payload, length);
        std::vector<std::string> differences;
        try {
          differences = identity_differences(recorded_identity, identity, IdentityUse::resume, "the checkpoint", "this run");
        } catch (const nlohmann::json::exception& e) {
          fail(offset, std::string("the run's identity is not valid JSON: ") + e.what());
        }
        log_engine = engine_of_identity(recorded_identity);
        if (!differences.empty()) {
          std::string text = "checkpoint " + log + " was made by another run than this one, so --resume refuses it:";
          for (std::size_t i = 0; i < differences.size() && i < 20; ++i) text += "\n  " + differences[i];
          if (differences.size() > 20) text += "\n  ... and " + std::to_string(differences.size() - 20) + " more";
          text += "\n(remove " + dir + " or give another --checkpoint directory to start afresh)";
          throw Error(text);
        }
      } else {
        if (length % 8 != 0) fail(offset, "a unit record of " + std::to_string(length) + " bytes, not whole 64-bit words");
        if (length < 16) fail(offset, "a unit record of " + std::to_string(length) + " bytes is too short");
        const std::vector<std::uint64_t> words = bytes_to_words(payload, length);
        const std::uint64_t index = words[1];
        if (index >= plan.units.size())
          fail(offset, "unit " + std::to_string(index) + " is not in the plan of " + std::to_string(plan.units.size()) + " units");
        recorded[static_cast<std::size_t>(index)] = true;
        if (keep.contains(static_cast<std::size_t>(index))) {
          DecodedUnit unit = decode_unit(words.data(), words.size(), plan,
                                         "checkpoint " + log + ": at byte " + std::to_string(offset));
          const auto it = out.units.find(unit.unit);
          if (it == out.units.end()) {
            kept_from[unit.unit] = log;
            if (!log_engine.empty() && std::find(out.engines.begin(), out.engines.end(), log_engine) == out.engines.end())
              out.engines.push_back(log_engine);
            out.units.emplace(unit.unit, std::move(unit));
          } else if (it->second.result != unit.result) {
            throw Error("checkpoint " + dir + ": " + plan.describe(plan.units[unit.unit]) + " is recorded in " +
                        kept_from[unit.unit] + " and in " + log + " with different counts");
          }
        }
      }
      offset += 8 + length;
    }
    if (first && offset == bytes.size()) ++out.torn;  // the magic line alone: cut short before its identity
  }
  out.recorded = static_cast<std::size_t>(std::count(recorded.begin(), recorded.end(), true));
  std::sort(out.engines.begin(), out.engines.end());
  return out;
}

}  // namespace laconic::run
