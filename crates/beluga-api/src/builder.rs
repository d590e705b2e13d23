//! A typed pod builder, for tests and examples: `PodBuilder::new("p").container(ctr("app",
//! "img").command(["sleep", "1"])).build()`. The result is a plain `v1/Pod`, not yet defaulted.

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, ExecAction, Lifecycle, LifecycleHandler, Pod, PodSpec,
    Probe, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A pod being built.
#[derive(Debug, Clone)]
pub struct PodBuilder(Pod);

/// A container being built.
#[derive(Debug, Clone)]
pub struct ContainerBuilder(Container);

/// A container named `name` running `image`.
pub fn ctr(name: &str, image: &str) -> ContainerBuilder {
    ContainerBuilder(Container {
        name: name.into(),
        image: Some(image.into()),
        ..Default::default()
    })
}

fn exec(command: &[&str]) -> ExecAction {
    ExecAction {
        command: Some(command.iter().map(|s| s.to_string()).collect()),
    }
}

impl PodBuilder {
    pub fn new(name: &str) -> Self {
        PodBuilder(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            status: None,
        })
    }

    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }

    /// `spec.restartPolicy`: `Always`, `OnFailure` or `Never`.
    pub fn restart_policy(mut self, policy: &str) -> Self {
        self.spec().restart_policy = Some(policy.into());
        self
    }

    /// `spec.terminationGracePeriodSeconds`.
    pub fn grace(mut self, seconds: i64) -> Self {
        self.spec().termination_grace_period_seconds = Some(seconds);
        self
    }

    pub fn container(mut self, c: ContainerBuilder) -> Self {
        self.spec().containers.push(c.0);
        self
    }

    pub fn init(mut self, c: ContainerBuilder) -> Self {
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .push(c.0);
        self
    }

    /// A native sidecar: an init container with `restartPolicy: Always`.
    pub fn sidecar(self, c: ContainerBuilder) -> Self {
        self.init(c.restart_policy("Always"))
    }

    /// An `emptyDir` volume.
    pub fn empty_dir(mut self, name: &str) -> Self {
        self.spec()
            .volumes
            .get_or_insert_with(Vec::new)
            .push(Volume {
                name: name.into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

impl ContainerBuilder {
    pub fn command<const N: usize>(mut self, args: [&str; N]) -> Self {
        self.0.command = Some(args.iter().map(|s| s.to_string()).collect());
        self
    }

    /// An environment variable with a literal value.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.0.env.get_or_insert_with(Vec::new).push(EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        });
        self
    }

    /// Mounts volume `volume` at `path`.
    pub fn mount(mut self, volume: &str, path: &str) -> Self {
        self.0
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: volume.into(),
                mount_path: path.into(),
                ..Default::default()
            });
        self
    }

    /// `imagePullPolicy`: `Always`, `IfNotPresent` or `Never`.
    pub fn pull_policy(mut self, policy: &str) -> Self {
        self.0.image_pull_policy = Some(policy.into());
        self
    }

    /// A container-level `restartPolicy` (only `Always`, on init containers: a sidecar).
    pub fn restart_policy(mut self, policy: &str) -> Self {
        self.0.restart_policy = Some(policy.into());
        self
    }

    pub fn termination_message_policy(mut self, policy: &str) -> Self {
        self.0.termination_message_policy = Some(policy.into());
        self
    }

    fn lifecycle(&mut self) -> &mut Lifecycle {
        self.0.lifecycle.get_or_insert_with(Default::default)
    }

    pub fn post_start(mut self, command: &[&str]) -> Self {
        self.lifecycle().post_start = Some(LifecycleHandler {
            exec: Some(exec(command)),
            ..Default::default()
        });
        self
    }

    pub fn pre_stop(mut self, command: &[&str]) -> Self {
        self.lifecycle().pre_stop = Some(LifecycleHandler {
            exec: Some(exec(command)),
            ..Default::default()
        });
        self
    }

    /// An exec liveness probe every `period` seconds, failing after `failures`.
    pub fn liveness(mut self, command: &[&str], period: i32, failures: i32) -> Self {
        self.0.liveness_probe = Some(exec_probe(command, period, failures));
        self
    }

    pub fn readiness(mut self, command: &[&str], period: i32, failures: i32) -> Self {
        self.0.readiness_probe = Some(exec_probe(command, period, failures));
        self
    }

    pub fn startup(mut self, command: &[&str], period: i32, failures: i32) -> Self {
        self.0.startup_probe = Some(exec_probe(command, period, failures));
        self
    }

    /// Any other change to the container (a probe's `terminationGracePeriodSeconds`, …).
    pub fn with(mut self, f: impl FnOnce(&mut Container)) -> Self {
        f(&mut self.0);
        self
    }

    pub fn build(self) -> Container {
        self.0
    }
}

fn exec_probe(command: &[&str], period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(exec(command)),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_valid_pod() {
        let mut pod = PodBuilder::new("p")
            .restart_policy("Never")
            .grace(5)
            .sidecar(ctr("log", "img").command(["sleep", "9"]))
            .init(ctr("setup", "img").command(["true"]))
            .container(
                ctr("app", "img")
                    .command(["sleep", "9"])
                    .pre_stop(&["true"]),
            )
            .build();
        crate::defaults::apply(&mut pod);
        assert!(crate::validation::validate_pod(&pod).is_empty());
        let spec = pod.spec.unwrap();
        let inits = spec.init_containers.unwrap();
        assert_eq!(inits[0].restart_policy.as_deref(), Some("Always"));
        assert_eq!(inits[1].name, "setup");
        assert_eq!(spec.termination_grace_period_seconds, Some(5));
    }
}
