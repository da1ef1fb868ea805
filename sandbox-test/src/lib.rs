pub use sandbox_test_macros::sandboxed;

pub mod spec;
pub mod net;
#[cfg(test)]
mod test_support;
