// Checkpoint logs (include/laconic/run/checkpoint.hpp) and run identities
// (identity.hpp): what a writer records is read back exactly; a log cut at
// any byte gives back the units recorded before the cut and drops the torn
// one; a damaged record elsewhere, a log of another format, or a log of
// another run is an error naming the log and what differs.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "laconic/engine.hpp"
#include "laconic/npz.hpp"
#include "laconic/report.hpp"
#include "laconic/run/checkpoint.hpp"
#include "laconic/run/identity.hpp"
#include "run_util.hpp"

namespace laconic::run {
namespace {

namespace fs = std::filesystem;
using test::memory_network;
using test::read_text;
using test::TempDir;
using test::throws_error;
using test::write_bytes;

struct Fixture {
  Network net = memory_network({5, 2});
  UnitPlan plan;
  std::string identity;
  std::vector<LayerResult> results;  // by unit
  Fixture() {
    PlanOptions o;
    o.unit_samples = 2;
    plan = make_plan(net, o);
    identity = run_identity(net, ProfileConfig{}, plan);
    const auto engine = make_cpu_engine();
    for (const Unit& u : plan.units)
      results.push_back(engine->profile(net.layers[u.layer].input(), SampleRange{u.begin, u.end}, ProfileConfig{}));
  }
};

TEST(RunCheckpoint, WhatIsRecordedIsReadBackExactly) {
  const Fixture f;
  TempDir dir;
  const std::string ck = dir.file("ck");
  EXPECT_FALSE(checkpoint_has_logs(ck));
  {
    CheckpointWriter writer(ck, "run", f.identity);
    for (std::size_t u = 0; u < f.plan.units.size(); u += 2) {
      writer.append(encode_unit(f.plan.units[u], f.results[u]));
      // Written as append returns (a process killed now keeps it), synced later.
      EXPECT_EQ(read_checkpoint(ck, f.identity, f.plan, whole(f.plan)).units.size(), u / 2 + 1);
    }
    writer.finish();
  }
  EXPECT_TRUE(checkpoint_has_logs(ck));
  EXPECT_TRUE(checkpoint_has_logs(ck, "run"));
  EXPECT_FALSE(checkpoint_has_logs(ck, "rank-0-of-2"));
  const CheckpointContents c = read_checkpoint(ck, f.identity, f.plan, whole(f.plan));
  ASSERT_EQ(c.logs.size(), 1u);
  EXPECT_EQ(fs::path(c.logs[0]).filename(), "run.1.log");
  EXPECT_EQ(c.torn, 0u);
  EXPECT_EQ(c.recorded, (f.plan.units.size() + 1) / 2);
  for (std::size_t u = 0; u < f.plan.units.size(); ++u) {
    if (u % 2 == 0) {
      ASSERT_TRUE(c.units.count(u)) << u;
      EXPECT_EQ(c.units.at(u).result, f.results[u]);
    } else {
      EXPECT_FALSE(c.units.count(u)) << u;
    }
  }
  // Only the block asked for is decoded; the count covers the directory.
  const CheckpointContents part = read_checkpoint(ck, f.identity, f.plan, Block{0, 1});
  EXPECT_EQ(part.units.size(), 1u);
  EXPECT_EQ(part.recorded, c.recorded);
  // A second writer of the tag starts a new log; both are read.
  {
    CheckpointWriter writer(ck, "run", f.identity);
    EXPECT_EQ(fs::path(writer.path()).filename(), "run.2.log");
    writer.append(encode_unit(f.plan.units[1], f.results[1]));
    writer.append(encode_unit(f.plan.units[0], f.results[0]));  // again, equal: accepted
  }
  const CheckpointContents both = read_checkpoint(ck, f.identity, f.plan, whole(f.plan));
  EXPECT_EQ(both.logs.size(), 2u);
  EXPECT_TRUE(both.units.count(1));
  EXPECT_EQ(both.units.at(1).result, f.results[1]);
}

// Cut the log at (nearly) every byte: the units whose records are whole come back;
// the one cut short is dropped quietly (the process died while writing it).
TEST(RunCheckpoint, ALogCutAtAnyByteGivesBackTheWholeRecordsBeforeTheCut) {
  const Fixture f;
  TempDir dir;
  const std::string ck = dir.file("ck");
  std::vector<std::size_t> ends;  // log size after each record
  std::string log;
  {
    CheckpointWriter writer(ck, "run", f.identity);
    log = writer.path();
    ends.push_back(fs::file_size(log));
    for (std::size_t u = 0; u < 3; ++u) {
      writer.append(encode_unit(f.plan.units[u], f.results[u]));
      ends.push_back(fs::file_size(log));
    }
  }
  const std::string bytes = read_text(log);
  // Every byte near the start and near each record's ends (the framing), and
  // every 11th byte elsewhere (inside payloads).
  auto near_boundary = [&](std::size_t cut) {
    if (cut < 40) return true;
    for (std::size_t end : ends)
      if (cut + 24 >= end && cut <= end + 24) return true;
    return false;
  };
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    if (!near_boundary(cut) && cut % 11 != 0) continue;
    write_bytes(log, bytes.substr(0, cut));
    CheckpointContents c;
    ASSERT_NO_THROW(c = read_checkpoint(ck, f.identity, f.plan, whole(f.plan))) << "cut at " << cut;
    std::size_t whole_records = 0;
    while (whole_records + 1 < ends.size() && ends[whole_records + 1] <= cut) ++whole_records;
    EXPECT_EQ(c.units.size(), whole_records) << "cut at " << cut;
    const bool at_boundary = std::find(ends.begin(), ends.end(), cut) != ends.end();
    EXPECT_EQ(c.torn, at_boundary ? 0u : 1u) << "cut at " << cut;
    for (std::size_t u = 0; u < whole_records; ++u) EXPECT_EQ(c.units.at(u).result, f.results[u]);
  }
}

TEST(RunCheckpoint, DamageBeforeTheLastRecordIsAnErrorNamingTheLogAndOffset) {
  const Fixture f;
  TempDir dir;
  const std::string ck = dir.file("ck");
  std::string log;
  std::size_t second = 0;
  {
    CheckpointWriter writer(ck, "run", f.identity);
    log = writer.path();
    writer.append(encode_unit(f.plan.units[0], f.results[0]));
    second = fs::file_size(log);
    writer.append(encode_unit(f.plan.units[1], f.results[1]));
    writer.append(encode_unit(f.plan.units[2], f.results[2]));
  }
  std::string bytes = read_text(log);
  const std::string good = bytes;
  bytes[second + 8 + 30] = static_cast<char>(bytes[second + 8 + 30] ^ 0x40);  // a bit flip in unit 1's record
  write_bytes(log, bytes);
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, f.identity, f.plan, whole(f.plan)); },
                           {log, "at byte " + std::to_string(second), "CRC-32"}));
  // The same damage in the last record reads as a torn record.
  bytes = good;
  bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 0x40);
  write_bytes(log, bytes);
  const CheckpointContents c = read_checkpoint(ck, f.identity, f.plan, whole(f.plan));
  EXPECT_EQ(c.units.size(), 2u);
  EXPECT_EQ(c.torn, 1u);
  // Another format, and not a log at all.
  write_bytes(log, "laconic checkpoint 9\n" + good.substr(std::string(kCheckpointMagic).size()));
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, f.identity, f.plan, whole(f.plan)); },
                           {log, "laconic checkpoint 9", "cannot resume"}));
  write_bytes(log, "{\"not\": \"a log\"}\n");
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, f.identity, f.plan, whole(f.plan)); },
                           {log, "not a laconic checkpoint log"}));
}

