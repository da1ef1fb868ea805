//! Bind mount specs: `"/host/path:/in/sandbox"` and `"/host/path:/in/sandbox:ro"`.

use std::fmt;
use std::path::PathBuf;

use super::path::{parse_absolute_path, PathError};

/// One bind mount: `source` (a host path) appears at `target` inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindSpec {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears inside the sandbox.
    pub target: PathBuf,
    /// Mounted read-only (`:ro`).
    pub read_only: bool,
}

/// Why a bind spec was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindError {
    /// Not `source:target` or `source:target:ro|rw`.
    Shape(String),
    /// The third field is not `ro` or `rw`.
    UnknownOption(String),
    /// The source is not an absolute path.
    Source(PathError),
    /// The target is not an absolute path.
    Target(PathError),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Shape(s) => write!(
                f,
                "`{s}` is not a bind spec; expected \"/host/path:/in/sandbox\" or \"/host/path:/in/sandbox:ro\""
            ),
            BindError::UnknownOption(o) => {
                write!(f, "unknown bind option `{o}`; expected `ro` or `rw`")
            }
            BindError::Source(e) => write!(f, "bind source: {e}"),
            BindError::Target(e) => write!(f, "bind target: {e}"),
        }
    }
}

impl std::error::Error for BindError {}

/// Parses `source:target[:ro|:rw]`. Paths cannot contain `:`.
pub fn parse_bind(text: &str) -> Result<BindSpec, BindError> {
    let fields: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match fields.as_slice() {
        [source, target] => (*source, *target, false),
        [source, target, "ro"] => (*source, *target, true),
        [source, target, "rw"] => (*source, *target, false),
        [_, _, option] => return Err(BindError::UnknownOption((*option).to_owned())),
        _ => return Err(BindError::Shape(text.to_owned())),
    };
    Ok(BindSpec {
        source: parse_absolute_path(source).map_err(BindError::Source)?,
        target: parse_absolute_path(target).map_err(BindError::Target)?,
        read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rw_and_ro() {
        assert_eq!(
            parse_bind("/srv/data:/data"),
            Ok(BindSpec {
                source: "/srv/data".into(),
                target: "/data".into(),
                read_only: false
            })
        );
        assert_eq!(
            parse_bind("/a:/b:ro"),
            Ok(BindSpec {
                source: "/a".into(),
                target: "/b".into(),
                read_only: true
            })
        );
        assert_eq!(parse_bind("/a:/b:rw").map(|b| b.read_only), Ok(false));
    }

    #[test]
    fn refuses_bad_specs() {
        assert_eq!(parse_bind("/a"), Err(BindError::Shape("/a".into())));
        assert_eq!(
            parse_bind("/a:/b:ro:x"),
            Err(BindError::Shape("/a:/b:ro:x".into()))
        );
        assert_eq!(
            parse_bind("/a:/b:rx"),
            Err(BindError::UnknownOption("rx".into()))
        );
        assert_eq!(
            parse_bind("a:/b"),
            Err(BindError::Source(PathError::Relative("a".into())))
        );
        assert_eq!(
            parse_bind("/a:b"),
            Err(BindError::Target(PathError::Relative("b".into())))
        );
        assert!(parse_bind("/a:")
            .unwrap_err()
            .to_string()
            .starts_with("bind target"));
    }
}
