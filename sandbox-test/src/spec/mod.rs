//! Option values and their parsers. Std only: the macro crate includes this module with
//! `#[path]`, so the attribute and the runtime share one parser.

pub mod bind;
pub mod cpu;
pub mod net;
pub mod path;
pub mod size;
