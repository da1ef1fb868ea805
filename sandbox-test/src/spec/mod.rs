//! Option values and their parsers; std only, shared with the macro crate.

pub mod time;
