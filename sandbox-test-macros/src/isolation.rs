//! The isolation options of `#[sandboxed(...)]`: `net`, `readonly_root`, `writable`,
//! `hide`, `bind`, `memory`, `pids`, `cpu`, `files`. Values are checked with the runtime's
//! own parsers (`spec`); an error points at the value.

use std::path::PathBuf;
use std::time::Duration;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, Lit, LitInt, LitStr, Meta};

use crate::model::{flag, string_literal, string_value};
use crate::spec;
use crate::spec::bind::BindSpec;
use crate::spec::host_socket::HostSocket;
use crate::spec::net::NetMode;

/// The option names this module parses.
pub(crate) const OPTIONS: [&str; 11] = [
    "net",
    "readonly_root",
    "writable_host",
    "expose",
    "writable",
    "hide",
    "bind",
    "memory",
    "pids",
    "cpu",
    "files",
];

/// The isolation options given to one test.
#[derive(Debug, Default)]
pub(crate) struct Isolation {
    pub net: Option<NetMode>,
    /// `net(hosts = [...])`.
    pub hosts: Vec<String>,
    pub readonly_root: bool,
    pub writable_host: bool,
    pub expose: Vec<HostSocket>,
    pub writable: Vec<PathBuf>,
    pub hide: Vec<PathBuf>,
    pub bind: Vec<BindSpec>,
    pub memory: Option<u64>,
    pub pids: Option<u64>,
    pub cpu: Option<Duration>,
    pub files: Option<u64>,
}

