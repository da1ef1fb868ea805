//! The network option of [`Sandbox`].

use super::Sandbox;
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
}
