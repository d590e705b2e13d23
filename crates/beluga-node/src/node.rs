//! Facts about this node that pods see: its name and its address.

/// The node's address as pods see it (`status.hostIP`, the downward API's `status.hostIP`): the
/// loopback until pods have a network of their own.
pub const HOST_IP: &str = "127.0.0.1";

/// The node's name: the machine's hostname.
pub fn name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
