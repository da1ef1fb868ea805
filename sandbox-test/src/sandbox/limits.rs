//! The resource limits of [`Sandbox`] (see `limits.rs`).

use std::time::Duration;

use super::Sandbox;

impl Sandbox {
    /// Limits the body's memory to `bytes`: `memory.max` of the sandbox's cgroup with a
    /// delegated cgroup v2, `RLIMIT_DATA` of each body process otherwise.
    pub fn memory(mut self, bytes: u64) -> Self {
        self.limits.memory = Some(bytes);
        self
    }

    /// Limits the body to `tasks` processes and threads, itself included: `pids.max` with
    /// a delegated cgroup v2, `RLIMIT_NPROC` (counted in the sandbox's user namespace)
    /// otherwise.
    pub fn pids(mut self, tasks: u64) -> Self {
        self.limits.pids = Some(tasks);
        self
    }

    /// Limits each body process's CPU time (`RLIMIT_CPU`, whole seconds, rounded up):
    /// SIGXCPU at the limit, SIGKILL one second later.
    pub fn cpu(mut self, budget: Duration) -> Self {
        self.limits.cpu = Some(budget);
        self
    }

    /// Limits the body's open files (`RLIMIT_NOFILE`): no new fd numbers at or above `fds`.
    pub fn files(mut self, fds: u64) -> Self {
        self.limits.files = Some(fds);
        self
    }
}
