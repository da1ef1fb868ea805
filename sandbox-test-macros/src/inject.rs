//! `inject(...)` in `#[sandboxed(...)]`: one fault-injection rule, checked with the
//! runtime's parsers (`spec::seccomp` for names and errnos, `spec::inject` for `when`,
//! `spec::duration` for delays) and the `glob` crate the runtime matches with, turned into
//! a typed `Sandbox::inject` call. Whether the syscall exists on the machine is known only
//! at run time (libseccomp): an unknown one is a setup failure naming it.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitStr, Meta, UnOp};

use crate::model::{key_values, one_of, string_literal};
use crate::spec::duration::parse_duration;
use crate::spec::inject::{check_injectable, When, ACTION_KEYS};
use crate::spec::seccomp::{parse_errno, SyscallItem};

const KEYS: &str = "syscall = \"write\" or \"@group\", one of errno = \"ENOSPC\" | retval = N | \
                    delay = \"300ms\", and optionally when = \"3+\", path = \"/glob/*\"";

enum Fault {
    /// An errno name, checked against the table (the generated code names the constant).
    Errno(String),
    Retval(i64),
    Delay(std::time::Duration),
}

/// One `inject(...)`.
pub(crate) struct Model {
    syscall: LitStr,
    fault: Fault,
    when: Option<When>,
    path: Option<LitStr>,
}

fn retval(expr: &Expr) -> syn::Result<i64> {
    let (negative, lit) = match expr {
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => (true, &**expr),
        other => (false, other),
    };
    match lit {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            let value: i64 = int.base10_parse()?;
            Ok(if negative { -value } else { value })
        }
        other => Err(syn::Error::new(
            other.span(),
            "expected an integer: the value the call returns, e.g. `retval = 0`",
        )),
    }
}

/// Parses `inject(...)`.
pub(crate) fn parse(meta: &Meta) -> syn::Result<Model> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new(
            meta.span(),
            format!("expected inject({KEYS})"),
        ));
    };
    let mut syscall = None;
    let mut fault: Option<(String, Fault)> = None;
    let mut when = None;
    let mut path = None;
    for (key, nv) in key_values(list, KEYS)? {
        let nv = &nv;
        let spanned = |e: &dyn std::fmt::Display, span: proc_macro2::Span| {
            syn::Error::new(span, e.to_string())
        };
        let action = match key.as_str() {
            "syscall" => {
                let v = string_literal(&nv.value)?;
                match SyscallItem::parse(&v.value()).map_err(|e| spanned(&e, v.span()))? {
                    SyscallItem::Syscall(name) => {
                        check_injectable(&name).map_err(|e| spanned(&e, v.span()))?
                    }
                    SyscallItem::Group(_) => {}
                }
                syscall = Some(v);
                continue;
            }
            "when" => {
                let v = string_literal(&nv.value)?;
                when = Some(When::parse(&v.value()).map_err(|e| spanned(&e, v.span()))?);
                continue;
            }
            "path" => {
                let v = string_literal(&nv.value)?;
                glob::Pattern::new(&v.value()).map_err(|e| {
                    spanned(&format!("bad path glob `{}`: {e}", v.value()), v.span())
                })?;
                path = Some(v);
                continue;
            }
            "errno" => {
                let v = string_literal(&nv.value)?;
                parse_errno(&v.value()).map_err(|e| spanned(&e, v.span()))?;
                Fault::Errno(v.value())
            }
            "retval" => Fault::Retval(retval(&nv.value)?),
            "delay" => {
                let v = string_literal(&nv.value)?;
                Fault::Delay(parse_duration(&v.value()).map_err(|e| spanned(&e, v.span()))?)
            }
            _ => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!("unknown inject option `{key}`; inject takes: {KEYS}"),
                ))
            }
        };
        let choose = format!("give exactly one of {}", ACTION_KEYS.join(", "));
        one_of(&mut fault, key, action, nv.path.span(), &choose)?;
    }
    let Some(syscall) = syscall else {
        return Err(syn::Error::new(
            list.span(),
            "inject(...) needs `syscall = \"name\"` (or an \"@group\")",
        ));
    };
    let Some((_, fault)) = fault else {
        return Err(syn::Error::new(
            list.span(),
            "inject(...) needs one of errno = \"NAME\", retval = N, delay = \"300ms\"",
        ));
    };
    Ok(Model {
        syscall,
        fault,
        when,
        path,
    })
}

