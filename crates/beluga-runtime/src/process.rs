//! How a container's process is configured (spec §10): command/args against the image's
//! Entrypoint/Cmd, the environment with `$(VAR)` expansion, working directory and user. Pure.

use beluga_api::expand::expand_env;
use beluga_api::podutil;
use beluga_api::{Container, Pod};
use beluga_image::ImageConfig;

/// containerd's default `PATH` when the image sets none (a `docker import`ed rootfs has none).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A failure that kubelet reports as `CreateContainerConfigError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// What the pod's status can tell `fieldRef`s.
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    /// The Services' variables (`beluga_api::service::env`): seen by `$(VAR)` expansion, and
    /// added after the container's own for names it does not set.
    pub service_env: Vec<(String, String)>,
    pub pod_ip: String,
    pub host_ip: String,
    pub node_name: String,
    pub hostname: String,
    /// The ConfigMaps and Secrets of the pod's namespace that the container names.
    pub config: ConfigSources,
    /// What `resourceFieldRef`s without a limit report.
    pub allocatable: beluga_api::downward::Allocatable,
}

/// The `data` of the ConfigMaps and Secrets a container's environment names, by name; one
/// missing is not found.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    pub config_maps: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    pub secrets: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<u8>>>,
}

/// The ConfigMaps and Secrets a container's `envFrom` and `valueFrom` name.
pub fn env_sources(c: &Container) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (Vec::new(), Vec::new());
    for ef in c.env_from.iter().flatten() {
        cms.extend(ef.config_map_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(ef.secret_ref.as_ref().map(|r| r.name.clone()));
    }
    for vf in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
        cms.extend(vf.config_map_key_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(vf.secret_key_ref.as_ref().map(|r| r.name.clone()));
    }
    (cms, secrets)
}

fn field_ref(pod: &Pod, path: &str, facts: &PodFacts) -> Result<String, ConfigError> {
    if let Some(v) = beluga_api::downward::metadata_field(pod, path) {
        return Ok(v);
    }
    Ok(match path {
        "spec.nodeName" => facts.node_name.clone(),
        "spec.serviceAccountName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        other => return Err(ConfigError(format!("unsupported fieldPath: {other}"))),
    })
}

/// kubelet's `makeEnvironmentVariables` (spec §10.2): `envFrom` first, then `env` in
/// declaration order (later wins), then the Services' variables for names not set.
pub fn container_env(
    pod: &Pod,
    c: &Container,
    facts: &PodFacts,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = EnvList::default();
    env_from(&mut env, pod, c, facts)?;
    for e in c.env.iter().flatten() {
        let value = match e.value_from.as_ref() {
            Some(vf) => match value_from(pod, &c.name, vf, facts)? {
                Some(v) => v,
                // An optional source that is missing: the variable is left out.
                None => continue,
            },
            // Only earlier entries are visible (and the Services' variables): forward
            // references stay literal.
            None => expand_env(e.value.as_deref().unwrap_or_default(), |name| {
                env.get(name)
                    .or_else(|| service_var(facts, name))
                    .map(String::from)
            }),
        };
        env.set(&e.name, value);
    }
    for (k, v) in &facts.service_env {
        if env.get(k).is_none() {
            env.set(k, v.clone());
        }
    }
    Ok(env.entries)
}

/// kubelet's messages for the `envFrom` keys it skipped as invalid variable names (its
/// `InvalidEnvironmentVariableNames` events), one per source.
pub fn skipped_env_names(pod: &Pod, c: &Container, facts: &PodFacts) -> Vec<String> {
    env_from(&mut EnvList::default(), pod, c, facts).unwrap_or_default()
}

