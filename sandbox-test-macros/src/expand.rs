//! The code `#[sandboxed]` generates: a `#[test]` whose body hands the original body, as a
//! function pointer, to `sandbox_test::__private::run_test`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, ReturnType};

use crate::model::Model;

/// Whether an attribute already makes the function a test: `#[test]`, or any attribute
/// whose path ends in `test` (`#[tokio::test]`, `#[::core::prelude::v1::test]`).
fn is_test_attribute(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "test")
}

fn is_test_path(path: &str) -> bool {
    path.rsplit("::").next() == Some("test")
}

/// `above`: the paths of the attributes written above `#[sandboxed]` (see `above.rs`);
/// `#[rstest]` among them writes a `#[test]` above each case.
pub(crate) fn expand(model: Model, item: ItemFn, above: &[String]) -> syn::Result<TokenStream> {
    let signature = &item.sig;
    if let Some(asyncness) = &signature.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "#[sandboxed] needs a synchronous test: put `#[tokio::test]` (or another async test \
             attribute) above `#[sandboxed]`, so that it runs its runtime inside the sandbox",
        ));
    }
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            signature.generics.span(),
            "a sandboxed test cannot be generic",
        ));
    }
    if let Some(input) = signature.inputs.first() {
        return Err(syn::Error::new(
            input.span(),
            "a sandboxed test takes no arguments; with rstest, put `#[rstest]` above \
             `#[sandboxed]` so that each case becomes its own sandboxed test",
        ));
    }
    let has_test_attribute = item.attrs.iter().any(is_test_attribute)
        || above
            .iter()
            .any(|path| is_test_path(path) || path.rsplit("::").next() == Some("rstest"));
    let test_attribute = (!has_test_attribute).then(|| quote!(#[::core::prelude::v1::test]));
    let attrs = &item.attrs;
    let vis = &item.vis;
    let name = &signature.ident;
    let output = &signature.output;
    let body = &item.block;
    let body_type = match output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    // Outside the test fn, so that it is checked in every build, not only under `--test`.
    let check_body_type = quote_spanned! {output.span()=>
        const _: () = {
            fn __sandboxed_check<T: ::sandbox_test::TestBody>() {}
            let _ = __sandboxed_check::<#body_type>;
        };
    };
    let builder_calls = model.builder_calls();
    Ok(quote! {
        #check_body_type
        #test_attribute
        #(#attrs)*
        #vis fn #name() {
            fn __sandboxed_body() #output #body
            // The attribute checked every value; what only the runtime can check (syscall
            // names known to libseccomp, a profile's contents) fails the test here.
            let __sandboxed_sandbox = || -> ::core::result::Result<
                ::sandbox_test::Sandbox,
                ::std::boxed::Box<dyn ::std::error::Error>,
            > {
                ::core::result::Result::Ok(
                    ::sandbox_test::Sandbox::new()
                        .package_dir(::core::env!("CARGO_MANIFEST_DIR"))?
                        #builder_calls,
                )
            };
            ::sandbox_test::__private::run_test(__sandboxed_sandbox(), __sandboxed_body)
        }
    })
}
