//! The time option of [`Sandbox`] (see `time/`).

use super::Sandbox;
use crate::time::TimeTravel;

impl Sandbox {
    /// Moves the sandbox's clocks: see [`TimeTravel`].
    ///
    /// ```no_run
    /// use sandbox_test::{Sandbox, TimeTravel};
    ///
    /// fn body() {
    ///     assert!(unsafe { libc::time(std::ptr::null_mut()) } > i32::MAX.into());
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::TimeSpecError> {
    /// let travel = TimeTravel::new().realtime("2038-01-19T03:14:08Z")?;
    /// let report = Sandbox::new().time(travel).run(body);
    /// # let _ = report;
    /// # Ok(()) }
    /// ```
    pub fn time(mut self, travel: TimeTravel) -> Self {
        self.time = travel;
        self
    }
}
