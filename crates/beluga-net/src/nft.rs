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

/// The commands that take `name` from holding `previous` (what an earlier `replace_table` or
/// `update_table` was given) to holding `body`, keeping its sets' elements (the client
/// addresses of session affinity, which a replace would forget): every rule flushed and the
/// new ones added, chains and sets of `body` added where missing, those only `previous` had
/// deleted. Without `previous` (the table's contents unknown, as at start), a replace.
pub fn update_table(name: &str, previous: Option<&[Value]>, body: Vec<Value>) -> Vec<Value> {
    let Some(previous) = previous else {
        return replace_table(name, body);
    };
    let objects = |cmds: &[Value]| -> std::collections::HashSet<(String, String)> {
        cmds.iter().filter_map(added_object).collect()
    };
    let (had, wanted) = (objects(previous), objects(&body));
    // In the previous body's order, so the same change makes the same commands.
    let stale: Vec<Value> = previous
        .iter()
        .filter_map(added_object)
        .filter(|o| !wanted.contains(o))
        .map(|(kind, n)| json!({"delete": {kind: {"family": "ip", "table": name, "name": n}}}))
        .collect();
    let mut cmds = vec![json!({"add": table(name)}), json!({"flush": table(name)})];
    // What is there stays as it is: a set the kernel marked dynamic (a rule adds to it) is not
    // "added" again with the flags it was made with (EEXIST). A set whose properties change
    // must change its name.
    cmds.extend(
        body.into_iter()
            .filter(|c| added_object(c).is_none_or(|o| !had.contains(&o))),
    );
    cmds.extend(stale);
    cmds
}

/// The chain or set an `add` command makes: (kind, name).
fn added_object(cmd: &Value) -> Option<(String, String)> {
    let (kind, obj) = cmd["add"].as_object()?.iter().next()?;
    let name = obj.get("name")?.as_str()?;
    matches!(kind.as_str(), "chain" | "set").then(|| (kind.clone(), name.to_string()))
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

/// A set of IPv4 addresses that rules add to (`update`), each forgotten `timeout` seconds
/// after it was last added.
pub fn timeout_set(table: &str, name: &str, timeout: u32) -> Value {
    json!({"add": {"set": {"family": "ip", "table": table, "name": name, "type": "ipv4_addr", "flags": ["timeout"], "timeout": timeout}}})
}

/// `update @set { ip saddr }`: the packet's source (re)added to `set`.
pub fn remember_source(set: &str) -> Value {
    json!({"set": {"op": "update", "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": format!("@{set}")}})
}

/// `ip saddr @set`.
pub fn source_in(set: &str) -> Value {
    matches("ip", "saddr", format!("@{set}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(t: &str, chains: &[&str]) -> Vec<Value> {
        let mut b = vec![timeout_set(t, "aff", 60)];
        for c in chains {
            b.push(chain(t, c, None));
            b.push(rule(t, c, vec![source_in("aff"), json!({"accept": null})]));
        }
        b
    }

    // An update flushes the rules, adds what is new and deletes only what went; without a
    // previous body it is a replace.
    #[test]
    fn updates_delete_only_what_went() {
        let first = body("t", &["a", "b"]);
        assert_eq!(
            update_table("t", None, first.clone()),
            replace_table("t", first.clone())
        );
        let cmds = update_table("t", Some(&first), body("t", &["b", "c"]));
        assert_eq!(
            cmds[1],
            json!({"flush": {"table": {"family": "ip", "name": "t"}}})
        );
        let deletes: Vec<&Value> = cmds.iter().filter(|c| c.get("delete").is_some()).collect();
        assert_eq!(
            deletes,
            [&json!({"delete": {"chain": {"family": "ip", "table": "t", "name": "a"}}})]
        );
        assert_eq!(cmds.last(), deletes.last().copied());
    }

    // On the real nft (root only): a set's elements outlive an update, not a replace; a chain
    // that went is gone.
    #[test]
    fn set_elements_outlive_an_update() {
        if !rustix::process::geteuid().is_root() || Command::new("nft").arg("-v").output().is_err()
        {
            return;
        }
        let t = format!("beluga-unit-{}", std::process::id());
        let list = || {
            let o = Command::new("nft")
                .args(["list", "table", "ip", &t])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let first = body(&t, &["a", "b"]);
        apply(replace_table(&t, first.clone())).unwrap();
        let add = json!({"add": {"element": {"family": "ip", "table": &t, "name": "aff", "elem": ["10.1.2.3"]}}});
        apply(vec![add]).unwrap();
        let second = body(&t, &["b", "c"]);
        apply(update_table(&t, Some(&first), second.clone())).unwrap();
        let after = list();
        let _ = apply(replace_table(&t, second));
        let replaced = list();
        delete_table(&t).unwrap();
        assert!(
            after.contains("10.1.2.3") && !after.contains("chain a "),
            "{after}"
        );
        assert!(after.contains("chain c "), "{after}");
        assert!(!replaced.contains("10.1.2.3"), "{replaced}");
    }
}
