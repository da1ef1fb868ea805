//! Option values and their parsers.
//!
//! This module is std-only: the `#[sandboxed]` macro includes the same files with
//! `#[path]`, so an attribute value is validated at compile time by exactly the parser the
//! runtime uses.

pub mod bind;
pub mod cpu;
pub mod duration;
pub mod host_socket;
pub mod hostname;
pub mod net;
pub mod path;
pub mod seccomp;
pub mod size;
pub mod time;