TEST(RunCheckpoint, ALogOfAnotherRunIsRefusedWithEveryDifferenceNamed) {
  const Fixture f;
  TempDir dir;
  const std::string ck = dir.file("ck");
  { CheckpointWriter writer(ck, "run", f.identity); }
  ProfileConfig other;
  other.encoding = Encoding::naf;
  other.geometry(Accelerator::laconic).columns = 8;
  const std::string changed = run_identity(f.net, other, f.plan);
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, changed, f.plan, whole(f.plan)); },
                           {"ck/run.1.log", "--resume refuses", "config.encoding: booth in the checkpoint, naf in this run",
                            "config.accelerators.laconic.columns: 16 in the checkpoint, 8 in this run"}));
  PlanOptions o;
  o.unit_samples = 3;
  const UnitPlan other_plan = make_plan(f.net, o);
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, run_identity(f.net, ProfileConfig{}, other_plan), other_plan, whole(other_plan)); },
                           {"plan.unit_samples: 2 in the checkpoint, 3 in this run"}));
  // A checkpoint of another laconic version.
  TempDir old_dir;
  std::string old_identity = f.identity;
  const std::string version = "\"version\":\"" + version_string() + "\"";
  ASSERT_NE(old_identity.find(version), std::string::npos);
  old_identity.replace(old_identity.find(version), version.size(), "\"version\":\"0.1.9\"");
  { CheckpointWriter writer(old_dir.file("ck"), "run", old_identity); }
  EXPECT_TRUE(throws_error([&] { read_checkpoint(old_dir.file("ck"), f.identity, f.plan, whole(f.plan)); },
                           {"version: 0.1.9 in the checkpoint, " + version_string() + " in this run"}));
  const Network fewer = memory_network({4, 2});
  const UnitPlan fewer_plan = make_plan(fewer, PlanOptions{0, 2});
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, run_identity(fewer, ProfileConfig{}, fewer_plan), fewer_plan, whole(fewer_plan)); },
                           {"layers[layer0].samples: 5 in the checkpoint, 4 in this run"}));
}

