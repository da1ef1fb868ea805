//! Mounts inside the sandbox.

pub mod isolation;
pub mod mountinfo;
