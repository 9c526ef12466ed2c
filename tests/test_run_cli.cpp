// Runs of units through the CLI (README "Large runs"): every way of running
// a profile gives the report of one plain process, byte for byte: any unit
// size, MPI ranks (1, 2 and 3, where the build has MPI), shards merged,
// checkpointed runs resumed. Bad shards, bad merges and bad resumes are
// refused with the file and the field named; progress never reaches stdout.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cli_util.hpp"
#include "laconic/run/mpi.hpp"
#include "run_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::read_text;
using test::run_cli;
using test::shell_quote;
using test::TempDir;

struct Reports {
  std::string json, csv, markdown;
  bool operator==(const Reports& o) const { return json == o.json && csv == o.csv && markdown == o.markdown; }
};

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The MPI launcher of this build, or "" (no MPI, or a build carried to a
// machine without the launcher).
std::string mpiexec() {
  const std::string launcher = LACONIC_MPIEXEC;
  std::error_code ec;
  return run::mpi_built() && !launcher.empty() && fs::exists(launcher, ec) ? launcher : "";
}

test::CliResult run_shell(const std::string& command, const TempDir& scratch) {
  static int counter = 0;
  const std::string out = scratch.file(".sh-out." + std::to_string(counter)), err = scratch.file(".sh-err." + std::to_string(counter));
  ++counter;
  test::CliResult r;
  r.command = command;
  const int raw = std::system((command + " >" + shell_quote(out) + " 2>" + shell_quote(err) + " </dev/null").c_str());
  if (raw != -1 && WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  else if (raw != -1 && WIFSIGNALED(raw)) r.status = 128 + WTERMSIG(raw);
  r.out = read_text(out);
  r.err = read_text(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

// `mpirun -np N laconic args...`.
test::CliResult run_mpi(int ranks, const std::vector<std::string>& args, const TempDir& scratch) {
  std::string command = shell_quote(mpiexec()) + " --oversubscribe" + (::geteuid() == 0 ? " --allow-run-as-root" : "") +
                        " -np " + std::to_string(ranks) + " " + shell_quote(test::binary_path());
  for (const auto& a : args) command += " " + shell_quote(a);
  return run_shell(command, scratch);
}

class RunCli : public testing::Test {
 protected:
  void SetUp() override { manifest_ = test::write_run_network(net_, 7); }

  // Runs `profile manifest args... --json --csv --per-sample` and returns the reports.
  Reports profile(const std::vector<std::string>& args, int ranks = 0) {
    const std::string json = out_.file("r" + std::to_string(id_) + ".json"), csv = out_.file("r" + std::to_string(id_) + ".csv");
    ++id_;
    std::vector<std::string> full = {"profile", manifest_, "--json", json, "--csv", csv, "--per-sample"};
    full.insert(full.end(), args.begin(), args.end());
    const test::CliResult r = ranks == 0 ? run_cli(full, out_) : run_mpi(ranks, full, out_);
    EXPECT_EQ(r.status, 0) << r.describe();
    return Reports{read_text(json), read_text(csv), r.out};
  }

  Reports plain() {
    if (plain_.json.empty()) plain_ = profile({"--engine", "cpu", "-q"});
    return plain_;
  }

  TempDir net_, out_;
  std::string manifest_;
  Reports plain_;
  int id_ = 0;
};

TEST_F(RunCli, EveryUnitSizeGivesTheReportsOfOnePlainRun) {
  const Reports expected = plain();
  ASSERT_TRUE(contains(expected.markdown, "# laconic profile: runs"));
  for (const std::string k : {"1", "2", "3", "100"})
    for (const std::string threads : {"1", "2"})
      EXPECT_TRUE(profile({"--engine", "cpu", "-q", "--unit-samples", k, "--threads", threads}) == expected)
          << "--unit-samples " << k << " --threads " << threads;
  // The reference engine, in units, gives the same counts (its name aside).
  const Reports reference = profile({"--engine", "reference", "-q", "--unit-samples", "2"});
  EXPECT_EQ(reference.csv, expected.csv);
}

TEST_F(RunCli, MpiRanksGiveTheReportsOfOnePlainRun) {
  if (mpiexec().empty()) GTEST_SKIP() << "this build has no MPI, or no " << LACONIC_MPIEXEC << " here";
  const Reports expected = plain();
  for (int ranks : {1, 2, 3})
    EXPECT_TRUE(profile({"--engine", "cpu", "-q", "--unit-samples", "1", "--threads", "1"}, ranks) == expected)
        << ranks << " rank(s)";
  // Default units (one per layer here) over more ranks than units.
  EXPECT_TRUE(profile({"--engine", "cpu", "-q", "--threads", "1"}, 3) == expected);
  // A shard over two ranks, merged with a shard of one process.
  const std::string p1 = out_.file("mpi-shard-1.json"), p2 = out_.file("mpi-shard-2.json");
  const test::CliResult r1 = run_mpi(2, {"profile", manifest_, "--engine", "cpu", "-q", "--unit-samples", "1", "--threads",
                                         "1", "--shard", "1/2", "--json", p1}, out_);
  ASSERT_EQ(r1.status, 0) << r1.describe();
  ASSERT_EQ(run_cli({"profile", manifest_, "--engine", "cpu", "-q", "--unit-samples", "1", "--shard", "2/2", "--json", p2},
                    out_).status, 0);
  const std::string json = out_.file("mpi-merged.json"), csv = out_.file("mpi-merged.csv");
  const test::CliResult m = run_cli({"merge", p1, p2, "--json", json, "--csv", csv, "--per-sample"}, out_);
  ASSERT_EQ(m.status, 0) << m.describe();
  EXPECT_TRUE((Reports{read_text(json), read_text(csv), m.out} == expected));
}

TEST_F(RunCli, MpiErrorsArePrintedOnceOrByTheRankThatMetThem) {
  if (mpiexec().empty()) GTEST_SKIP() << "this build has no MPI, or no " << LACONIC_MPIEXEC << " here";
  // Every rank meets a missing manifest: rank 0 alone says so.
  const test::CliResult missing = run_mpi(2, {"profile", out_.file("none.json"), "-q"}, out_);
  EXPECT_EQ(missing.status, 1) << missing.describe();
  EXPECT_EQ(occurrences(missing.err, "none.json"), 1u) << missing.describe();
  // A usage error, likewise.
  const test::CliResult usage = run_mpi(2, {"profile", manifest_, "--unit-samples", "0"}, out_);
  EXPECT_EQ(usage.status, 2) << usage.describe();
  EXPECT_EQ(occurrences(usage.err, "--unit-samples"), 1u) << usage.describe();
  // A bad value in the last layer: the rank holding it fails mid-run, says
  // so with its rank, and no report is written.
  TempDir bad;
  const std::string manifest = test::write_run_network(bad, 4);
  test::write_values(bad.file("f.act.npy"), DType::i2, {4, 10, 2, 2}, std::vector<double>(160, 300.0));
  test::write_bytes(manifest, read_text(manifest).replace(read_text(manifest).find("\"file\": \"f.act.npy\"}"),
                                                          std::string("\"file\": \"f.act.npy\"}").size(),
                                                          "\"file\": \"f.act.npy\", \"bits\": 8}"));
  const std::string json = out_.file("bad.json");
  const test::CliResult r = run_mpi(2, {"profile", manifest, "--unit-samples", "1", "--engine", "cpu", "--threads", "1",
                                        "--json", json, "-q"}, out_);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "rank 1: error:")) << r.describe();
  EXPECT_TRUE(contains(r.err, "f.act.npy")) << r.describe();
  EXPECT_FALSE(contains(r.err, "rank 0: error:")) << r.describe();
  EXPECT_FALSE(fs::exists(json));
  EXPECT_FALSE(contains(r.out, "# laconic profile")) << r.describe();
}

TEST_F(RunCli, InfoSaysWhetherTheBuildHasMpi) {
  const test::CliResult r = run_cli({"info"}, out_);
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, run::mpi_built() ? "MPI: yes (" : "MPI: no")) << r.describe();
}