TEST(RunCheckpoint, UnitRecordedTwiceWithDifferentCountsIsAnError) {
  const Fixture f;
  TempDir dir;
  const std::string ck = dir.file("ck");
  { CheckpointWriter(ck, "rank-0-of-2", f.identity).append(encode_unit(f.plan.units[0], f.results[0])); }
  LayerResult wrong = f.results[0];
  wrong.per_sample[0].cycles.laconic += 1;
  { CheckpointWriter(ck, "rank-1-of-2", f.identity).append(encode_unit(f.plan.units[0], wrong)); }
  EXPECT_TRUE(throws_error([&] { read_checkpoint(ck, f.identity, f.plan, whole(f.plan)); },
                           {"unit 0", "rank-0-of-2.1.log", "rank-1-of-2.1.log", "different counts"}));
}

// Trace identities: size, time, inode and header of every file; a file
// written moments ago also by its whole content (racy-git).
TEST(RunIdentity, NamesTheTraceFileThatChanged) {
  TempDir dir;
  const std::string manifest = test::write_run_network(dir, 4);
  const Network net = load_network(manifest);
  const UnitPlan plan = make_plan(net, PlanOptions{});
  const std::string before = run_identity(net, ProfileConfig{}, plan);
  EXPECT_TRUE(identity_differences(before, before, IdentityUse::resume).empty());
  // The depthwise layer is quantized `linear`: its whole tensor matters.
  EXPECT_NE(before.find("\"whole_tensor\":true"), std::string::npos);
  // Just written: racy, so the whole content is recorded.
  EXPECT_NE(before.find("content_crc32"), std::string::npos);

  // Same size, same time, new content: only the content CRC can tell.
  // d.act.npy is larger than 4 KiB: its last byte is outside the header CRC.
  const std::string path = fs::absolute(dir.file("d.act.npy")).lexically_normal().string();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  std::string bytes = read_text(path);
  bytes[bytes.size() - 1] = static_cast<char>(bytes[bytes.size() - 1] ^ 1);
  {
    std::fstream out(path, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(bytes.size() - 1));
    out.put(bytes[bytes.size() - 1]);
  }
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  const Network again = load_network(manifest);
  const auto racy = identity_differences(before, run_identity(again, ProfileConfig{}, plan), IdentityUse::resume);
  ASSERT_EQ(racy.size(), 1u);
  EXPECT_NE(racy[0].find(path), std::string::npos) << racy[0];
  EXPECT_NE(racy[0].find("content changed"), std::string::npos) << racy[0];

  // A touched file: its time differs (resume and merge); the inode only matters to a resume.
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), nullptr, 0), 0);
  const std::string touched = run_identity(load_network(manifest), ProfileConfig{}, plan);
  const auto diffs = identity_differences(before, touched, IdentityUse::merge, "a.json", "b.json");
  ASSERT_FALSE(diffs.empty());
  EXPECT_NE(diffs[0].find("layer 'depthwise' activations file " + path + ": modification time"), std::string::npos) << diffs[0];
  EXPECT_NE(diffs[0].find("in a.json"), std::string::npos) << diffs[0];
}

// A report's engine names each engine once, however the runs and shards that
// computed it were already joined (a merge of "cpu+reference" and "cpu").
TEST(RunEngines, JoinedEnginesNameEachEngineOnce) {
  EXPECT_EQ(joined_engines({"cpu+reference", "cpu"}), "cpu+reference");
  EXPECT_EQ(joined_engines({"reference", "cuda+cpu", "cpu"}), "cpu+cuda+reference");
  EXPECT_EQ(joined_engines({"cpu"}), "cpu");
  EXPECT_EQ(joined_engines({}), "");
}

