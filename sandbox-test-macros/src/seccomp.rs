//! `seccomp(...)` in `#[sandboxed(...)]`: parsed into a [`Model`], checked with the
//! runtime's own parsers (`spec::seccomp`), turned into `Sandbox` builder calls.
//!
//! Checked at compile time: the keys and their combinations, `@group` names, the shape of
//! syscall names, `on_violation` and the errno name. Whether a syscall name exists is
//! only known to libseccomp, which the proc-macro does not link: the runtime resolves the
//! names when it compiles the filter, and an unknown one is a setup failure naming it.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, LitStr, Meta};

use crate::model::{key_values, one_of, string_literal};
use crate::spec::seccomp::{parse_errno, OnViolation, SyscallItem};

const KEYS: &str = "deny = [...], allow = [...], profile = \"x.json\", record = \"x.json\", \
                    on_violation = \"fail\"|\"errno\"|\"kill\", errno = \"EPERM\"";

/// What the attribute asked for.
pub(crate) enum Model {
    Off,
    Deny(ListModel),
    Allow(ListModel),
    Profile(LitStr),
    Record(LitStr),
}

/// A `deny`/`allow` list with its violation options.
pub(crate) struct ListModel {
    pub items: Vec<LitStr>,
    pub on_violation: Option<LitStr>,
    pub errno: Option<LitStr>,
}

fn list(expr: &Expr) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(ExprArray { elems, .. }) = expr else {
        return Err(syn::Error::new(
            expr.span(),
            "expected a list of syscall names and groups, e.g. [\"connect\", \"@mount\"]",
        ));
    };
    let items: Vec<LitStr> = elems
        .iter()
        .map(string_literal)
        .collect::<syn::Result<_>>()?;
    for item in &items {
        SyscallItem::parse(&item.value()).map_err(|e| syn::Error::new(item.span(), e))?;
    }
    if items.is_empty() {
        return Err(syn::Error::new(expr.span(), "the list is empty"));
    }
    Ok(items)
}

/// Parses `seccomp(...)` or `seccomp = "off"`.
pub(crate) fn parse(meta: &Meta) -> syn::Result<Model> {
    let list_meta = match meta {
        Meta::NameValue(nv) => {
            let value = string_literal(&nv.value)?;
            return if value.value() == "off" {
                Ok(Model::Off)
            } else {
                Err(syn::Error::new(
                    value.span(),
                    format!(
                        "`seccomp = \"...\"` takes only \"off\"; otherwise use seccomp({KEYS})"
                    ),
                ))
            };
        }
        Meta::List(list) => list,
        Meta::Path(p) => {
            return Err(syn::Error::new(
                p.span(),
                format!("expected seccomp({KEYS}) or seccomp = \"off\""),
            ))
        }
    };
    let mut policy: Option<(String, Model)> = None;
    let mut on_violation: Option<LitStr> = None;
    let mut errno: Option<LitStr> = None;
    for (key, nv) in key_values(list_meta, KEYS)? {
        let nv = &nv;
        let model = match key.as_str() {
            "deny" | "allow" => {
                let lm = ListModel {
                    items: list(&nv.value)?,
                    on_violation: None,
                    errno: None,
                };
                if key == "deny" {
                    Model::Deny(lm)
                } else {
                    Model::Allow(lm)
                }
            }
            "profile" => Model::Profile(string_literal(&nv.value)?),
            "record" => Model::Record(string_literal(&nv.value)?),
            "on_violation" => {
                let v = string_literal(&nv.value)?;
                OnViolation::parse(&v.value()).map_err(|e| syn::Error::new(v.span(), e))?;
                on_violation = Some(v);
                continue;
            }
            "errno" => {
                let v = string_literal(&nv.value)?;
                parse_errno(&v.value()).map_err(|e| syn::Error::new(v.span(), e))?;
                errno = Some(v);
                continue;
            }
            _ => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!("unknown seccomp option `{key}`; seccomp takes: {KEYS}"),
                ))
            }
        };
        let choose = "give one of deny, allow, profile, record";
        one_of(&mut policy, key, model, nv.path.span(), choose)?;
    }
    let Some((_, mut model)) = policy else {
        return Err(syn::Error::new(
            list_meta.span(),
            "seccomp(...) needs one of deny, allow, profile, record",
        ));
    };
    match &mut model {
        Model::Deny(lm) | Model::Allow(lm) => {
            if let Some(e) = &errno {
                let errno_mode =
                    on_violation.as_ref().map(LitStr::value).as_deref() == Some("errno");
                if !errno_mode {
                    return Err(syn::Error::new(
                        e.span(),
                        "`errno` needs `on_violation = \"errno\"`",
                    ));
                }
            }
            lm.on_violation = on_violation;
            lm.errno = errno;
        }
        _ => {
            if let Some(v) = on_violation.or(errno) {
                return Err(syn::Error::new(
                    v.span(),
                    "`on_violation` and `errno` go with `deny` or `allow` (a profile's actions are its own)",
                ));
            }
        }
    }
    Ok(model)
}

