pub use sandbox_test_macros::sandboxed;