impl Isolation {
    /// Parses one option named `name` (one of [`OPTIONS`]) into `self`.
    pub(crate) fn parse(&mut self, name: &str, meta: &Meta) -> syn::Result<()> {
        match name {
            "net" => match meta {
                Meta::List(list) => self.hosts = hosts(list)?.iter().map(LitStr::value).collect(),
                _ => {
                    let text = string_value(meta).map_err(|_| {
                        syn::Error::new(
                            meta.span(),
                            "expected `net = \"loopback\" | \"none\" | \"host\"` or \
                             `net(hosts = [\"app\", \"db\"])`",
                        )
                    })?;
                    self.net = Some(checked(&text, text.value().parse::<NetMode>())?);
                }
            },
            "readonly_root" | "writable_host" => {
                flag(meta)?;
                let (this, other) = match name {
                    "readonly_root" => (&mut self.readonly_root, self.writable_host),
                    _ => (&mut self.writable_host, self.readonly_root),
                };
                if other {
                    return Err(syn::Error::new(
                        meta.span(),
                        "`readonly_root` and `writable_host` contradict each other: choose one",
                    ));
                }
                *this = true;
            }
            "expose" => {
                self.expose = string_list(meta)?
                    .iter()
                    .map(|text| checked(text, HostSocket::parse(&text.value())))
                    .collect::<syn::Result<_>>()?;
            }
            "writable" => self.writable = paths(meta)?,
            "hide" => self.hide = paths(meta)?,
            "bind" => {
                self.bind = string_list(meta)?
                    .iter()
                    .map(|text| checked(text, spec::bind::parse_bind(&text.value())))
                    .collect::<syn::Result<_>>()?;
            }
            "memory" => {
                self.memory = Some(match value(meta)? {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(text),
                        ..
                    }) => checked(&text, spec::size::parse_size(&text.value()))?,
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(int), ..
                    }) => positive(&int)?,
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "expected a size such as \"256M\" or a number of bytes",
                        ))
                    }
                });
            }
            "pids" => self.pids = Some(positive(&int_value(meta)?)?),
            "files" => self.files = Some(positive(&int_value(meta)?)?),
            "cpu" => {
                let text = string_value(meta)?;
                self.cpu = Some(checked(
                    &text,
                    spec::duration::parse_duration(&text.value()),
                )?);
            }
            _ => unreachable!("`{name}` is not an isolation option"),
        }
        Ok(())
    }

    /// The builder calls for these options.
    pub(crate) fn builder_calls(&self) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(mode) = self.net {
            let variant = match mode {
                NetMode::Loopback => quote!(Loopback),
                NetMode::None => quote!(None),
                NetMode::Host => quote!(Host),
            };
            calls.extend(quote!(.net(::sandbox_test::NetMode::#variant)));
        }
        if !self.hosts.is_empty() {
            let hosts = &self.hosts;
            calls.extend(quote!(.hosts([#(#hosts),*])?));
        }
        if self.readonly_root {
            calls.extend(quote!(.readonly_root()));
        }
        if self.writable_host {
            calls.extend(quote!(.writable_host()));
        }
        for socket in &self.expose {
            let variant = match socket {
                HostSocket::Docker => quote!(Docker),
                HostSocket::Podman => quote!(Podman),
                HostSocket::Containerd => quote!(Containerd),
                HostSocket::SessionBus => quote!(SessionBus),
                HostSocket::SystemBus => quote!(SystemBus),
                HostSocket::SystemdUser => quote!(SystemdUser),
                HostSocket::Systemd => quote!(Systemd),
            };
            calls.extend(quote!(.expose(::sandbox_test::HostSocket::#variant)));
        }
        for path in &self.writable {
            let path = path.to_string_lossy();
            calls.extend(quote!(.writable(#path)?));
        }
        for path in &self.hide {
            let path = path.to_string_lossy();
            calls.extend(quote!(.hide(#path)?));
        }
        for bind in &self.bind {
            let (source, target) = (bind.source.to_string_lossy(), bind.target.to_string_lossy());
            calls.extend(match bind.read_only {
                true => quote!(.bind_ro(#source, #target)?),
                false => quote!(.bind(#source, #target)?),
            });
        }
        if let Some(bytes) = self.memory {
            calls.extend(quote!(.memory(#bytes)?));
        }
        if let Some(tasks) = self.pids {
            calls.extend(quote!(.pids(#tasks)?));
        }
        if let Some(budget) = self.cpu {
            let millis = budget.as_millis() as u64;
            calls.extend(quote!(.cpu(::std::time::Duration::from_millis(#millis))?));
        }
        if let Some(fds) = self.files {
            calls.extend(quote!(.files(#fds)?));
        }
        calls
    }
}

/// A parser's verdict on `text`, as an error spanned on it.
fn checked<T, E: std::fmt::Display>(text: &LitStr, result: Result<T, E>) -> syn::Result<T> {
    result.map_err(|why| syn::Error::new(text.span(), why))
}

fn value(meta: &Meta) -> syn::Result<Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(nv.value.clone()),
        _ => Err(syn::Error::new(meta.span(), "expected `name = value`")),
    }
}

fn int_value(meta: &Meta) -> syn::Result<LitInt> {
    match value(meta)? {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => Ok(int),
        other => Err(syn::Error::new(other.span(), "expected a whole number")),
    }
}

fn positive(int: &LitInt) -> syn::Result<u64> {
    match int.base10_parse::<u64>()? {
        0 => Err(syn::Error::new(int.span(), "must be at least 1")),
        n => Ok(n),
    }
}

/// `name = ["a", "b"]` (or a single `"a"`).
fn string_list(meta: &Meta) -> syn::Result<Vec<LitStr>> {
    let items = match value(meta)? {
        Expr::Array(ExprArray { elems, .. }) => elems.into_iter().collect(),
        single => vec![single],
    };
    items.iter().map(string_literal).collect()
}

/// `net(hosts = ["app", "db"])`: the names, checked by the runtime's own rules.
fn hosts(list: &syn::MetaList) -> syn::Result<Vec<LitStr>> {
    const TAKES: &str = "`net(...)` takes `hosts = [\"name\", ...]`";
    let mut names = None;
    for (key, nv) in crate::model::key_values(list, TAKES)? {
        match key.as_str() {
            "hosts" => names = Some(host_names(&Meta::NameValue(nv))?),
            _ => return Err(syn::Error::new(nv.path.span(), TAKES)),
        }
    }
    names.ok_or_else(|| syn::Error::new(list.span(), TAKES))
}

fn host_names(meta: &Meta) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(array) = value(meta)? else {
        return Err(syn::Error::new(
            meta.span(),
            "expected `hosts = [\"name\", ...]`, a list of 2 to 16 hostnames",
        ));
    };
    let names = array
        .elems
        .iter()
        .map(string_literal)
        .collect::<syn::Result<Vec<_>>>()?;
    let texts: Vec<String> = names.iter().map(LitStr::value).collect();
    spec::net::check_hosts(&texts).map_err(|error| {
        let span = match error.index {
            Some(index) => names[index].span(),
            None => array.span(),
        };
        syn::Error::new(span, error.message)
    })?;
    Ok(names)
}

fn paths(meta: &Meta) -> syn::Result<Vec<PathBuf>> {
    string_list(meta)?
        .iter()
        .map(|text| checked(text, spec::path::parse_absolute_path(&text.value())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> syn::Result<Isolation> {
        let metas = syn::parse::Parser::parse_str(
            syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated,
            args,
        )?;
        let mut isolation = Isolation::default();
        for meta in &metas {
            let name = meta.path().get_ident().unwrap().to_string();
            isolation.parse(&name, meta)?;
        }
        Ok(isolation)
    }

    #[test]
    fn generates_builder_calls() {
        let isolation = parse(
            r#"net = "none", readonly_root, writable = ["/var/tmp/x/"], hide = "/run/user",
               bind = ["/srv:/data", "/etc:/etc2:ro"], memory = "64M", pids = 32, cpu = "1s", files = 256"#,
        )
        .unwrap();
        let calls = isolation.builder_calls().to_string();
        let expected = quote!(
            .net(::sandbox_test::NetMode::None)
            .readonly_root()
            .writable("/var/tmp/x")?
            .hide("/run/user")?
            .bind("/srv", "/data")?
            .bind_ro("/etc", "/etc2")?
            .memory(67108864u64)?
            .pids(32u64)?
            .cpu(::std::time::Duration::from_millis(1000u64))?
            .files(256u64)?
        );
        assert_eq!(calls, expected.to_string());
        assert_eq!(parse("memory = 4096").unwrap().memory, Some(4096));
        let calls = parse(r#"writable_host, expose = ["docker", "session-bus"]"#)
            .unwrap()
            .builder_calls()
            .to_string();
        let expected = quote!(
            .writable_host()
            .expose(::sandbox_test::HostSocket::Docker)
            .expose(::sandbox_test::HostSocket::SessionBus)
        );
        assert_eq!(calls, expected.to_string());
    }

    #[test]
    fn bad_values_are_refused_with_the_parsers_words() {
        let error = |args: &str| parse(args).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error(r#"net = "wifi""#).contains("unknown network mode `wifi`"));
        assert!(error(r#"memory = "lots""#).contains("is not a size"));
        assert!(error(r#"writable = ["relative"]"#).contains("relative path"));
        assert!(error(r#"expose = ["dockerd"]"#).contains("unknown host socket `dockerd`"));
        assert!(error("readonly_root, writable_host").contains("contradict"));
        assert!(error(r#"bind = ["/a:b"]"#).contains("bind target"));
        assert!(error(r#"cpu = "10""#).contains("no unit"));
        assert!(error("pids = 0").contains("at least 1"));
        assert!(error(r#"files = "many""#).contains("whole number"));
        assert!(error(r#"readonly_root = true"#).contains("takes no value"));
    }

    #[test]
    fn hosts_become_a_builder_call() {
        let isolation = parse(r#"net(hosts = ["app", "db"])"#).unwrap();
        assert_eq!(
            isolation.builder_calls().to_string(),
            quote!(.hosts(["app", "db"])?).to_string()
        );
        let error = |args: &str| parse(args).unwrap_err().to_string();
        assert!(error(r#"net(hosts = ["app"])"#).contains("2 to 16 hosts, not 1"));
        assert!(error(r#"net(hosts = ["a", "a"])"#).contains("given twice"));
        assert!(error(r#"net(hosts = ["a", "b c"])"#).contains("not a hostname"));
        assert!(error(r#"net(mode = "x")"#).contains("takes `hosts"));
        assert!(error(r#"net(hosts = "app")"#).contains("a list of 2 to 16"));
    }
}