impl Model {
    /// `.inject(Inject::new(...)...)`.
    pub(crate) fn builder_call(&self) -> TokenStream {
        let syscall = &self.syscall;
        let fault = match &self.fault {
            Fault::Errno(name) => {
                let name = Ident::new(name, Span::call_site());
                quote!(::sandbox_test::Fault::Errno(::sandbox_test::Errno::#name))
            }
            Fault::Retval(v) => quote!(::sandbox_test::Fault::Retval(#v)),
            Fault::Delay(d) => {
                let nanos = d.as_nanos() as u64;
                quote!(::sandbox_test::Fault::Delay(::std::time::Duration::from_nanos(#nanos)))
            }
        };
        let mut rule = quote!(::sandbox_test::Inject::new(#syscall, #fault));
        if let Some(when) = self.when {
            let (first, last, step) = when.parts();
            let last = match last {
                Some(l) => quote!(::core::option::Option::Some(#l)),
                None => quote!(::core::option::Option::None),
            };
            rule.extend(quote!(.when(::sandbox_test::When::from_parts(#first, #last, #step))));
        }
        if let Some(path) = &self.path {
            rule.extend(quote!(.path(#path)));
        }
        quote!(.inject(#rule)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> syn::Result<Model> {
        crate::model::test_support::parse_meta(parse, text)
    }

    fn err(text: &str) -> String {
        crate::model::test_support::error_of(parse, text)
    }

    #[test]
    fn accepts_each_fault() {
        let call = |t: &str| parse_str(t).ok().unwrap().builder_call().to_string();
        let c = call(
            r#"inject(syscall = "write", errno = "ENOSPC", when = "3+", path = "/var/lib/app/*")"#,
        );
        assert!(c.contains("Errno :: ENOSPC"), "{c}");
        assert!(
            c.contains("from_parts (3u64 , :: core :: option :: Option :: None , 1u64)"),
            "{c}"
        );
        assert!(c.contains(". path (\"/var/lib/app/*\")"), "{c}");
        assert!(call(r#"inject(syscall = "write", retval = -1)"#).contains("Retval (- 1i64)"));
        assert!(call(r#"inject(syscall = "@file-system", delay = "300ms")"#)
            .contains("from_nanos (300000000u64)"));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(err(r#"inject(syscall = "write", errno = "EFOO")"#).contains("EFOO"));
        assert!(err(r#"inject(syscall = "Write", errno = "EIO")"#).contains("not a syscall name"));
        assert!(
            err(r#"inject(syscall = "@nope", errno = "EIO")"#).contains("unknown syscall group")
        );
        assert!(
            err(r#"inject(syscall = "exit_group", errno = "EIO")"#).contains("cannot be injected")
        );
        assert!(err(r#"inject(syscall = "write", errno = "EIO", when = "3-")"#).contains("strace"));
        assert!(
            err(r#"inject(syscall = "write", errno = "EIO", retval = 0)"#)
                .contains("`retval` conflicts with `errno`")
        );
        assert!(err(r#"inject(syscall = "write")"#).contains("needs one of"));
        assert!(err(r#"inject(errno = "EIO")"#).contains("needs `syscall"));
        assert!(err(r#"inject(syscall = "write", retval = "0")"#).contains("expected an integer"));
        assert!(err(r#"inject(syscall = "write", delay = "soon")"#).contains("soon"));
        assert!(err(r#"inject(syscall = "write", errno = "EIO", path = "/a/[")"#).contains("glob"));
        assert!(err(r#"inject(syscall = "write", errno = "EIO", bogus = 1)"#).contains("`bogus`"));
        assert!(err(r#"inject = "write""#).contains("expected inject("));
    }
}
