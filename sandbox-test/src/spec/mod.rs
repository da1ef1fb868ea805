//! Option values and their parsers.

pub mod seccomp;
