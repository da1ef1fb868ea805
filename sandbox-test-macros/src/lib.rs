//! The `#[sandboxed]` attribute of [sandbox-test](https://docs.rs/sandbox-test): use it
//! through `sandbox_test::sandboxed`, whose crate documents the options and the runtime.
//!
//! The macro parses its arguments into a model, checks every value with the parsers the
//! runtime uses (crate `sandbox-test-spec`), so a bad value is a compile error pointing at
//! it, and generates a test that builds a `sandbox_test::Sandbox` with the same typed calls
//! the programmatic API offers and hands the body to it.

#![warn(missing_docs)]

use proc_macro::TokenStream;

mod above;
mod expand;
mod inject;
mod isolation;
mod model;
mod seccomp;
// The parsers the runtime uses too: `crate::spec::...` is `sandbox_test_spec::...`.
use sandbox_test_spec as spec;
mod time;

/// Runs the test in a Linux sandbox: fresh namespaces, a private `/tmp` and network, no
/// capabilities, a seccomp filter. The verdict comes back to libtest.
///
/// It adds `#[test]` unless a test attribute is already there; the arguments are the
/// options of the `sandbox_test` crate's guide (`timeout`, `hostname`, `env(...)`,
/// `clear_env`, `workdir`, `time(...)`, `net`, `readonly_root`, `writable`, `hide`, `bind`,
/// `memory`, `pids`, `cpu`, `files`, `seccomp(...)`).
///
/// ```ignore
/// use sandbox_test::sandboxed;
///
/// #[sandboxed(timeout = "10s", net = "none", time(realtime = "2038-01-19T03:14:08Z"))]
/// fn runs_in_2038_offline() {
///     assert!(std::net::TcpStream::connect("1.1.1.1:443").is_err());
/// }
/// ```
///
/// (`ignore` here: this crate cannot depend on `sandbox_test`; the same examples compile
/// as doctests of `sandbox_test`.)
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
