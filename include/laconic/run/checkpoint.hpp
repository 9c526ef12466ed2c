// Checkpoints: each finished unit recorded durably, so that a run killed at
// any moment (kill -9, a node lost, a job's time limit) loses at most the
// units in flight, and `--resume` skips the units recorded.
//
// A checkpoint is a directory. Each process of a run (the one process, or
// each MPI rank, or each shard) appends to its own log there; a log is never
// rewritten. A log is
//
//   "laconic checkpoint 1\n"                      (the format's version)
//   record: the run's identity (identity.hpp), JSON text
//   record: one unit's result (codec.hpp), little-endian 64-bit words
//   record: ...
//
// and a record is a 4-byte little-endian payload length, the payload's
// 4-byte little-endian CRC-32 (zlib), then the payload. Each record is
// written with one write() before the run goes on, so that a killed process
// (kill -9) loses no finished unit, and made durable (fdatasync) by a thread
// of the writer while the next unit runs, so that a crash of the machine
// loses at most the units in flight and the sync's latency (milliseconds,
// more on a cluster file system) is hidden behind the next unit; a new log
// is fsynced with its directory before its first unit. As in
// LevelDB's log, a record cut short at the end of a log (the process died
// while writing it) is dropped and its unit runs again; any other damage is
// an error naming the log and the offset. A writer holds an fcntl lock on
// `<tag>.lock` for as long as it runs, so two runs cannot write logs of the
// same tag; each run of a tag starts a new log `<tag>.<n>.log`.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "laconic/run/codec.hpp"
#include "laconic/run/plan.hpp"

namespace laconic::run {

inline constexpr const char* kCheckpointMagic = "laconic checkpoint 1\n";

// Appends records to a new log of `tag` in a checkpoint directory.
class CheckpointWriter {
 public:
  // Creates `dir` if needed, takes the lock of `tag` (laconic::Error naming
  // the lock file when another run holds it), creates the tag's next log and
  // writes and syncs the magic line and the identity record.
  CheckpointWriter(const std::string& dir, const std::string& tag, const std::string& identity);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // One unit's words (encode_unit), written; synced in the background.
  // Throws laconic::Error naming the log when the write, or the sync of an
  // earlier record, failed.
  void append(const std::vector<std::uint64_t>& words);
  // Waits until every record is synced; throws laconic::Error naming the log
  // when a sync failed. The destructor waits too, but cannot report.
  void finish();

  const std::string& path() const { return path_; }

 private:
  struct Syncer;
  std::string path_;
  int log_fd_ = -1;
  int lock_fd_ = -1;
  std::unique_ptr<Syncer> syncer_;
};

// What a checkpoint directory holds for a plan.
struct CheckpointContents {
  std::vector<std::string> logs;  // every log read, sorted
  // The recorded units of the block asked for, by unit index.
  std::map<std::size_t, DecodedUnit> units;
  std::size_t torn = 0;       // records cut short at a log's end, dropped
  std::size_t recorded = 0;   // units recorded in the whole directory
  // The engines that computed the units returned (from each log's identity
  // record, identity_with_engine), sorted; logs that name none add nothing.
  std::vector<std::string> engines;
};

// True when `dir` exists and holds a log (of `tag`, when not empty).
bool checkpoint_has_logs(const std::string& dir, const std::string& tag = "");

// Reads every log of `dir` (none when it does not exist). Each identity must
// agree with `identity` (identity_differences, IdentityUse::resume), else
// laconic::Error names the log and every difference. Units in `keep` are
// decoded against `plan` and returned; a unit recorded twice must have equal
// counts (else an error naming both logs). A log cut short inside its magic
// line or identity record holds no unit and is skipped.
CheckpointContents read_checkpoint(const std::string& dir, const std::string& identity, const UnitPlan& plan,
                                   Block keep);

// A record's bytes: length, CRC-32 and `payload`; and the payload of the
// record at `offset` of `bytes`, for tests. Exposed for tests.
std::string frame_record(const std::string& payload);

}  // namespace laconic::run