impl Model {
    /// The builder calls for this policy.
    pub(crate) fn builder_calls(&self) -> TokenStream {
        let manifest_path = |path: &LitStr| quote!(::std::path::Path::new(::core::env!("CARGO_MANIFEST_DIR")).join(#path));
        match self {
            Model::Off => quote!(.seccomp_off()),
            Model::Deny(lm) | Model::Allow(lm) => {
                let items = &lm.items;
                // Both values were checked when the attribute was parsed.
                let checked = "checked when the attribute was parsed";
                let mode = lm
                    .on_violation
                    .as_ref()
                    .map_or(Ok(OnViolation::Fail), |mode| {
                        OnViolation::parse(&mode.value())
                    })
                    .expect(checked);
                let mode = match mode {
                    OnViolation::Fail => quote!(Fail),
                    OnViolation::Kill => quote!(Kill),
                    OnViolation::Errno => {
                        let name = lm.errno.as_ref().map_or("EPERM".to_owned(), LitStr::value);
                        parse_errno(&name).expect(checked);
                        let name = Ident::new(&name, Span::call_site());
                        quote!(Errno(::sandbox_test::Errno::#name))
                    }
                };
                let rules = quote!(
                    ::sandbox_test::seccomp::Rules::new([#(#items),*])?
                        .on_violation(::sandbox_test::seccomp::OnViolation::#mode)
                );
                if matches!(self, Model::Deny(_)) {
                    quote!(.seccomp_deny(#rules)?)
                } else {
                    quote!(.seccomp_allow(#rules)?)
                }
            }
            Model::Profile(path) => {
                let path = manifest_path(path);
                quote!(.seccomp_profile(#path)?)
            }
            Model::Record(path) => {
                let path = manifest_path(path);
                quote!(.seccomp_record(#path))
            }
        }
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
    fn accepts_each_form() {
        assert!(matches!(
            parse_str(r#"seccomp = "off""#).ok().unwrap(),
            Model::Off
        ));
        let m = parse_str(
            r#"seccomp(deny = ["connect", "@mount"], on_violation = "errno", errno = "EACCES")"#,
        )
        .unwrap();
        let calls = m.builder_calls().to_string();
        assert!(calls.contains("seccomp_deny"), "{calls}");
        assert!(calls.contains("\"@mount\""), "{calls}");
        assert!(calls.contains("OnViolation :: Errno"), "{calls}");
        assert!(calls.contains("Errno :: EACCES"), "{calls}");
        let m = parse_str(r#"seccomp(profile = "tests/p.json")"#)
            .ok()
            .unwrap();
        assert!(m.builder_calls().to_string().contains("CARGO_MANIFEST_DIR"));
        assert!(matches!(
            parse_str(r#"seccomp(record = "r.json")"#).ok().unwrap(),
            Model::Record(_)
        ));
        assert!(matches!(
            parse_str(r#"seccomp(allow = ["read"], on_violation = "kill")"#)
                .ok()
                .unwrap(),
            Model::Allow(_)
        ));
    }

    #[test]
    fn refuses_bad_values_and_combinations() {
        assert!(err(r#"seccomp(deny = ["@netwrk"])"#).contains("unknown syscall group `@netwrk`"));
        assert!(err(r#"seccomp(deny = ["Connect"])"#).contains("not a syscall name"));
        assert!(err(r#"seccomp(deny = [])"#).contains("empty"));
        assert!(err(r#"seccomp(deny = "connect")"#).contains("list"));
        assert!(err(r#"seccomp(deny = ["a"], allow = ["b"])"#).contains("conflicts with `deny`"));
        assert!(err(r#"seccomp(profile = "a", record = "b")"#).contains("conflicts"));
        assert!(err(r#"seccomp(deny = ["a"], on_violation = "panic")"#).contains("`panic`"));
        assert!(err(r#"seccomp(deny = ["a"], errno = "EPERM")"#).contains("needs `on_violation"));
        assert!(
            err(r#"seccomp(deny = ["a"], on_violation = "errno", errno = "EFOO")"#)
                .contains("EFOO")
        );
        assert!(err(r#"seccomp(profile = "a", on_violation = "errno")"#).contains("go with `deny`"));
        assert!(err(r#"seccomp(deny = ["a"], deny = ["b"])"#).contains("twice"));
        assert!(err(r#"seccomp(bogus = "x")"#).contains("unknown seccomp option `bogus`"));
        assert!(err(r#"seccomp = "on""#).contains("only \"off\""));
        assert!(err(r#"seccomp()"#).contains("needs one of"));
        assert!(err(r#"seccomp(on_violation = "kill")"#).contains("needs one of"));
    }
}
