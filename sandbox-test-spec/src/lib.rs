//! The option values of [sandbox-test](https://docs.rs/sandbox-test) and their parsers.
//!
//! Both the `#[sandboxed(...)]` attribute (crate `sandbox-test-macros`, at compile time) and
//! the runtime (crate `sandbox-test`, when a sandbox runs) check an option's text with the
//! same function of this crate, so an attribute value the macro accepts is one the runtime
//! accepts, and both report a bad one with the same message. The crate uses only `std`.
//!
//! You rarely need it directly: the runtime re-exports what its API takes.
//!
//! ```
//! use std::time::Duration;
//! use sandbox_test_spec::{duration::parse_duration, size::parse_size};
//!
//! assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
//! assert_eq!(parse_size("64MiB"), Ok(64 << 20));
//! assert!(parse_duration("ten seconds").is_err());
//! ```

#![warn(missing_docs)]

pub mod bind;
pub mod cpu;
pub mod duration;
pub mod host_socket;
pub mod hostname;
pub mod inject;
pub mod net;
pub mod path;
pub mod seccomp;
pub mod size;
pub mod time;
