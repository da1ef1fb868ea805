//! Bad `#[sandboxed]` arguments are compile errors that point at the bad token.

#[test]
fn bad_arguments_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
