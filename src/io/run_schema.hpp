// Every name in normlab's HDF5 files, defined once: the run file (format "normlab-run", version 4),
// the files beside it while it runs (.partial, .resume.h5, .old) and the sweep index. docs/FORMAT.md
// says what each name means; this header only names them, and the writers and readers use these
// constants instead of string literals, so a name cannot differ between two places.
// The Python reader (analysis/normlab/schema.py) keeps its own copy of the names it uses;
// tests/python/test_schema.py holds it to this header through schema_json() (below).
// Changing a value here changes the file format: bump the format version and update
// docs/FORMAT.md with it.
#pragma once

#include <array>
#include <string>

namespace normlab::io::schema {

// ---- the run file: root attributes (docs/FORMAT.md, "Root attributes") ----
inline constexpr char kRunFormat[] = "normlab-run";  // the value of `format`
inline constexpr long long kRunFormatVersion = 4;    // the value of `format_version`

namespace attr {
inline constexpr char kFormat[] = "format";                  // what kind of file (every format)
inline constexpr char kFormatVersion[] = "format_version";   // int64
inline constexpr char kNormlabVersion[] = "normlab_version";  // the writing program's version
inline constexpr char kRunId[] = "run_id";                    // the run name
inline constexpr char kStatus[] = "status";                   // status:: below
inline constexpr char kConfigToml[] = "config_toml";          // the resolved config as TOML
inline constexpr char kFamily[] = "family";                   // model.family
inline constexpr char kNorm[] = "norm";                       // model.norm, joined by ","
inline constexpr char kNormOptions[] = "norm_options";        // model.norm_options
inline constexpr char kTask[] = "task";                       // the task, "auto" resolved
inline constexpr char kOptimizer[] = "optimizer";             // optim.name
inline constexpr char kDtype[] = "dtype";                     // float32 | float64
inline constexpr char kSeed[] = "seed";                       // int64
inline constexpr char kLr[] = "lr";                           // optim.lr (float64)
inline constexpr char kStatsEvery[] = "stats_every";          // int64, 0: no statistics
inline constexpr char kValMetricName[] = "val_metric_name";   // what val_metric measures
inline constexpr char kStarted[] = "started";                 // UTC, ISO 8601, first session's
inline constexpr char kFinished[] = "finished";               // UTC, completed and diverged runs
inline constexpr char kPeakRssMib[] = "peak_rss_mib";         // float64, with `finished`
inline constexpr char kResumedFrom[] = "resumed_from";        // int64 array, one step per resume
inline constexpr char kKernels[] = "kernels";                 // the kernel ISA (core/kernels.hpp)
inline constexpr char kBlasCore[] = "blas_core";              // OpenBLAS's kernel family
inline constexpr char kChanceLoss[] = "chance_loss";          // the task's chance-level loss, nats
}  // namespace attr

// The values of `status`.
namespace status {
inline constexpr char kRunning[] = "running";          // while training, or killed outright
inline constexpr char kCompleted[] = "completed";
inline constexpr char kDiverged[] = "diverged";        // a non-finite loss or gradient norm
// Trained to the end but never left the task's chance level: every evaluation after the early
// steps (train.stuck_after) within train.stuck_margin of `chance_loss` (the papers' "failed to
// train", e.g. post-norm without warmup at the unigram loss).
inline constexpr char kStuck[] = "stuck";
inline constexpr char kInterrupted[] = "interrupted";  // SIGINT, SIGTERM, an error, a step budget
// A run with a result: it trained to its end (completed or stuck) or diverged; it is never rerun.
inline bool has_result(const std::string& s) {
  return s == kCompleted || s == kDiverged || s == kStuck;
}
}  // namespace status

// ---- the run file: datasets (docs/FORMAT.md, "Datasets") ----
namespace axis {  // the dimension scales
inline constexpr char kStep[] = "step";            // (N) int64
inline constexpr char kEvalStep[] = "eval_step";   // (E) int64, the step each evaluation followed
inline constexpr char kStatStep[] = "stat_step";   // (K) int64, the steps statistics were taken at
inline constexpr char kSite[] = "site";            // (S) strings, the sites in forward order
}  // namespace axis

namespace series {  // float64 along `step` or `eval_step`
inline constexpr char kTrainLoss[] = "train_loss";
inline constexpr char kLr[] = "lr";
inline constexpr char kGradNorm[] = "grad_norm";
inline constexpr char kStepTime[] = "step_time";
inline constexpr char kValLoss[] = "val_loss";
inline constexpr char kValMetric[] = "val_metric";
}  // namespace series
// The series of each axis, in the order of a recorded row (io::StepRow, io::EvalRow).
inline constexpr std::array<const char*, 4> kStepSeries{series::kTrainLoss, series::kLr,
                                                        series::kGradNorm, series::kStepTime};
inline constexpr std::array<const char*, 2> kEvalSeries{series::kValLoss, series::kValMetric};

namespace site {  // the site tables along `site`
inline constexpr char kKind[] = "site_kind";          // strings: the normalizer kind or "residual"
inline constexpr char kLayer[] = "site_layer";        // int64
inline constexpr char kFeatures[] = "site_features";  // int64, D
}  // namespace site

// The per-site statistics (docs/FORMAT.md, "Statistics"), (stat_step, site) float64 each.
namespace stat {
inline constexpr char kInMean[] = "in_mean";
inline constexpr char kInAbsMeanOverRms[] = "in_abs_mean_over_rms";
inline constexpr char kInRms[] = "in_rms";
inline constexpr char kInStd[] = "in_std";
inline constexpr char kInMaxAbs[] = "in_max_abs";
inline constexpr char kInMeanShare[] = "in_mean_share";
inline constexpr char kOutRms[] = "out_rms";
inline constexpr char kGradInRms[] = "grad_in_rms";
inline constexpr char kGradOutRms[] = "grad_out_rms";
inline constexpr char kGainMean[] = "gain_mean";
inline constexpr char kGainStd[] = "gain_std";
inline constexpr char kGainMin[] = "gain_min";
inline constexpr char kGainMax[] = "gain_max";
inline constexpr char kBiasMean[] = "bias_mean";
inline constexpr char kBiasStd[] = "bias_std";
inline constexpr char kLambda[] = "lambda";
inline constexpr char kGainGradNorm[] = "gain_grad_norm";
inline constexpr char kBiasGradNorm[] = "bias_grad_norm";
inline constexpr char kLambdaGradNorm[] = "lambda_grad_norm";
inline constexpr char kUpdateRatio[] = "update_ratio";
inline constexpr char kAlpha[] = "alpha";                      // an element-wise kind's (DyT)
inline constexpr char kSaturatedShare[] = "saturated_share";  // share of |alpha x| > 2
}  // namespace stat
// All of them, in the order of stats::Stat (the order of a recorded row).
// alpha and saturated_share came after the others (datasets added later: no version change).
inline constexpr std::array<const char*, 22> kStatistics{
    stat::kInMean, stat::kInAbsMeanOverRms, stat::kInRms, stat::kInStd, stat::kInMaxAbs,
    stat::kInMeanShare, stat::kOutRms, stat::kGradInRms, stat::kGradOutRms, stat::kGainMean,
    stat::kGainStd, stat::kGainMin, stat::kGainMax, stat::kBiasMean, stat::kBiasStd, stat::kLambda,
    stat::kGainGradNorm, stat::kBiasGradNorm, stat::kLambdaGradNorm, stat::kUpdateRatio,
    stat::kAlpha, stat::kSaturatedShare};

// The group of the final parameters (completed and diverged runs), one dataset per parameter.
inline constexpr char kCheckpointGroup[] = "checkpoint";
inline std::string checkpoint_dataset(const std::string& param) {
  return std::string(kCheckpointGroup) + "/" + param;
}
// An attribute of each checkpoint/<param> dataset: the SHA-256 (64 hex digits) of its values as
// float64 (train/checkpoint_digest.hpp), checked when `analyze` loads them. Files written before
// it load unverified, with a note.
inline constexpr char kCheckpointSha256[] = "sha256";

// ---- the files of a run (docs/FORMAT.md, "Writing and crash safety", "Resuming") ----
namespace suffix {
inline constexpr char kRunFile[] = ".h5";          // NAME.h5, the run file once finished
inline constexpr char kPartial[] = ".partial";     // NAME.h5.partial while it runs or if stopped
inline constexpr char kOldRows[] = ".old";         // NAME.h5.partial.old while a resume copies
inline constexpr char kResume[] = ".resume.h5";    // NAME.resume.h5, replacing NAME.h5's ".h5"
inline constexpr char kTemporary[] = ".tmp";       // NAME.resume.h5.tmp, NAME.h5.tmp,
                                                   // NAME.h5.partial.tmp before their renames
inline constexpr char kLock[] = ".lock";           // NAME.h5.lock, held by the run's one writer
}  // namespace suffix

// ---- the resume checkpoint (docs/FORMAT.md, "Checkpoint attributes", "Checkpoint datasets") ----
namespace resume {
inline constexpr char kFormat[] = "normlab-resume";  // the value of attr::kFormat
inline constexpr long long kFormatVersion = 2;
// Root attributes besides attr::kFormat, kFormatVersion, kNormlabVersion, kDtype, kConfigToml.
inline constexpr char kStep[] = "step";               // int64, the steps done
inline constexpr char kTrainRng[] = "train_rng";      // std::mt19937_64 as operator<< writes it
inline constexpr char kDropoutRng[] = "dropout_rng";  // likewise
inline constexpr char kOptimizerT[] = "optimizer_t";  // int64, the optimizer's update count
inline constexpr char kTrainLoss[] = "train_loss";    // float64, the last before `step`
inline constexpr char kValLoss[] = "val_loss";
inline constexpr char kValMetric[] = "val_metric";
// Datasets, (P) in the run's dtype.
inline constexpr char kParams[] = "params";
inline constexpr char kOptimizerM[] = "optimizer_m";
inline constexpr char kOptimizerV[] = "optimizer_v";
// Root attributes (format version 2): the SHA-256 (64 hex digits) of each part of the state, so
// a damaged checkpoint is refused naming the part (train/checkpoint_digest.hpp says what each
// covers).
inline constexpr char kSha256Params[] = "sha256_params";
inline constexpr char kSha256OptimizerM[] = "sha256_optimizer_m";
inline constexpr char kSha256OptimizerV[] = "sha256_optimizer_v";
inline constexpr char kSha256State[] = "sha256_state";  // step, generators, optimizer_t, ...
}  // namespace resume

// ---- the sweep index, DIR/index.csv and DIR/index.h5 (sweep/collect.hpp) ----
namespace sweep_index {
inline constexpr char kFormat[] = "normlab-sweep-index";  // index.h5's attr::kFormat
inline constexpr char kCsvFile[] = "index.csv";
inline constexpr char kH5File[] = "index.h5";
inline constexpr char kRun[] = "run";  // index.h5: the dimension scale of the run ids
inline constexpr char kId[] = "id";    // index.csv: the column of the run ids
// Columns besides the run id and the sweep's axes; status, started and finished are the run
// file's attributes of those names, copied.
inline constexpr const char* kStatus = attr::kStatus;  // a run's status, or one of the two below
inline constexpr char kMissing[] = "missing";          // listed in the manifest, no file
inline constexpr char kUnreadable[] = "unreadable";    // a file that is not a readable run
inline constexpr char kOverrides[] = "overrides";      // "key=value; ..." of the sweep's axes
inline constexpr const char* kStarted = attr::kStarted;
inline constexpr const char* kFinished = attr::kFinished;
inline constexpr char kPath[] = "path";                // the run file read
// The numeric columns, in index.csv's order.
inline constexpr std::array<const char*, 7> kNumbers{
    "steps", "final_train_loss", "final_val_loss", "best_val_loss", "final_val_metric",
    "train_seconds", "ms_per_step"};
}  // namespace sweep_index

// Every name above as one JSON object, keyed by its constant's name ({"attr": {"kRunId":
// "run_id", ...}, "statistics": [...], ...}): what tests/python/test_schema.py compares the
// Python reader's names with.
std::string schema_json();

}  // namespace normlab::io::schema