TEST_F(RunCli, SlurmTasksWithoutAnMpiInterfaceAreRefused) {
  const test::CliResult r = run_shell("env -u OMPI_COMM_WORLD_SIZE -u PMI_SIZE -u PMIX_SIZE -u PMIX_RANK "
                                      "SLURM_STEP_NUM_TASKS=4 " + shell_quote(test::binary_path()) + " profile " +
                                          shell_quote(manifest_) + " -q", out_);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "srun started 4 tasks") && contains(r.err, "--mpi=pmix")) << r.describe();
}

TEST_F(RunCli, LauncherWithoutMpiInTheBuildIsRefused) {
  if (run::mpi_built()) GTEST_SKIP() << "this build has MPI";
  const test::CliResult r = run_shell("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 " + shell_quote(test::binary_path()) +
                                          " profile " + shell_quote(manifest_) + " -q", out_);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "built without MPI")) << r.describe();
}

// Shards 1/1, 2/3 (with 1/3 and 3/3) and more shards than units, merged.
TEST_F(RunCli, ShardsMergeIntoTheReportsOfOnePlainRun) {
  const Reports expected = plain();
  for (const auto& [shards, unit_samples] : std::vector<std::pair<int, std::string>>{{1, "2"}, {3, "2"}, {9, "3"}}) {
    std::vector<std::string> merge = {"merge"};
    for (int i = 1; i <= shards; ++i) {
      const std::string part = out_.file("part-" + std::to_string(i) + "-of-" + std::to_string(shards) + ".json");
      const test::CliResult r = run_cli({"profile", manifest_, "--engine", "cpu", "-q", "--unit-samples", unit_samples,
                                         "--shard", std::to_string(i) + "/" + std::to_string(shards), "--json", part},
                                        out_);
      ASSERT_EQ(r.status, 0) << r.describe();
      EXPECT_EQ(r.out, "") << "a shard prints no report" << r.describe();
      merge.push_back(part);
    }
    std::reverse(merge.begin() + 1, merge.end());  // any order
    const std::string json = out_.file("merged.json"), csv = out_.file("merged.csv");
    merge.insert(merge.end(), {"--json", json, "--csv", csv, "--per-sample"});
    const test::CliResult m = run_cli(merge, out_);
    ASSERT_EQ(m.status, 0) << m.describe();
    EXPECT_TRUE((Reports{read_text(json), read_text(csv), m.out} == expected)) << shards << " shards";
  }
}

