//! Pod networking through CNI (issue 14), as kubelet + containerd use it: the first network
//! configuration list of a directory (or beluga's default one), its plugins invoked in order for
//! ADD and in reverse for DEL with the previous result passed along (libcni's `AddNetworkList` /
//! `DelNetworkList`), results cached so that a DEL works after a restart, and the pod CIDR of the
//! default network refused when it overlaps a route the host has.
//!
//! One concern a module: `conf` (configuration lists, the default one), `result` (the CNI 1.0
//! result and the pod's addresses in it), `invoke` (running plugins), `cache` (results on disk), `hostlocal` (host-local's reservations, the stand-in result of a
//! DEL whose ADD was cut short),
//! `netns` (whether a pinned namespace is still one), `nft` (a table of nftables rules, replaced
//! whole through the JSON interface), `routes` (the host's routes and the overlap
//! check).

pub mod cache;
pub mod conf;
pub mod hostlocal;
pub mod invoke;
pub mod netns;
pub mod nft;
pub mod result;
pub mod routes;

/// A failure of the network set-up, in words a pod event can carry.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A plugin failed: its CNI error (`code`, `msg`, `details`) or its own words.
    #[error("plugin type={plugin:?} failed ({command}): {message}")]
    Plugin {
        plugin: String,
        command: &'static str,
        message: String,
    },
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
