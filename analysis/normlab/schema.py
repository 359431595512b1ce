"""The names of the run file (docs/FORMAT.md) that this reader uses, spelled as the C++ writer's
src/io/run_schema.hpp defines them: NAMESPACE_NAME here is io::schema::namespace_::kName there
(ATTR_RUN_ID is attr::kRunId), FORMAT and FORMAT_VERSION are kRunFormat and kRunFormatVersion,
CHECKPOINT_GROUP is kCheckpointGroup. tests/python/test_schema.py compares every name here with
the C++ one, so a name changed on one side only fails the tests.
"""

FORMAT = "normlab-run"
FORMAT_VERSION = 4  # the newest version this reader knows

# Root attributes.
ATTR_FORMAT = "format"
ATTR_FORMAT_VERSION = "format_version"
ATTR_RUN_ID = "run_id"
ATTR_STATUS = "status"
ATTR_CONFIG_TOML = "config_toml"
ATTR_CHANCE_LOSS = "chance_loss"  # absent in files written before it

# The values of `status`: a run with a result is completed, stuck or diverged.
STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_DIVERGED = "diverged"
STATUS_STUCK = "stuck"
STATUS_INTERRUPTED = "interrupted"

# The dimension scales: each series is found through the scale on its first axis.
AXIS_STEP = "step"
AXIS_EVAL_STEP = "eval_step"
AXIS_STAT_STEP = "stat_step"
AXIS_SITE = "site"

# The series the summaries read.
SERIES_TRAIN_LOSS = "train_loss"
SERIES_STEP_TIME = "step_time"
SERIES_VAL_LOSS = "val_loss"
SERIES_VAL_METRIC = "val_metric"

# The site tables are named AXIS_SITE + "_" + column (Run.sites() drops the prefix).
SITE_KIND = "site_kind"
SITE_LAYER = "site_layer"
SITE_FEATURES = "site_features"

# The group of the final parameters (completed and diverged runs).
CHECKPOINT_GROUP = "checkpoint"

# NAME.h5.partial: a run training, stopped, or killed.
SUFFIX_PARTIAL = ".partial"
