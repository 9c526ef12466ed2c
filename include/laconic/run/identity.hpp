// What a run's results depend on, recorded so that a checkpoint is resumed
// and partial reports are merged only into the run that made them: the tool
// version, the network and its layers (shapes, widths, quantizations, the
// samples profiled), the accelerators' configuration, the plan options, and
// the identity of every trace file: path, size, modification time (ns),
// inode and the CRC-32 of its first 4 KiB (an .npy header and the start of
// its data). As git does for its index (racy-git), a file modified less than
// two seconds before the identity was taken may still change without its
// size or time changing; for such a file the CRC-32 of its whole content is
// recorded too, and checked again on resume. A tensor quantized `linear`
// scales every value by the range of the whole tensor (MODEL.md §2), so each
// of its files is marked `whole_tensor`: every unit of the layer depends on
// every one of them (the identity covers every file of the network anyway).
//
// The identity is a JSON object (README "Checkpoint and resume"); public
// headers stay free of nlohmann::json, so it travels here as text.
#pragma once

#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/network.hpp"
#include "laconic/run/plan.hpp"

namespace laconic::run {

// The identity of a run of `network` with `config` and `plan`, as compact
// JSON text. Throws laconic::Error naming a trace file that cannot be
// examined (stat or read).
std::string run_identity(const Network& network, const ProfileConfig& config, const UnitPlan& plan);

// `identity` with the name of the engine that computes the units recorded
// under it (a checkpoint log's first record), so that a resumed run's report
// names every engine that computed its numbers. The engine is not part of
// what must agree (identity_differences ignores it).
std::string identity_with_engine(const std::string& identity, const std::string& engine);
// The engine `identity` names; empty when it names none.
std::string engine_of_identity(const std::string& identity);

// How strictly two identities must agree. A resume is on the same files
// (inode included); shards merged may have read copies of the traces on
// other machines' disks, so `merge` compares path, size, modification time
// and header but not the inode.
enum class IdentityUse { resume, merge };

// Every way `recorded` (from a checkpoint or a partial report) differs from
// `current`, one line each, naming the field ("config.accelerators.laconic.columns:
// 16 there, 8 here") or the trace file and what differs. Empty when they
// agree. `there` and `here` name the two sides in the lines. With
// IdentityUse::resume, files with a recorded whole-content CRC are read
// again and compared.
std::vector<std::string> identity_differences(const std::string& recorded, const std::string& current,
                                              IdentityUse use, const std::string& there = "the checkpoint",
                                              const std::string& here = "this run");

// CRC-32 (zlib) of `size` bytes.
std::uint32_t crc32_of(const void* bytes, std::size_t size, std::uint32_t crc = 0);

}  // namespace laconic::run
