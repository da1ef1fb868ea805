//! The network option of [`Sandbox`].

use super::Sandbox;
use crate::net::NetMode;

impl Sandbox {
    /// The network the body sees: [`NetMode::Loopback`] (the default: a private network
    /// namespace with `lo` up), [`NetMode::None`] (a private namespace with nothing up:
    /// every connect fails) or [`NetMode::Host`] (the host's network namespace).
    pub fn net(mut self, mode: NetMode) -> Self {
        self.net = mode;
        self
    }
}
