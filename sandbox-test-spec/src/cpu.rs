//! CPU time budgets (`cpu = "10s"`): a duration (see [`super::duration`]) that the kernel
//! enforces (`RLIMIT_CPU`) in whole seconds, so a budget is rounded up to the next one.

use std::time::Duration;

/// The whole seconds the kernel will enforce for `budget` (rounded up, at least one).
pub fn whole_seconds(budget: Duration) -> u64 {
    let secs = budget.as_secs();
    let secs = if budget.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    };
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
    }
}
