//! Absolute paths inside the sandbox (`writable`, `hide`, bind targets).

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Empty string.
    Empty,
    /// Does not start with `/`.
    Relative(String),
    /// Contains a `..` component, which would make the path mean something else after a
    /// symlink or mount.
    ParentComponent(String),
    /// Contains a NUL byte.
    Nul(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("empty path; expected an absolute path"),
            PathError::Relative(p) => {
                write!(
                    f,
                    "`{p}` is a relative path; expected an absolute path (starting with `/`)"
                )
            }
            PathError::ParentComponent(p) => {
                write!(f, "`{p}` contains `..`; spell the path without it")
            }
            PathError::Nul(p) => write!(f, "`{}` contains a NUL byte", p.escape_debug()),
        }
    }
}

impl std::error::Error for PathError {}

/// Checks that `text` is an absolute path without `..`, and normalizes away `.` and
/// repeated or trailing slashes.
pub fn parse_absolute_path(text: &str) -> Result<PathBuf, PathError> {
    if text.is_empty() {
        return Err(PathError::Empty);
    }
    if text.contains('\0') {
        return Err(PathError::Nul(text.to_owned()));
    }
    if !text.starts_with('/') {
        return Err(PathError::Relative(text.to_owned()));
    }
    let mut normal = PathBuf::from("/");
    for component in Path::new(text).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentComponent(text.to_owned())),
            Component::Normal(part) => normal.push(part),
            Component::Prefix(_) => return Err(PathError::Relative(text.to_owned())),
        }
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalizes_absolute_paths() {
        assert_eq!(
            parse_absolute_path("/run/user"),
            Ok(PathBuf::from("/run/user"))
        );
        assert_eq!(
            parse_absolute_path("/run//user/./"),
            Ok(PathBuf::from("/run/user"))
        );
        assert_eq!(parse_absolute_path("/"), Ok(PathBuf::from("/")));
    }

    #[test]
    fn refuses_relative_and_dotdot() {
        assert_eq!(parse_absolute_path(""), Err(PathError::Empty));
        assert_eq!(
            parse_absolute_path("run/user"),
            Err(PathError::Relative("run/user".into()))
        );
        assert_eq!(
            parse_absolute_path("./x"),
            Err(PathError::Relative("./x".into()))
        );
        assert_eq!(
            parse_absolute_path("/a/../etc"),
            Err(PathError::ParentComponent("/a/../etc".into()))
        );
        assert_eq!(
            parse_absolute_path("/a\0b"),
            Err(PathError::Nul("/a\0b".into()))
        );
        assert!(parse_absolute_path("x")
            .unwrap_err()
            .to_string()
            .contains("relative path"));
    }
}
