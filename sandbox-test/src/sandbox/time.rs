//! The time option of [`Sandbox`] (see `time/`).

use super::Sandbox;
use crate::time::TimeTravel;

impl Sandbox {
    /// Moves the sandbox's clocks (`time(...)`): see [`TimeTravel`].
    ///
    /// ```no_run
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// use sandbox_test::{Sandbox, TimeTravel};
    ///
    /// fn body() {
    ///     assert!(unsafe { libc::time(std::ptr::null_mut()) } > i32::MAX.into());
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::TimeSpecError> {
    /// let y2038 = UNIX_EPOCH + Duration::from_secs(1 << 31);
    /// let report = Sandbox::new().time(TimeTravel::new().realtime(y2038)?).run(body);
    /// report.assert_passed();
    /// # Ok(()) }
    /// ```
    pub fn time(mut self, travel: TimeTravel) -> Self {
        self.time = travel;
        self
    }
}
