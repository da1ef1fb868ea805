//! The filesystem options of [`Sandbox`] (see `filesystem/isolation.rs`).

use std::path::PathBuf;

use super::{absolute, OptionError, Sandbox};
use crate::filesystem::isolation::{Bind, HostAccess, HostSocket};

impl Sandbox {
    /// Closes the package and target directories too (`readonly_root`): every host mount
    /// is read-only inside, except /tmp, /dev/shm, /proc, an explicit
    /// [`workdir`](Sandbox::workdir), the paths given to [`writable`](Sandbox::writable)
    /// and read-write binds. Writes fail with EROFS; the body cannot remount them
    /// read-write. Of `readonly_root` and [`writable_host`](Sandbox::writable_host), the
    /// last call wins (the attribute refuses both).
    ///
    /// ```no_run
    /// use sandbox_test::Sandbox;
    ///
    /// fn body() {
    ///     let package = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    ///     let error = std::fs::write(format!("{package}/x"), "x").unwrap_err();
    ///     assert_eq!(error.raw_os_error(), Some(libc::EROFS));
    /// }
    ///
    /// Sandbox::new().readonly_root().run(body).assert_passed();
    /// ```
    pub fn readonly_root(mut self) -> Self {
        self.fs.host = HostAccess::ReadOnly;
        self
    }

    /// Gives the read-only host up (`writable_host`): the body may write wherever its
    /// user may outside (`$HOME`, other projects), as before sandbox-test 0.2. Hidden
    /// control sockets stay hidden, and the kernel's knobs under /proc and /sys stay
    /// read-only.
    ///
    /// ```no_run
    /// use sandbox_test::Sandbox;
    ///
    /// fn body() {
    ///     std::fs::write("/var/tmp/written-by-a-test", "x").unwrap();
    /// }
    ///
    /// Sandbox::new().writable_host().run(body).assert_passed();
    /// ```
    pub fn writable_host(mut self) -> Self {
        self.fs.host = HostAccess::Writable;
        self
    }

    /// Leaves this host control socket reachable (`expose = ["docker"]`); every other
    /// one stays hidden (see [`HostSocket`] for the list and their paths).
    ///
    /// ```no_run
    /// use sandbox_test::{HostSocket, Sandbox};
    ///
    /// fn body() {
    ///     std::os::unix::net::UnixStream::connect("/run/docker.sock").unwrap();
    /// }
    ///
    /// Sandbox::new().expose(HostSocket::Docker).run(body).assert_passed();
    /// ```
    pub fn expose(mut self, socket: HostSocket) -> Self {
        self.fs.expose.push(socket);
        self
    }

    /// The test's package directory, kept writable on the default read-only host; used
    /// when `CARGO_MANIFEST_DIR` is not set at run time (a test binary run by hand).
    /// `#[sandboxed]` passes `env!("CARGO_MANIFEST_DIR")`. A path that is not absolute is
    /// an [`OptionError`].
    pub fn package_dir(mut self, path: impl Into<PathBuf>) -> Result<Self, OptionError> {
        self.fs.package_dir = Some(absolute("package_dir", path.into())?);
        Ok(self)
    }

    /// Keeps this absolute path (and what is mounted below it) writable on the read-only
    /// host (`writable = ["/path"]`). A path that
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
