#include "io/run_schema.hpp"

#include <string_view>
#include <utility>
#include <vector>

namespace normlab::io::schema {

namespace {

// The names are plain identifiers, dots, dashes and slashes: nothing a JSON string must escape.
std::string quoted(std::string_view s) {
  std::string out = "\"";  // appended, not `"\"" + ...`: GCC 12 warns about that (-Wrestrict)
  out += s;
  return out += '"';
}

// {"kName": "value", ...} for one namespace of the schema.
using Entries = std::vector<std::pair<const char*, std::string>>;
std::string object(const Entries& entries) {
  std::string out = "{";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    out += (i ? ", " : "") + quoted(entries[i].first) + ": " + entries[i].second;
  }
  return out + "}";
}

template <std::size_t N>
std::string array(const std::array<const char*, N>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < N; ++i) out += (i ? ", " : "") + quoted(names[i]);
  return out + "]";
}

// An entry keyed by the constant's own name, so the key cannot differ from the C++ spelling.
#define NORMLAB_NAME(ns, constant) {#constant, quoted(ns::constant)}
#define NORMLAB_NUMBER(ns, constant) {#constant, std::to_string(ns::constant)}

}  // namespace

std::string schema_json() {
  namespace s = schema;
  const Entries attributes{
      NORMLAB_NAME(attr, kFormat),       NORMLAB_NAME(attr, kFormatVersion),
      NORMLAB_NAME(attr, kNormlabVersion), NORMLAB_NAME(attr, kRunId),
      NORMLAB_NAME(attr, kStatus),       NORMLAB_NAME(attr, kConfigToml),
      NORMLAB_NAME(attr, kFamily),       NORMLAB_NAME(attr, kNorm),
      NORMLAB_NAME(attr, kNormOptions),  NORMLAB_NAME(attr, kTask),
      NORMLAB_NAME(attr, kOptimizer),    NORMLAB_NAME(attr, kDtype),
      NORMLAB_NAME(attr, kSeed),         NORMLAB_NAME(attr, kLr),
      NORMLAB_NAME(attr, kStatsEvery),   NORMLAB_NAME(attr, kValMetricName),
      NORMLAB_NAME(attr, kStarted),      NORMLAB_NAME(attr, kFinished),
      NORMLAB_NAME(attr, kPeakRssMib),   NORMLAB_NAME(attr, kResumedFrom),
      NORMLAB_NAME(attr, kKernels),      NORMLAB_NAME(attr, kBlasCore),
      NORMLAB_NAME(attr, kChanceLoss)};
  const Entries statuses{NORMLAB_NAME(status, kRunning), NORMLAB_NAME(status, kCompleted),
                         NORMLAB_NAME(status, kDiverged), NORMLAB_NAME(status, kStuck),
                         NORMLAB_NAME(status, kInterrupted)};
  const Entries axes{NORMLAB_NAME(axis, kStep), NORMLAB_NAME(axis, kEvalStep),
                     NORMLAB_NAME(axis, kStatStep), NORMLAB_NAME(axis, kSite)};
  const Entries series_names{
      NORMLAB_NAME(series, kTrainLoss), NORMLAB_NAME(series, kLr),
      NORMLAB_NAME(series, kGradNorm),  NORMLAB_NAME(series, kStepTime),
      NORMLAB_NAME(series, kValLoss),   NORMLAB_NAME(series, kValMetric)};
  const Entries site_tables{NORMLAB_NAME(site, kKind), NORMLAB_NAME(site, kLayer),
                            NORMLAB_NAME(site, kFeatures)};
  const Entries suffixes{NORMLAB_NAME(suffix, kRunFile), NORMLAB_NAME(suffix, kPartial),
                         NORMLAB_NAME(suffix, kOldRows), NORMLAB_NAME(suffix, kResume),
                         NORMLAB_NAME(suffix, kTemporary), NORMLAB_NAME(suffix, kLock)};
  const Entries checkpoint{
      NORMLAB_NAME(resume, kFormat),     NORMLAB_NUMBER(resume, kFormatVersion),
      NORMLAB_NAME(resume, kStep),       NORMLAB_NAME(resume, kTrainRng),
      NORMLAB_NAME(resume, kDropoutRng), NORMLAB_NAME(resume, kOptimizerT),
      NORMLAB_NAME(resume, kTrainLoss),  NORMLAB_NAME(resume, kValLoss),
      NORMLAB_NAME(resume, kValMetric),  NORMLAB_NAME(resume, kParams),
      NORMLAB_NAME(resume, kOptimizerM), NORMLAB_NAME(resume, kOptimizerV),
      NORMLAB_NAME(resume, kSha256Params), NORMLAB_NAME(resume, kSha256OptimizerM),
      NORMLAB_NAME(resume, kSha256OptimizerV), NORMLAB_NAME(resume, kSha256State)};
  const Entries index{
      NORMLAB_NAME(sweep_index, kFormat),     NORMLAB_NAME(sweep_index, kCsvFile),
      NORMLAB_NAME(sweep_index, kH5File),     NORMLAB_NAME(sweep_index, kRun),
      NORMLAB_NAME(sweep_index, kId),         NORMLAB_NAME(sweep_index, kStatus),
      NORMLAB_NAME(sweep_index, kMissing),    NORMLAB_NAME(sweep_index, kUnreadable),
      NORMLAB_NAME(sweep_index, kOverrides),  NORMLAB_NAME(sweep_index, kStarted),
      NORMLAB_NAME(sweep_index, kFinished),   NORMLAB_NAME(sweep_index, kPath),
      {"kNumbers", array(sweep_index::kNumbers)}};
  return object({NORMLAB_NAME(s, kRunFormat),
                 NORMLAB_NUMBER(s, kRunFormatVersion),
                 NORMLAB_NAME(s, kCheckpointGroup),
                 NORMLAB_NAME(s, kCheckpointSha256),
                 {"attr", object(attributes)},
                 {"status", object(statuses)},
                 {"axis", object(axes)},
                 {"series", object(series_names)},
                 {"kStepSeries", array(kStepSeries)},
                 {"kEvalSeries", array(kEvalSeries)},
                 {"site", object(site_tables)},
                 {"kStatistics", array(kStatistics)},
                 {"suffix", object(suffixes)},
                 {"resume", object(checkpoint)},
                 {"sweep_index", object(index)}});
}

#undef NORMLAB_NAME
#undef NORMLAB_NUMBER

}  // namespace normlab::io::schema
