//! Everything below the planner that touches the machine: the pod sandbox (namespaces, hosts
//! files), volumes and mounts, OCI `config.json` generation, the OCI runtime CLI wrapper, CRI logs
//! and the per-pod shim.

pub mod atomic_writer;
pub mod cgroups;
pub mod crilog;
pub mod grpc_health;
pub mod layout;
pub mod logfollow;
pub mod netns;
pub mod oci_runtime;
pub mod process;
pub mod projection;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod subpath;
pub mod volumes;

pub use beluga_fsutil::write_atomic;
