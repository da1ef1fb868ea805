//! Compile errors of `#[sandboxed(...)]`, each spanned on the offending value.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