/// The `envFrom` sources in order (a missing one an error unless optional); keys that are not
/// valid variable names (after the prefix) are skipped, and kubelet's words for them returned.
fn env_from(
    env: &mut EnvList,
    pod: &Pod,
    c: &Container,
    facts: &PodFacts,
) -> Result<Vec<String>, ConfigError> {
    let ns = podutil::namespace(pod);
    let mut skipped = Vec::new();
    for ef in c.env_from.iter().flatten() {
        let prefix = ef.prefix.as_deref().unwrap_or_default();
        let (kind, name, pairs): (&str, &str, Vec<(String, String)>) =
            if let Some(r) = ef.config_map_ref.as_ref() {
                let Some(data) = facts.config.config_maps.get(&r.name) else {
                    if r.optional == Some(true) {
                        continue;
                    }
                    return Err(ConfigError(format!("configmap {:?} not found", r.name)));
                };
                let pairs = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                ("configMap", &r.name, pairs)
            } else if let Some(r) = ef.secret_ref.as_ref() {
                let Some(data) = facts.config.secrets.get(&r.name) else {
                    if r.optional == Some(true) {
                        continue;
                    }
                    return Err(ConfigError(format!("secret {:?} not found", r.name)));
                };
                let text = |v: &Vec<u8>| String::from_utf8_lossy(v).into_owned();
                (
                    "secret",
                    &r.name,
                    data.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                )
            } else {
                continue;
            };
        let mut invalid = Vec::new();
        for (k, v) in pairs {
            let k = format!("{prefix}{k}");
            if beluga_api::validation::env_name_ok(&k) {
                env.set(&k, v);
            } else {
                invalid.push(k);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            skipped.push(format!("Keys [{}] from the EnvFrom {kind} {ns}/{name} were skipped since they are considered invalid environment variable names.", invalid.join(", ")));
        }
    }
    Ok(skipped)
}

/// One `valueFrom`: None when an optional ConfigMap, Secret or key is missing.
fn value_from(
    pod: &Pod,
    own: &str,
    vf: &beluga_api::k8s_openapi::api::core::v1::EnvVarSource,
    facts: &PodFacts,
) -> Result<Option<String>, ConfigError> {
    let ns = podutil::namespace(pod);
    if let Some(fr) = vf.field_ref.as_ref() {
        return field_ref(pod, &fr.field_path, facts).map(Some);
    }
    if let Some(r) = vf.resource_field_ref.as_ref() {
        // An env var's reference names its own container unless it says otherwise.
        let container = r.container_name.as_deref().filter(|n| !n.is_empty());
        return beluga_api::downward::resource_value(
            pod,
            container.unwrap_or(own),
            &r.resource,
            r.divisor.as_ref().map(|d| d.0.as_str()),
            &facts.allocatable,
        )
        .map(Some)
        .map_err(ConfigError);
    }
    let optional = |o: Option<bool>| o == Some(true);
    if let Some(k) = vf.config_map_key_ref.as_ref() {
        let Some(data) = facts.config.config_maps.get(&k.name) else {
            return match optional(k.optional) {
                true => Ok(None),
                false => Err(ConfigError(format!("configmap {:?} not found", k.name))),
            };
        };
        return match (data.get(&k.key), optional(k.optional)) {
            (Some(v), _) => Ok(Some(v.clone())),
            (None, true) => Ok(None),
            (None, false) => Err(ConfigError(format!(
                "couldn't find key {} in ConfigMap {ns}/{}",
                k.key, k.name
            ))),
        };
    }
    if let Some(k) = vf.secret_key_ref.as_ref() {
        let Some(data) = facts.config.secrets.get(&k.name) else {
            return match optional(k.optional) {
                true => Ok(None),
                false => Err(ConfigError(format!("secret {:?} not found", k.name))),
            };
        };
        return match (data.get(&k.key), optional(k.optional)) {
            (Some(v), _) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            (None, true) => Ok(None),
            (None, false) => Err(ConfigError(format!(
                "couldn't find key {} in Secret {ns}/{}",
                k.key, k.name
            ))),
        };
    }
    Ok(Some(String::new()))
}

fn service_var<'a>(facts: &'a PodFacts, name: &str) -> Option<&'a str> {
    facts
        .service_env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Variables in first-set order, the last value winning, with an index by name: building an
/// environment of n variables is O(n), not O(n²) (attack report 1.7: 60 000 variables took
/// seven minutes and held the daemon).
#[derive(Default)]
struct EnvList {
    entries: Vec<(String, String)>,
    index: std::collections::HashMap<String, usize>,
}

impl EnvList {
    fn set(&mut self, k: &str, v: String) {
        match self.index.get(k) {
            Some(&i) => self.entries[i].1 = v,
            None => {
                self.index.insert(k.to_string(), self.entries.len());
                self.entries.push((k.to_string(), v));
            }
        }
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.index.get(k).map(|&i| self.entries[i].1.as_str())
    }
}

/// Spec §10.1: the argv from command/args and the image's Entrypoint/Cmd, then `$(VAR)` expansion
/// with the container's env (not the image's).
pub fn argv(c: &Container, image: &ImageConfig, env: &[(String, String)]) -> Vec<String> {
    let command = c.command.clone().filter(|v| !v.is_empty());
    let args = c.args.clone().filter(|v| !v.is_empty());
    let env: std::collections::HashMap<&str, &str> =
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let expand =
        |v: Vec<String>| -> Vec<String> { v.into_iter().map(|s| expand_env(&s, lookup)).collect() };
    let entry = image.entrypoint.clone().unwrap_or_default();
    match (command, args) {
        (None, None) => entry
            .into_iter()
            .chain(image.cmd.clone().unwrap_or_default())
            .collect(),
        (Some(cmd), None) => expand(cmd),
        (None, Some(a)) => entry.into_iter().chain(expand(a)).collect(),
        (Some(cmd), Some(a)) => expand(cmd).into_iter().chain(expand(a)).collect(),
    }
}

