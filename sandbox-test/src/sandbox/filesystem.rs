//! The filesystem options of [`Sandbox`] (see `filesystem/isolation.rs`).

use std::path::PathBuf;

use super::Sandbox;
use crate::filesystem::isolation::Bind;
use crate::spec::path::parse_absolute_path;

impl Sandbox {
    /// Every host mount is read-only inside, except /tmp, /proc, the workdir, the paths
    /// given to [`writable`](Sandbox::writable) and read-write binds. Writes fail with
    /// EROFS; the body cannot remount them read-write.
    pub fn readonly_root(mut self) -> Self {
        self.fs.readonly_root = true;
        self
    }

    /// Keeps this absolute path (and what is mounted below it) writable under
    /// [`readonly_root`](Sandbox::readonly_root).
    pub fn writable(mut self, path: impl Into<PathBuf>) -> Self {
        if let Some(path) = self.absolute("writable", path.into()) {
            self.fs.writable.push(path);
        }
        self
    }

    /// Covers this absolute path with an empty tmpfs (a directory) or /dev/null (a file, a
    /// socket), so what the host has there is unreachable. A missing path is left alone.
    pub fn hide(mut self, path: impl Into<PathBuf>) -> Self {
        if let Some(path) = self.absolute("hide", path.into()) {
            self.fs.hide.push(path);
        }
        self
    }

    /// Mounts the host's `source` at `target` inside, read-write. `target` must exist,
    /// unless it is below /tmp or a hidden path, where it is created.
    pub fn bind(self, source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        self.bind_mount(source.into(), target.into(), false)
    }

    /// [`bind`](Sandbox::bind), read-only (writes fail with EROFS).
    pub fn bind_ro(self, source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        self.bind_mount(source.into(), target.into(), true)
    }

    fn bind_mount(mut self, source: PathBuf, target: PathBuf, read_only: bool) -> Self {
        let source = self.absolute("bind source", source);
        let target = self.absolute("bind target", target);
        if let (Some(source), Some(target)) = (source, target) {
            self.fs.bind.push(Bind {
                source,
                target,
                read_only,
            });
        }
        self
    }

    /// `path` normalized, or None with the reason recorded in the refused options.
    fn absolute(&mut self, option: &str, path: PathBuf) -> Option<PathBuf> {
        let text = path.to_string_lossy();
        match parse_absolute_path(&text) {
            Ok(path) => Some(path),
            Err(why) => {
                self.invalid.push(format!("{option}: {why}"));
                None
            }
        }
    }
}
