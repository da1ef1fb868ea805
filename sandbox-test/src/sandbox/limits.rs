//! The resource limits of [`Sandbox`] (see `limits.rs`). A zero limit would leave the
//! body nothing to run with, so it is an [`OptionError`].

use std::time::Duration;

use super::{OptionError, Sandbox};

impl Sandbox {
    /// Limits the body's memory to `bytes` (`memory = "256M"`): `memory.max` of the
    /// sandbox's cgroup with a delegated cgroup v2, `RLIMIT_DATA` of each body process
    /// otherwise.
    ///
    /// ```no_run
    /// use sandbox_test::{LimitKind, Outcome, Sandbox};
    ///
    /// fn hungry() {
    ///     let mut hoard = Vec::new();
    ///     loop {
    ///         hoard.push(vec![1u8; 1 << 20]);
    ///     }
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::OptionError> {
    /// let report = Sandbox::new().memory(64 << 20)?.run(hungry);
    /// let Outcome::LimitExceeded { hit, .. } = report.outcome else { panic!() };
    /// assert_eq!(hit.limit, LimitKind::Memory);
    /// # Ok(()) }
    /// ```
    pub fn memory(mut self, bytes: u64) -> Result<Self, OptionError> {
        self.limits.memory = Some(nonzero("memory", bytes)?);
        Ok(self)
    }

    /// Limits the body to `tasks` processes and threads, itself included (`pids = 16`):
    /// `pids.max` with a delegated cgroup v2, `RLIMIT_NPROC` (counted in the sandbox's
    /// user namespace) otherwise.
    pub fn pids(mut self, tasks: u64) -> Result<Self, OptionError> {
        self.limits.pids = Some(nonzero("pids", tasks)?);
        Ok(self)
    }

    /// Limits each body process's CPU time (`cpu = "2s"`; `RLIMIT_CPU`, whole seconds,
    /// rounded up): SIGXCPU at the limit, SIGKILL one second later.
    pub fn cpu(mut self, budget: Duration) -> Result<Self, OptionError> {
        if budget.is_zero() {
            return Err(OptionError::new(
                "cpu",
                "a CPU budget of zero leaves no time to run",
            ));
        }
        self.limits.cpu = Some(budget);
        Ok(self)
    }

    /// Limits the body's open files (`files = 64`; `RLIMIT_NOFILE`): no new fd numbers at
    /// or above `fds`.
    pub fn files(mut self, fds: u64) -> Result<Self, OptionError> {
        self.limits.files = Some(nonzero("files", fds)?);
        Ok(self)
    }
}

fn nonzero(option: &'static str, value: u64) -> Result<u64, OptionError> {
    match value {
        0 => Err(OptionError::new(option, "must be greater than zero")),
        value => Ok(value),
    }
}
