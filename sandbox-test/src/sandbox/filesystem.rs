//! The filesystem options of [`Sandbox`] (see `filesystem/isolation.rs`).

use std::path::PathBuf;

use super::{absolute, OptionError, Sandbox};
use crate::filesystem::isolation::Bind;

impl Sandbox {
    /// Every host mount is read-only inside, except /tmp, /proc, the workdir, the paths
    /// given to [`writable`](Sandbox::writable) and read-write binds (`readonly_root`).
    /// Writes fail with EROFS; the body cannot remount them read-write.
    ///
    /// ```no_run
    /// use sandbox_test::Sandbox;
    ///
    /// fn body() {
    ///     let error = std::fs::write("/etc/sandbox-test", "x").unwrap_err();
    ///     assert_eq!(error.raw_os_error(), Some(libc::EROFS));
    /// }
    ///
    /// Sandbox::new().readonly_root().run(body).assert_passed();
    /// ```
    pub fn readonly_root(mut self) -> Self {
        self.fs.readonly_root = true;
        self
    }

    /// Keeps this absolute path (and what is mounted below it) writable under
    /// [`readonly_root`](Sandbox::readonly_root) (`writable = ["/path"]`). A path that
    /// is not absolute, or contains `..`, is an [`OptionError`].
    ///
    /// ```
    /// use sandbox_test::Sandbox;
    ///
    /// # fn main() -> Result<(), sandbox_test::OptionError> {
    /// let sandbox = Sandbox::new().readonly_root().writable("/var/tmp")?;
    /// # let _ = sandbox;
    /// # Ok(()) }
    /// ```
    pub fn writable(mut self, path: impl Into<PathBuf>) -> Result<Self, OptionError> {
        self.fs.writable.push(absolute("writable", path.into())?);
        Ok(self)
    }

    /// Covers this absolute path with an empty tmpfs (a directory) or /dev/null (a file, a
    /// socket), so what the host has there is unreachable (`hide = ["/path"]`). A missing
    /// path is left alone. A path that is not absolute is an [`OptionError`].
    ///
    /// ```
    /// use sandbox_test::Sandbox;
    ///
    /// # fn main() -> Result<(), sandbox_test::OptionError> {
    /// let sandbox = Sandbox::new().hide("/run")?.hide("/root/.ssh")?;
    /// # let _ = sandbox;
    /// # Ok(()) }
    /// ```
    pub fn hide(mut self, path: impl Into<PathBuf>) -> Result<Self, OptionError> {
        self.fs.hide.push(absolute("hide", path.into())?);
        Ok(self)
    }

    /// Mounts the host's `source` at `target` inside, read-write
    /// (`bind = ["/host:/inside"]`). `target` must exist, unless it is below /tmp or a
    /// hidden path, where it is created. Either path not absolute is an [`OptionError`].
    ///
    /// ```
    /// use sandbox_test::Sandbox;
    ///
    /// # fn main() -> Result<(), sandbox_test::OptionError> {
    /// let sandbox = Sandbox::new().bind("/srv/fixtures", "/tmp/fixtures")?;
    /// # let _ = sandbox;
    /// # Ok(()) }
    /// ```
    pub fn bind(
        self,
        source: impl Into<PathBuf>,
        target: impl Into<PathBuf>,
    ) -> Result<Self, OptionError> {
        self.bind_mount(source.into(), target.into(), false)
    }

    /// [`bind`](Sandbox::bind), read-only (`bind = ["/host:/inside:ro"]`; writes fail
    /// with EROFS).
    pub fn bind_ro(
        self,
        source: impl Into<PathBuf>,
        target: impl Into<PathBuf>,
    ) -> Result<Self, OptionError> {
        self.bind_mount(source.into(), target.into(), true)
    }

    fn bind_mount(
        mut self,
        source: PathBuf,
        target: PathBuf,
        read_only: bool,
    ) -> Result<Self, OptionError> {
        let bind = Bind {
            source: absolute("bind source", source)?,
            target: absolute("bind target", target)?,
            read_only,
        };
        self.fs.bind.push(bind);
        Ok(self)
    }
}