TEST_F(RunCli, MergeRefusesWhatIsNotOneWholeRun) {
  auto shard = [&](const std::string& which, const std::string& path, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"profile", manifest_, "--engine", "cpu", "-q", "--shard", which, "--json", path};
    // --unit-samples 2 unless `extra` gives another (an option is given once).
    if (std::find(extra.begin(), extra.end(), "--unit-samples") == extra.end()) args.insert(args.end(), {"--unit-samples", "2"});
    args.insert(args.end(), extra.begin(), extra.end());
    const test::CliResult r = run_cli(args, out_);
    EXPECT_EQ(r.status, 0) << r.describe();
  };
  const std::string p1 = out_.file("p1.json"), p2 = out_.file("p2.json"), p3 = out_.file("p3.json");
  shard("1/3", p1);
  shard("2/3", p2);
  shard("3/3", p3);
  const std::string out = out_.file("all.json");
  auto refused = [&](std::vector<std::string> inputs, const std::vector<std::string>& phrases) {
    std::vector<std::string> args = {"merge"};
    args.insert(args.end(), inputs.begin(), inputs.end());
    args.insert(args.end(), {"--json", out});
    const test::CliResult r = run_cli(args, out_);
    EXPECT_EQ(r.status, 1) << r.describe();
    for (const auto& phrase : phrases) EXPECT_TRUE(contains(r.err, phrase)) << "lacks \"" << phrase << "\"" << r.describe();
    EXPECT_FALSE(fs::exists(out)) << r.describe();
    EXPECT_EQ(r.out, "") << r.describe();
  };
  // A missing shard: its units and the shard that holds them are named.
  refused({p1, p3}, {"in none of the reports", "of shard 2/3"});
  // A doubled shard.
  refused({p1, p2, p2, p3}, {"is in both", p2});
  // A shard of another configuration.
  const std::string naf = out_.file("naf.json");
  shard("2/3", naf, {"--encoding", "naf"});
  refused({p1, naf, p3}, {naf, "different runs", "config.encoding: booth in " + p1 + ", naf in " + naf});
  // A shard of another split of the units.
  const std::string other_units = out_.file("units.json");
  shard("2/3", other_units, {"--unit-samples", "3"});
  refused({p1, other_units, p3}, {other_units, "plan.unit_samples"});
  // A shard that read other traces (a trace file written again since).
  const std::string touched = out_.file("touched.json");
  ASSERT_EQ(::utimensat(AT_FDCWD, net_.file("d.act.npy").c_str(), nullptr, 0), 0);
  shard("2/3", touched);
  refused({p1, touched, p3}, {touched, "d.act.npy", "modification time"});
  // A whole report is not a partial one; neither is a comparison.
  const std::string whole = out_.file("whole.json");
  ASSERT_EQ(run_cli({"profile", manifest_, "--engine", "cpu", "-q", "--json", whole}, out_).status, 0);
  refused({p1, whole, p3}, {whole, "not a partial report"});
  refused({out_.file("missing.json")}, {"missing.json", "cannot open"});
  // compare refuses a partial report, and says to merge first.
  const test::CliResult c = run_cli({"compare", whole, p1}, out_);
  EXPECT_EQ(c.status, 1) << c.describe();
  EXPECT_TRUE(contains(c.err, p1) && contains(c.err, "partial report") && contains(c.err, "laconic merge")) << c.describe();
}

