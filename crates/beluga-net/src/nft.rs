//! nftables through its JSON interface (`nft -j -f -`): a table of beluga's replaced whole in
//! one transaction, and removed. Rules are JSON values, never text put together from strings.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// `nft -j -f -` with `commands` (a list of `{"add": …}`-style commands) in one transaction:
/// all of them apply or none does.
pub fn apply(commands: Vec<Value>) -> Result<(), String> {
    run(commands, false)
}

/// What `apply` would say of `commands`, without applying them (`nft -c`).
pub fn check(commands: Vec<Value>) -> Result<(), String> {
    run(commands, true)
}

fn run(commands: Vec<Value>, check_only: bool) -> Result<(), String> {
    let doc = json!({ "nftables": commands });
    let mut cmd = Command::new("nft");
    if check_only {
        cmd.arg("-c");
    }
    let mut child = cmd
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running nft: {e}"))?;
    let bytes = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&bytes)
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn table(name: &str) -> Value {
    json!({"table": {"family": "ip", "name": name}})
}

/// The commands that make `name` hold exactly `body` (chains, maps, rules): the table is added
/// (so that deleting it cannot fail), deleted, and made again, atomically.
pub fn replace_table(name: &str, body: Vec<Value>) -> Vec<Value> {
    let mut cmds = vec![
        json!({"add": table(name)}),
        json!({"delete": table(name)}),
        json!({"add": table(name)}),
    ];
    cmds.extend(body);
    cmds
}

/// Removes the table if it is there.
pub fn delete_table(name: &str) -> Result<(), String> {
    apply(vec![
        json!({"add": table(name)}),
        json!({"delete": table(name)}),
    ])
}

/// A chain of `table`; a base chain when `hook` is given (`nat` type, `priority`).
pub fn chain(table: &str, name: &str, hook: Option<(&str, i32)>) -> Value {
    let mut c = json!({"family": "ip", "table": table, "name": name});
    if let Some((hook, prio)) = hook {
        c["type"] = "nat".into();
        c["hook"] = hook.into();
        c["prio"] = prio.into();
        c["policy"] = "accept".into();
    }
    json!({"add": {"chain": c}})
}

/// A rule of `expr` at the end of `chain`.
pub fn rule(table: &str, chain: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "ip", "table": table, "chain": chain, "expr": expr}}})
}

/// `<payload field> == value` (`ip daddr`, `tcp dport`, …).
pub fn matches(protocol: &str, field: &str, value: Value) -> Value {
    json!({"match": {"op": "==", "left": {"payload": {"protocol": protocol, "field": field}}, "right": value}})
}

pub fn jump(target: &str) -> Value {
    json!({"jump": {"target": target}})
}
