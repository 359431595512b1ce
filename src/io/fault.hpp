// Fault injection for the crash-safety tests: NORMLAB_FAULT_AT=PHASE:N makes the N-th (from 1)
// call of fault_point(PHASE) in this process kill it with SIGKILL, as a power loss or kill -9 at
// that instant would. Compiled in always; without the variable (or for another phase) a call
// does nothing but count. The phases: "finish" (closing a completed, diverged or interrupted
// run: io::RunFile::finish and abandon, then train::Resume::ended).
#pragma once

namespace normlab::io {

void fault_point(const char* phase);

}  // namespace normlab::io