TEST_F(RunCli, ShardOptionsAreCheckedBeforeTheRun) {
  for (const auto& [args, phrase] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--shard", "0/3", "--json", "x.json"}, "--shard"},
           {{"--shard", "4/3", "--json", "x.json"}, "--shard"},
           {{"--shard", "1/3"}, "--json"},
           {{"--shard", "1/3", "--json", "x.json", "--csv", "x.csv"}, "--csv"},
           {{"--shard", "1/3", "--json", "x.json", "--verify"}, "--verify"},
           {{"--resume"}, "--checkpoint"},
           {{"--unit-samples", "0"}, "--unit-samples"}}) {
    std::vector<std::string> full = {"profile", manifest_};
    full.insert(full.end(), args.begin(), args.end());
    const test::CliResult r = run_cli(full, out_);
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, phrase)) << r.describe();
  }
}

TEST_F(RunCli, CheckpointedRunsResumeToTheSameReports) {
  const Reports expected = plain();
  const std::string ck = out_.file("ck");
  const std::vector<std::string> run = {"--engine", "cpu", "-q", "--unit-samples", "1", "--checkpoint", ck};
  EXPECT_TRUE(profile(run) == expected);
  // Every unit recorded: a resume profiles nothing and gives the same reports.
  std::vector<std::string> resume = run;
  resume.push_back("--resume");
  EXPECT_TRUE(profile(resume) == expected);
  // Only some units recorded (a shard's): a resume in one process does the rest.
  const std::string ck2 = out_.file("ck2");
  ASSERT_EQ(run_cli({"profile", manifest_, "--engine", "cpu", "-q", "--unit-samples", "1", "--checkpoint", ck2, "--shard",
                     "2/3", "--json", out_.file("part.json")},
                    out_).status, 0);
  const std::string json = out_.file("resumed.json");
  const test::CliResult r = run_cli({"profile", manifest_, "--engine", "cpu", "--unit-samples", "1", "--checkpoint", ck2,
                                     "--resume", "--json", json}, out_);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "resuming " + ck2 + ": ")) << r.describe();
  EXPECT_EQ(r.out, expected.markdown);
  // Over MPI ranks too, from a checkpoint of another rank count.
  if (!mpiexec().empty()) {
    std::vector<std::string> mpi = {"--engine", "cpu", "-q", "--unit-samples", "1", "--threads", "1", "--checkpoint", ck2, "--resume"};
    EXPECT_TRUE(profile(mpi, 2) == expected);
    EXPECT_TRUE(profile(mpi, 3) == expected);
  }
}

// A report names the engines that computed its numbers: a resume names the
// engine of the checkpoint's units, and its own only where it profiled some.
TEST_F(RunCli, AResumedReportNamesTheEnginesThatComputedIt) {
  const std::string ck = out_.file("ck");
  auto engine_of = [&](const std::string& json_path) {
    const std::string json = read_text(json_path);
    const auto at = json.find("\"engine\": \"");
    if (at == std::string::npos) return std::string("(no engine in ") + json_path + ")";
    const auto begin = at + 11;
    return json.substr(begin, json.find('"', begin) - begin);
  };
  auto run = [&](const std::vector<std::string>& extra, const std::string& json) {
    std::vector<std::string> args = {"profile", manifest_, "-q", "--unit-samples", "1", "--checkpoint", ck, "--json", json};
    args.insert(args.end(), extra.begin(), extra.end());
    const test::CliResult r = run_cli(args, out_);
    EXPECT_EQ(r.status, 0) << r.describe();
  };
  // Shard 2 of 3 on the reference engine, then the whole run resumed on cpu.
  run({"--engine", "reference", "--shard", "2/3"}, out_.file("part.json"));
  EXPECT_EQ(engine_of(out_.file("part.json")), "reference");
  run({"--engine", "cpu", "--resume", "--per-sample"}, out_.file("mixed.json"));
  EXPECT_EQ(engine_of(out_.file("mixed.json")), "cpu+reference");
  // Everything recorded: a resume on the reference engine computes nothing.
  run({"--engine", "reference", "--resume"}, out_.file("none.json"));
  EXPECT_EQ(engine_of(out_.file("none.json")), "cpu+reference");
  // The counts are those of one plain run.
  const std::string plain_json = plain().json;
  auto without_engine = [&](std::string json) {
    const auto at = json.find("\"engine\": \"");
    if (at != std::string::npos) json.erase(at, json.find('"', at + 11) + 1 - at);
    return json;
  };
  EXPECT_EQ(without_engine(read_text(out_.file("mixed.json"))), without_engine(plain_json));
}

