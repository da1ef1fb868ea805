//! The attribute's arguments, parsed and checked.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Meta, Token};

use crate::spec;

/// Every option `#[sandboxed(...)]` takes.
const OPTIONS: &str = "timeout, hostname, env(...), clear_env, workdir, time(...), net (= mode, or (hosts = [...])), readonly_root, writable_host, expose, writable, hide, bind, memory, pids, cpu, files, seccomp(...), inject(...)";

pub(crate) struct Model {
    pub timeout: Option<Duration>,
    pub hostname: Option<LitStr>,
    pub env: Vec<(Ident, Expr)>,
    pub clear_env: bool,
    pub workdir: Option<Workdir>,
    pub seccomp: Option<crate::seccomp::Model>,
    /// `inject(...)`, in order (it may be given several times).
    pub inject: Vec<crate::inject::Model>,
    pub isolation: crate::isolation::Isolation,
    pub time: Option<crate::time::Model>,
}

pub(crate) enum Workdir {
    Temp,
    Path(LitStr),
}

impl Model {
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Model> {
        let metas =
            syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args)?;
        let mut model = Model {
            timeout: None,
            hostname: None,
            env: Vec::new(),
            clear_env: false,
            workdir: None,
            seccomp: None,
            inject: Vec::new(),
            isolation: Default::default(),
            time: None,
        };
        let mut seen: Vec<String> = Vec::new();
        for meta in &metas {
            let name = option_name(meta)?;
            if seen.contains(&name) && name != "inject" {
                return Err(syn::Error::new(
                    meta.path().span(),
                    format!("`{name}` is given twice"),
                ));
            }
            seen.push(name.clone());
            match name.as_str() {
                "timeout" => {
                    let text = string_value(meta)?;
                    let timeout = spec::duration::parse_duration(&text.value())
                        .map_err(|why| syn::Error::new(text.span(), why))?;
                    model.timeout = Some(timeout);
                }
                "hostname" => {
                    let text = string_value(meta)?;
                    spec::hostname::check_hostname(&text.value())
                        .map_err(|why| syn::Error::new(text.span(), why))?;
                    model.hostname = Some(text);
                }
                "env" => model.env = env_pairs(meta)?,
                "seccomp" => model.seccomp = Some(crate::seccomp::parse(meta)?),
                "inject" => model.inject.push(crate::inject::parse(meta)?),
                "time" => model.time = Some(crate::time::parse(meta)?),
                "clear_env" => {
                    flag(meta)?;
                    model.clear_env = true;
                }
                "workdir" => {
                    let text = string_value(meta)?;
                    model.workdir = Some(match text.value().as_str() {
                        "temp" => Workdir::Temp,
                        path if spec::path::parse_absolute_path(path).is_ok() => {
                            Workdir::Path(text)
                        }
                        _ => {
                            return Err(syn::Error::new(
                                text.span(),
                                "`workdir` takes \"temp\" (a fresh directory, removed afterwards) or an absolute path",
                            ))
                        }
                    });
                }
                isolation if crate::isolation::OPTIONS.contains(&isolation) => {
                    model.isolation.parse(isolation, meta)?
                }
                _ => {
                    return Err(syn::Error::new(
                        meta.path().span(),
                        format!("unknown option `{name}`; #[sandboxed] takes: {OPTIONS}"),
                    ))
                }
            }
        }
        if let (Some(hostname), false) = (&model.hostname, model.isolation.hosts.is_empty()) {
            return Err(syn::Error::new(
                hostname.span(),
                "with `net(hosts = [...])`, each host's hostname is its name (the body runs on \
                 the first); drop `hostname`",
            ));
        }
        Ok(model)
    }

    /// The builder calls that make this model's `Sandbox`.
    pub(crate) fn builder_calls(&self) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(timeout) = self.timeout {
            let nanos = timeout.as_nanos() as u64;
            calls.extend(quote!(.timeout(::std::time::Duration::from_nanos(#nanos))));
        }
        if let Some(hostname) = &self.hostname {
            calls.extend(quote!(.hostname(#hostname)?));
        }
        if self.clear_env {
            calls.extend(quote!(.clear_env()));
        }
        for (key, value) in &self.env {
            let key = key.to_string();
            calls.extend(quote!(.env(#key, ::sandbox_test::__private::env_value(&(#value)))));
        }
        match &self.workdir {
            None => {}
            Some(Workdir::Temp) => calls.extend(quote!(.workdir_temp())),
            Some(Workdir::Path(path)) => calls.extend(quote!(.workdir(#path)?)),
        }
        calls.extend(self.isolation.builder_calls());
        if let Some(time) = &self.time {
            calls.extend(time.builder_calls());
        }
        if let Some(seccomp) = &self.seccomp {
            calls.extend(seccomp.builder_calls());
        }
        for rule in &self.inject {
            calls.extend(rule.builder_call());
        }
        calls
    }
}

/// The option's name: a single identifier.
pub(crate) fn option_name(meta: &Meta) -> syn::Result<String> {
    meta.path()
        .get_ident()
        .map(|ident| ident.to_string())
        .ok_or_else(|| {
            syn::Error::new(
                meta.path().span(),
                format!("expected an option name; #[sandboxed] takes: {OPTIONS}"),
            )
        })
}

/// The `key = value` entries of `name(...)`, each key at most once; `keys` lists them for
/// the error.
pub(crate) fn key_values(
    list: &syn::MetaList,
    keys: &str,
) -> syn::Result<Vec<(String, syn::MetaNameValue)>> {
    let entries = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let mut out: Vec<(String, syn::MetaNameValue)> = Vec::new();
    for entry in entries {
        let Meta::NameValue(nv) = entry else {
            return Err(syn::Error::new(
                entry.span(),
                format!("expected `key = value`: {keys}"),
            ));
        };
        let key = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        if out.iter().any(|(k, _)| *k == key) {
            return Err(syn::Error::new(
                nv.path.span(),
                format!("`{key}` is given twice"),
            ));
        }
        out.push((key, nv));
    }
    Ok(out)
}

/// Puts `value` for `key` in `slot`, which holds one of several keys that exclude each
/// other; a second one is an error spanned on `span` that ends with `choose`.
pub(crate) fn one_of<T>(
    slot: &mut Option<(String, T)>,
    key: String,
    value: T,
    span: proc_macro2::Span,
    choose: &str,
) -> syn::Result<()> {
    if let Some((first, _)) = slot {
        return Err(syn::Error::new(
            span,
            format!("`{key}` conflicts with `{first}`: {choose}"),
        ));
    }
    *slot = Some((key, value));
    Ok(())
}

/// A string literal, or an error spanned on whatever stands there instead.
pub(crate) fn string_literal(expr: &Expr) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text.clone()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    }
}

/// `name = "text"`.
pub(crate) fn string_value(meta: &Meta) -> syn::Result<LitStr> {
    match meta {
        Meta::NameValue(nv) => string_literal(&nv.value),
        _ => Err(syn::Error::new(
            meta.span(),
            format!("expected `{} = \"...\"`", path_text(meta)),
        )),
    }
}

/// A bare `name`.
pub(crate) fn flag(meta: &Meta) -> syn::Result<()> {
    match meta {
        Meta::Path(_) => Ok(()),
        _ => Err(syn::Error::new(
            meta.span(),
            format!("`{}` takes no value", path_text(meta)),
        )),
    }
}

fn path_text(meta: &Meta) -> String {
    meta.path()
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_default()
}

/// `env(KEY = expr, ...)`.
fn env_pairs(meta: &Meta) -> syn::Result<Vec<(Ident, Expr)>> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new(
            meta.span(),
            "expected `env(KEY = value, ...)`",
        ));
    };
    let items = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let mut pairs: Vec<(Ident, Expr)> = Vec::new();
    for item in items {
        let Meta::NameValue(nv) = item else {
            return Err(syn::Error::new(item.span(), "expected `KEY = value`"));
        };
        let key = nv
            .path
            .get_ident()
            .cloned()
            .ok_or_else(|| syn::Error::new(nv.path.span(), "expected a variable name"))?;
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(syn::Error::new(
                key.span(),
                format!("`{key}` is given twice"),
            ));
        }
        pairs.push((key, nv.value));
    }
    if pairs.is_empty() {
        return Err(syn::Error::new(Span::call_site(), "`env()` is empty"));
    }
    Ok(pairs)
}

/// Parsing one option from text, for the option modules' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use syn::Meta;

    /// Parses `text` as one option and hands it to `parse`.
    pub(crate) fn parse_meta<T>(parse: fn(&Meta) -> syn::Result<T>, text: &str) -> syn::Result<T> {
        let meta: Meta = syn::parse_str(text).unwrap();
        parse(&meta)
    }

    /// The error `parse` gives for `text`; panics if it accepts it.
    pub(crate) fn error_of<T>(parse: fn(&Meta) -> syn::Result<T>, text: &str) -> String {
        match parse_meta(parse, text) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("`{text}` was accepted"),
        }
    }
}
