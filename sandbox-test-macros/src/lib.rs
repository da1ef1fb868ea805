//! The `#[sandboxed]` attribute of sandbox-test. It parses its arguments into a
//! [`model::Model`], checks every value with the runtime's own parsers, and generates a test
//! that hands the body to `sandbox_test`'s runtime. Use it through `sandbox_test::sandboxed`.

use proc_macro::TokenStream;

mod above;
mod expand;
mod inject;
mod isolation;
mod model;
mod seccomp;
#[path = "../../sandbox-test/src/spec/mod.rs"]
#[allow(dead_code)]
mod spec;
mod time;

/// Runs the test in a Linux sandbox. See the `sandbox_test` crate for the options.
#[proc_macro_attribute]
pub fn sandboxed(args: TokenStream, item: TokenStream) -> TokenStream {
    let above = above::attributes_above(proc_macro::Span::call_site()).unwrap_or_default();
    let result = model::Model::parse(args.into())
        .and_then(|model| expand::expand(model, syn::parse(item)?, &above));
    match result {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}
