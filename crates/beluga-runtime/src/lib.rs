//! Everything below the planner that touches the machine: the pod sandbox (namespaces, hosts
//! files), volumes and mounts, OCI `config.json` generation, the OCI runtime CLI wrapper, CRI logs
//! and the per-pod shim.

pub mod process;
