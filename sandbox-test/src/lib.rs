pub use sandbox_test_macros::sandboxed;

pub mod filesystem;
pub mod limits;
pub mod net;
pub mod spec;
#[cfg(test)]
mod test_support;
