//! The network option of [`Sandbox`].

use super::{OptionError, Sandbox};
use crate::net::NetMode;

impl Sandbox {
    /// The network the body sees (`net = "none"`): [`NetMode::Loopback`] (the default: a
    /// private network namespace with `lo` up), [`NetMode::None`] (a private namespace
    /// with nothing up: every connect fails) or [`NetMode::Host`] (the host's network
    /// namespace).
    ///
    /// ```no_run
    /// use sandbox_test::{NetMode, Sandbox};
    ///
    /// fn offline() {
    ///     assert!(std::net::TcpStream::connect("127.0.0.1:80").is_err());
    /// }
    ///
    /// Sandbox::new().net(NetMode::None).run(offline).assert_passed();
    /// ```
    pub fn net(mut self, mode: NetMode) -> Self {
        self.net = mode;
        self
    }

    /// Several hosts (`net(hosts = ["app", "db"])`): 2 to 16 unique hostnames, each its
    /// own network namespace with `lo` and `eth0` on a bridge private to the sandbox,
    /// address `10.99.0.N` for the N-th, its name as hostname and in the sandbox's
    /// `/etc/hosts`. The body runs on the first; see [`net::host`](crate::net::host). A bad
    /// list is an [`OptionError`]; hosts with another [`NetMode`] than the default, or with
    /// a [`hostname`](Sandbox::hostname), make `run` a setup failure that says so.
    ///
    /// ```no_run
    /// use sandbox_test::{net, Sandbox};
    ///
    /// fn on_app() {
    ///     assert_eq!(net::host("db").unwrap().address().octets(), [10, 99, 0, 2]);
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::OptionError> {
    /// Sandbox::new().hosts(["app", "db"])?.run(on_app).assert_passed();
    /// assert!(Sandbox::new().hosts(["solo"]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn hosts<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, OptionError> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        crate::spec::net::check_hosts(&names)
            .map_err(|why| OptionError::new("hosts", why.message))?;
        self.hosts = names;
        Ok(self)
    }
}
