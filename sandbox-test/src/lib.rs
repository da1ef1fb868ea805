pub use sandbox_test_macros::sandboxed;

pub mod spec;
pub mod time;

pub use time::TimeTravel;
