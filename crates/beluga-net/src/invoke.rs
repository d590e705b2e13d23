//! Running a list's plugins as libcni does (`AddNetworkList`, `CheckNetworkList`,
//! `DelNetworkList`): each plugin's configuration built from its entry with the list's `name`,
//! `cniVersion`, the previous result and the runtime config of the capabilities it declares;
//! the `CNI_*` variables; the result (or the CNI error) read from its output.

use crate::conf::ConfList;
use crate::result::CniResult;
use crate::NetError;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long one plugin may take (kubelet's runtime request timeout).
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Where plugins are found (`CNI_PATH`).
#[derive(Debug, Clone)]
pub struct Plugins {
    pub dirs: Vec<PathBuf>,
}

/// One attachment of a sandbox to a network (libcni's `RuntimeConf`).
#[derive(Debug, Clone, Default)]
pub struct Attachment {
    /// The sandbox's id (`CNI_CONTAINERID`).
    pub container_id: String,
    /// The network namespace file (`CNI_NETNS`).
    pub netns: PathBuf,
    /// The interface inside it (`CNI_IFNAME`).
    pub ifname: String,
    /// `CNI_ARGS` pairs (`K8S_POD_NAME`, …).
    pub args: Vec<(String, String)>,
    /// What capability-declaring plugins get as `runtimeConfig` (`portMappings`, …).
    pub capability_args: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Add,
    Check,
    Del,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Check => "CHECK",
            Command::Del => "DEL",
        }
    }
}

/// One plugin's stdin: its entry with the list's name and version, the previous result, and
/// the runtime config of the capabilities it declares (libcni's `buildOneConfig`).
pub fn plugin_config(
    list: &ConfList,
    plugin: &serde_json::Value,
    prev: Option<&CniResult>,
    at: &Attachment,
) -> serde_json::Value {
    let mut conf = plugin.clone();
    let Some(obj) = conf.as_object_mut() else {
        return conf;
    };
    obj.insert("name".into(), list.name.clone().into());
    obj.insert("cniVersion".into(), list.cni_version.clone().into());
    if let Some(prev) = prev {
        obj.insert(
            "prevResult".into(),
            serde_json::to_value(prev).unwrap_or_default(),
        );
    }
    let mut rc = serde_json::Map::new();
    if let Some(caps) = plugin["capabilities"].as_object() {
        for (cap, on) in caps {
            if on.as_bool() == Some(true) {
                if let Some(v) = at.capability_args.get(cap) {
                    rc.insert(cap.clone(), v.clone());
                }
            }
        }
    }
    if !rc.is_empty() {
        obj.insert("runtimeConfig".into(), rc.into());
    }
    conf
}

impl Plugins {
    /// The plugin binary named `kind` in the first directory that has it.
    fn find(&self, kind: &str) -> Result<PathBuf, NetError> {
        if kind.contains('/') || kind == "." || kind == ".." {
            return Err(NetError::Config(format!("invalid plugin type {kind:?}")));
        }
        self.dirs
            .iter()
            .map(|d| d.join(kind))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                NetError::Config(format!(
                    "failed to find plugin {kind:?} in path {:?}",
                    self.dirs
                ))
            })
    }

    /// Attaches the sandbox: every plugin in order, each given the previous one's result; the
    /// last result is the attachment's.
    pub async fn add(&self, list: &ConfList, at: &Attachment) -> Result<CniResult, NetError> {
        let mut prev: Option<CniResult> = None;
        for p in &list.plugins {
            let out = self.exec(Command::Add, list, p, prev.as_ref(), at).await?;
            prev = Some(out.unwrap_or_default());
        }
        Ok(prev.unwrap_or_default())
    }

    /// Checks the attachment against the cached result (skipped when the list disables it).
    pub async fn check(
        &self,
        list: &ConfList,
        at: &Attachment,
        cached: &CniResult,
    ) -> Result<(), NetError> {
        if list.disable_check {
            return Ok(());
        }
        for p in &list.plugins {
            self.exec(Command::Check, list, p, Some(cached), at).await?;
        }
        Ok(())
    }

    /// Detaches the sandbox: every plugin in reverse order, given the cached result. Every
    /// plugin is asked even after one failed (so that as much as possible is released); the
    /// first failure is returned.
    pub async fn del(
        &self,
        list: &ConfList,
        at: &Attachment,
        cached: Option<&CniResult>,
    ) -> Result<(), NetError> {
        let mut first = None;
        for p in list.plugins.iter().rev() {
            if let Err(e) = self.exec(Command::Del, list, p, cached, at).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Runs one plugin: its configuration on stdin, the `CNI_*` variables; its result on
    /// stdout (None when it printed none, as DEL and CHECK do).
    async fn exec(
        &self,
        cmd: Command,
        list: &ConfList,
        plugin: &serde_json::Value,
        prev: Option<&CniResult>,
        at: &Attachment,
    ) -> Result<Option<CniResult>, NetError> {
        let kind = plugin["type"].as_str().unwrap_or_default().to_string();
        let exe = self.find(&kind)?;
        let conf = plugin_config(list, plugin, prev, at);
        let stdin = serde_json::to_vec(&conf).map_err(|e| NetError::Config(e.to_string()))?;
        let out = tokio::time::timeout(PLUGIN_TIMEOUT, self.run(cmd, &exe, at, &stdin))
            .await
            .map_err(|_| NetError::Plugin {
                plugin: kind.clone(),
                command: cmd.name(),
                message: format!("no answer within {}s", PLUGIN_TIMEOUT.as_secs()),
            })??;
        if !out.status.success() {
            return Err(NetError::Plugin {
                plugin: kind,
                command: cmd.name(),
                message: plugin_error(&out.stdout, &out.stderr),
            });
        }
        if cmd != Command::Add || out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&out.stdout)
            .map(Some)
            .map_err(|e| NetError::Plugin {
                plugin: kind,
                command: cmd.name(),
                message: format!("unreadable result: {e}"),
            })
    }

    async fn run(
        &self,
        cmd: Command,
        exe: &Path,
        at: &Attachment,
        stdin: &[u8],
    ) -> Result<std::process::Output, NetError> {
        // Plugins refuse arguments they do not know unless told to ignore them, as the CRI's
        // `K8S_POD_*` arguments always are.
        let mut args: Vec<String> = at.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !args.is_empty() && !at.args.iter().any(|(k, _)| k == "IgnoreUnknown") {
            args.insert(0, "IgnoreUnknown=1".into());
        }
        let path = std::env::join_paths(&self.dirs).map_err(|e| NetError::Config(e.to_string()))?;
        let mut child = tokio::process::Command::new(exe);
        child
            .env_clear()
            .env("CNI_COMMAND", cmd.name())
            .env("CNI_CONTAINERID", &at.container_id)
            .env("CNI_NETNS", &at.netns)
            .env("CNI_IFNAME", &at.ifname)
            .env("CNI_ARGS", args.join(";"))
            .env("CNI_PATH", path)
            // The plugins call iptables and friends.
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // An ADD dies with the daemon: one the daemon did not see finish is undone and made
        // again by the next one, which must not race a survivor still reserving an address. The
        // signal follows the spawning thread, a runtime worker that lives as long as the daemon.
        // A DEL is left to finish: cut short after the pod's interface went, the bridge plugin's
        // next DEL no longer finds the addresses its masquerade rules are named by, and leaves
        // them (the churn test on runc caught it).
        if cmd == Command::Add {
            // SAFETY: the closure only makes one system call, which is async-signal-safe.
            unsafe {
                child.pre_exec(|| {
                    rustix::process::set_parent_process_death_signal(Some(
                        rustix::process::Signal::KILL,
                    ))
                    .map_err(std::io::Error::from)
                });
            }
        }
        let mut child = child.spawn()?;
        if let Some(mut w) = child.stdin.take() {
            w.write_all(stdin).await?;
        }
        Ok(child.wait_with_output().await?)
    }
}

