//! Compile errors of `#[sandboxed]`: each file in tests/ui/ must fail to compile with the
//! message in its `.stderr`, spanned on the bad value.

#[test]
fn bad_attribute_arguments_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