TEST_F(RunCli, ResumeRefusesAnotherRunsCheckpoint) {
  const std::string ck = out_.file("ck");
  const std::vector<std::string> base = {"profile", manifest_, "--engine", "cpu", "-q", "--unit-samples", "2", "--checkpoint", ck};
  ASSERT_EQ(run_cli(base, out_).status, 0);
  // Without --resume a checkpoint is never overwritten.
  const test::CliResult again = run_cli(base, out_);
  EXPECT_EQ(again.status, 1) << again.describe();
  EXPECT_TRUE(contains(again.err, "already holds a checkpoint") && contains(again.err, "--resume")) << again.describe();
  auto refused = [&](std::vector<std::string> extra, const std::vector<std::string>& phrases) {
    std::vector<std::string> args = base;
    args.push_back("--resume");
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string json = out_.file("refused.json");
    args.insert(args.end(), {"--json", json});
    const test::CliResult r = run_cli(args, out_);
    EXPECT_EQ(r.status, 1) << r.describe();
    for (const auto& p : phrases) EXPECT_TRUE(contains(r.err, p)) << "lacks \"" << p << "\"" << r.describe();
    EXPECT_FALSE(fs::exists(json));
  };
  refused({"--column-registers", "laconic=2"}, {ck + "/run.1.log", "--resume refuses",
                                                "config.accelerators.laconic.column_registers: 0 in the checkpoint, 2 in this run"});
  refused({"--samples", "3"}, {"plan.sample_limit"});
  refused({"--layers", "grouped,fc"}, {"layers"});
  // A trace touched since: named with what changed.
  ASSERT_EQ(::utimensat(AT_FDCWD, net_.file("g.act.1.npy").c_str(), nullptr, 0), 0);
  refused({}, {"g.act.1.npy", "modification time"});
}

TEST_F(RunCli, ACheckpointInUseIsNotWrittenByASecondRun) {
  const std::string ck = out_.file("ck");
  fs::create_directories(ck);
  // This process holds the lock a run of the same checkpoint takes.
  const int fd = ::open((ck + "/run.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(fd, F_SETLK, &lock), 0);
  const test::CliResult r = run_cli({"profile", manifest_, "--engine", "cpu", "-q", "--checkpoint", ck}, out_);
  ::close(fd);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "another laconic run (process " + std::to_string(::getpid()) + ")")) << r.describe();
}

// stdout carries the report and nothing else, on a terminal or not.
TEST_F(RunCli, ProgressNeverReachesStdout) {
  const Reports expected = plain();
  const test::CliResult r = run_cli({"profile", manifest_, "--engine", "cpu", "--unit-samples", "1"}, out_);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.out, expected.markdown);
  EXPECT_TRUE(contains(r.err, "laconic: done: 21/21 units")) << r.describe();
  const test::CliResult quiet = run_cli({"profile", manifest_, "--engine", "cpu", "--unit-samples", "1", "-q"}, out_);
  EXPECT_EQ(quiet.err, "") << quiet.describe();
  // On a terminal (script(1) gives stderr a pseudo-terminal): a live line on it, stdout still clean.
  if (std::system("script --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1) for a pseudo-terminal";
  const std::string md = out_.file("tty.md"), tty = out_.file("tty.txt");
  const std::string inner = shell_quote(test::binary_path()) + " profile " + shell_quote(manifest_) +
                            " --engine cpu --unit-samples 1 >" + shell_quote(md);
  const test::CliResult t = run_shell("TERM=xterm script -qec " + shell_quote(inner) + " " + shell_quote(tty), out_);
  ASSERT_EQ(t.status, 0) << t.describe();
  EXPECT_EQ(read_text(md), expected.markdown);
  const std::string terminal = read_text(tty);
  EXPECT_TRUE(contains(terminal, "\rlaconic: 0/21 units, 0/7 images, ? images/s")) << terminal;
  EXPECT_TRUE(contains(terminal, "\r\x1b[Klaconic: done: 21/21 units")) << terminal;
}

}  // namespace
}  // namespace laconic
