// The progress of a run on one stderr line: units done of the total, images,
// images per second, MACs per second, elapsed time and an ETA (`?` while
// unknown). On a terminal (stderr a TTY and TERM neither empty nor `dumb`,
// as ninja's smart terminal) the line is redrawn in place with `\r`, at most
// ten times a second; elsewhere (a log file, a pipe, a batch job) a plain
// line is written every few seconds. `--quiet` turns both off. Rates are
// bias-corrected exponential moving averages between redraws (tqdm's,
// smoothing 0.3). An "image" is a sample of the network: images done are
// the images total × the share of the run's estimated cost done (plan.hpp:
// the units' cost follows their time), so that images per second and the
// ETA stay even across layers whose MACs take very unequal times. Progress
// never goes to stdout, which carries the report.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>

namespace laconic::run {

enum class ProgressMode { off, live, plain };

// live on a terminal, plain elsewhere, off when `quiet`: for stderr.
ProgressMode progress_mode_for_stderr(bool quiet);

struct ProgressCounts {
  std::uint64_t units = 0;
  std::uint64_t macs = 0;
  std::uint64_t cost = 0;  // the units' estimated cost (Unit::cost)
};

class Progress {
 public:
  // `total` and `images`: the totals of the run (or of the shard). `now`
  // gives seconds on a steady clock (tests pass their own).
  Progress(ProgressMode mode, std::ostream& out, ProgressCounts total, std::uint64_t images,
           std::function<double()> now = {});

  // The run starts with `resumed` already done (units of a checkpoint); they
  // count as done but not towards the rates. A live line shows at once.
  void start(ProgressCounts resumed);
  // Everything done so far (cumulative); redraws when it is time to.
  void update(ProgressCounts done);
  // A message for the user: ends (clears) the live line first, prints
  // "laconic: <line>"; the live line comes back at the next update.
  void note(const std::string& line);
  // The last line, with the totals and the mean rates of this run.
  void finish(ProgressCounts done);

  // Clears the live line without a last line (the run failed; its error follows).
  void abandon();

  // The line as it would be drawn now (tests).
  std::string line(ProgressCounts done, double now_seconds);

  // Seconds between plain lines.
  static constexpr double kPlainInterval = 5.0;
  // Seconds between live redraws at least.
  static constexpr double kLiveInterval = 0.1;

 private:
  void draw(ProgressCounts done, double now);
  // Bias-corrected EMAs per second (0 when unknown).
  double rate(double ema) const;
  double images_of(std::uint64_t cost) const;

  std::mutex mutex_;
  ProgressMode mode_;
  std::ostream& out_;
  ProgressCounts total_;
  std::uint64_t images_total_;
  std::function<double()> now_;
  double start_ = 0, last_draw_ = -1;
  ProgressCounts resumed_, last_;
  double ema_macs_ = 0, ema_cost_ = 0;
  int ema_updates_ = 0;
  bool live_shown_ = false;
  bool started_ = false;
};

// "0:07", "1:02:03".
std::string clock_text(double seconds);
// "58.1 G" (SI prefix, 3 significant digits).
std::string si_text(double value);

}  // namespace laconic::run