/// The runtime's merge of the image env and the container env: container wins by key; a `PATH`
/// and `HOSTNAME` are always present.
pub fn merged_env(
    image: &ImageConfig,
    container: &[(String, String)],
    hostname: &str,
) -> Vec<String> {
    let mut out = EnvList::default();
    out.set("PATH", DEFAULT_PATH.to_string());
    out.set("HOSTNAME", hostname.to_string());
    for kv in &image.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        out.set(k, v.to_string());
    }
    for (k, v) in container {
        out.set(k, v.clone());
    }
    out.entries
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

fn lookup_passwd(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

fn passwd_gid_of_uid(passwd: &str, uid: u32) -> Option<u32> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[2].parse::<u32>().ok() == Some(uid))
            .then(|| f[3].parse().ok())
            .flatten()
    })
}

fn lookup_group(group: &str, name: &str) -> Option<u32> {
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

fn supplementary(group: &str, user: Option<&str>) -> Vec<u32> {
    let Some(user) = user else { return vec![] };
    group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[3].split(',').any(|m| m == user))
                .then(|| f[2].parse().ok())
                .flatten()
        })
        .collect()
}

/// Spec §10.4: uid/gid from securityContext (container over pod) or the image's USER, looked up in
/// the image's `/etc/passwd` and `/etc/group`; `runAsNonRoot` checked with kubelet's messages.
pub fn identity(
    pod: &Pod,
    c: &Container,
    image: &ImageConfig,
    passwd: &str,
    group: &str,
) -> Result<(u32, u32, Vec<u32>), ConfigError> {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    let run_as_user = csc.run_as_user.or(psc.run_as_user);
    let run_as_group = csc.run_as_group.or(psc.run_as_group);
    let non_root = csc.run_as_non_root.or(psc.run_as_non_root) == Some(true);
    let kpod = podutil::kubelet_name(pod);

    let image_user = image.user.clone().filter(|u| !u.is_empty());
    let (user_part, group_part) = match image_user.as_deref() {
        Some(u) => match u.split_once(':') {
            Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
            None => (Some(u.to_string()), None),
        },
        None => (None, None),
    };
    if non_root {
        match run_as_user {
            Some(0) => return Err(ConfigError(format!("container's runAsUser breaks non-root policy (pod: {kpod:?}, container: {})", c.name))),
            Some(_) => {}
            None => match user_part.as_deref() {
                None | Some("0") => {
                    return Err(ConfigError(format!("container has runAsNonRoot and image will run as root (pod: {kpod:?}, container: {})", c.name)))
                }
                Some(u) if u.parse::<u32>().is_err() => {
                    return Err(ConfigError(format!(
                        "container has runAsNonRoot and image has non-numeric user ({u}), cannot verify user is non-root (pod: {kpod:?}, container: {})",
                        c.name
                    )))
                }
                Some(_) => {}
            },
        }
    }

    let (mut uid, mut gid, mut user_name) = (0u32, 0u32, None::<String>);
    if let Some(u) = user_part.as_deref() {
        match u.parse::<u32>() {
            Ok(n) => {
                uid = n;
                gid = passwd_gid_of_uid(passwd, n).unwrap_or(0);
            }
            Err(_) => {
                let (a, b) = lookup_passwd(passwd, u).ok_or_else(|| {
                    ConfigError(format!(
                        "unable to find user {u}: no matching entries in passwd file"
                    ))
                })?;
                uid = a;
                gid = b;
                user_name = Some(u.to_string());
            }
        }
    }
    if let Some(g) = group_part.as_deref() {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup_group(group, g).ok_or_else(|| {
                ConfigError(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    if let Some(u) = run_as_user {
        uid = u as u32;
        gid = passwd_gid_of_uid(passwd, uid).unwrap_or(0);
        user_name = None;
    }
    if let Some(g) = run_as_group {
        gid = g as u32;
    }
    let mut extra = supplementary(group, user_name.as_deref());
    extra.extend(psc.supplemental_groups.iter().flatten().map(|g| *g as u32));
    if let Some(fs) = psc.fs_group {
        extra.push(fs as u32);
    }
    extra.sort_unstable();
    extra.dedup();
    Ok((uid, gid, extra))
}

#[cfg(test)]
mod tests;