/// A failed plugin's words: its CNI error (`msg`, then `details`) or whatever it printed.
fn plugin_error(stdout: &[u8], stderr: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(stdout) {
        if let Some(msg) = v["msg"].as_str() {
            return match v["details"].as_str().filter(|d| !d.is_empty()) {
                Some(d) => format!("{msg}: {d}"),
                None => msg.to_string(),
            };
        }
    }
    let text = String::from_utf8_lossy(if stdout.is_empty() { stderr } else { stdout });
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> ConfList {
        ConfList::parse(
            r#"{"cniVersion":"1.0.0","name":"net","plugins":[
                {"type":"bridge","bridge":"b0"},
                {"type":"portmap","capabilities":{"portMappings":true,"bandwidth":false}}]}"#,
        )
        .unwrap()
    }

    // libcni's buildOneConfig: name and version injected, the previous result passed, the
    // runtime config only for capabilities the plugin declares true.
    #[test]
    fn each_plugin_gets_name_version_prev_result_and_its_capabilities() {
        let l = list();
        let mut at = Attachment::default();
        at.capability_args.insert(
            "portMappings".into(),
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
        );
        at.capability_args
            .insert("bandwidth".into(), json!({"ingressRate": 1}));
        let first = plugin_config(&l, &l.plugins[0], None, &at);
        assert_eq!(
            first,
            json!({"type": "bridge", "bridge": "b0", "name": "net", "cniVersion": "1.0.0"})
        );
        let prev = CniResult {
            cni_version: "1.0.0".into(),
            ..Default::default()
        };
        let second = plugin_config(&l, &l.plugins[1], Some(&prev), &at);
        assert_eq!(second["prevResult"]["cniVersion"], "1.0.0");
        assert_eq!(second["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert!(second["runtimeConfig"].get("bandwidth").is_none());
        // No capability args: no runtimeConfig at all.
        let bare = plugin_config(&l, &l.plugins[1], None, &Attachment::default());
        assert!(bare.get("runtimeConfig").is_none());
    }

    // The CNI error's msg and details, else the plugin's own output.
    #[test]
    fn plugin_errors_in_their_words() {
        let e =
            br#"{"cniVersion":"1.0.0","code":7,"msg":"failed to allocate","details":"range full"}"#;
        assert_eq!(plugin_error(e, b""), "failed to allocate: range full");
        assert_eq!(plugin_error(br#"{"code":11,"msg":"busy"}"#, b""), "busy");
        assert_eq!(plugin_error(b"", b"  no such device\n"), "no such device");
    }

    // A plugin type is a file name in CNI_PATH, never a path.
    #[test]
    fn plugins_are_found_in_their_directories_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fake"), "").unwrap();
        let p = Plugins {
            dirs: vec![dir.path().join("missing"), dir.path().to_path_buf()],
        };
        assert_eq!(p.find("fake").unwrap(), dir.path().join("fake"));
        for bad in ["../fake", "/bin/sh", "..", "nope"] {
            assert!(p.find(bad).is_err(), "{bad}");
        }
    }
}