// Layers on one side only are named in one line, and their traces are not
// listed again; a configuration of no preset says so.
TEST(RunIdentity, LayersOnOneSideOnlyAreNamedOnce) {
  const Network two = memory_network({5, 2}), three = memory_network({5, 2, 3});
  const std::string a = run_identity(two, ProfileConfig{}, make_plan(two, PlanOptions{}));
  const std::string b = run_identity(three, ProfileConfig{}, make_plan(three, PlanOptions{}));
  const auto diffs = identity_differences(a, b, IdentityUse::resume);
  ASSERT_FALSE(diffs.empty());
  EXPECT_NE(std::find(diffs.begin(), diffs.end(), "layers: layer2 in this run only"), diffs.end())
      << testing::PrintToString(diffs);
  for (const auto& d : diffs) EXPECT_EQ(d.find("layer 'layer2'"), std::string::npos) << d;

  ProfileConfig custom;
  custom.geometry(Accelerator::laconic).columns = 8;
  const auto config = identity_differences(a, run_identity(two, custom, make_plan(two, PlanOptions{})),
                                           IdentityUse::resume);
  EXPECT_NE(std::find(config.begin(), config.end(),
                      "config.preset: dnnsim in the checkpoint, custom (no preset) in this run"),
            config.end())
      << testing::PrintToString(config);
}

// Arrays named "file.npz:member" are identified by the archive that holds
// them, once per tensor however many of its members the tensor reads.
TEST(RunIdentity, AnNpzMemberIsIdentifiedByItsArchive) {
  TempDir dir;
  auto int8 = [](const std::vector<double>& v) { return std::vector<std::int8_t>(v.begin(), v.end()); };
  const auto act0 = int8(test::seeded_values(2 * 10 * 2 * 2, 0, 127, 0.3, 11));
  const auto act1 = int8(test::seeded_values(3 * 10 * 2 * 2, 0, 127, 0.3, 12));
  const auto w = int8(test::seeded_values(10 * 40, -128, 127, 0.05, 13));
  const std::string archive = dir.file("net.npz");
  write_npz(archive,
            {{"a0", DType::i1, {2, 10, 2, 2}, act0.data()},
             {"a1", DType::i1, {3, 10, 2, 2}, act1.data()},
             {"w", DType::i1, {10, 40}, w.data()}},
            /*compress=*/true);
  const std::string manifest = dir.file("manifest.json");
  write_bytes(manifest, R"({"network": "npz", "layers": [{"name": "fc", "type": "fc",
    "activations": {"files": ["net.npz:a0", "net.npz:a1"]}, "weights": {"file": "net.npz:w"}}]})");
  const Network net = load_network(manifest);
  const UnitPlan plan = make_plan(net, PlanOptions{});
  const std::string before = run_identity(net, ProfileConfig{}, plan);
  const std::string path = fs::absolute(archive).lexically_normal().string();
  const auto doc = nlohmann::json::parse(before);
  ASSERT_EQ(doc["traces"].size(), 2u) << before;  // activations and weights, one archive each
  for (const auto& t : doc["traces"]) EXPECT_EQ(t["path"], path) << before;
  EXPECT_TRUE(identity_differences(before, run_identity(load_network(manifest), ProfileConfig{}, plan),
                                   IdentityUse::resume)
                  .empty());

  // The archive rewritten with other weights: one line for the archive, which
  // both tensors read.
  std::vector<std::int8_t> w2 = w;
  w2[0] = static_cast<std::int8_t>(w2[0] ^ 1);
  write_npz(archive,
            {{"a0", DType::i1, {2, 10, 2, 2}, act0.data()},
             {"a1", DType::i1, {3, 10, 2, 2}, act1.data()},
             {"w", DType::i1, {10, 40}, w2.data()}},
            /*compress=*/true);
  const auto diffs =
      identity_differences(before, run_identity(load_network(manifest), ProfileConfig{}, plan), IdentityUse::resume);
  ASSERT_FALSE(diffs.empty());
  EXPECT_NE(diffs[0].find("layer 'fc' activations (and 1 other tensor) file " + path + ": "), std::string::npos)
      << diffs[0];
}

}  // namespace
}  // namespace laconic::run
