//! Everything below the planner that touches the machine: the pod sandbox (namespaces, hosts
//! files), volumes and mounts, OCI `config.json` generation, the OCI runtime CLI wrapper, CRI logs
//! and the per-pod shim.

pub mod layout;
pub mod oci_runtime;
pub mod process;
pub mod spec;
pub mod volumes;
