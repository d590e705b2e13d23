//! `$(VAR)` expansion as kubelet's forked `expansion.Expand` does it (spec §10.2).

/// Expands `$(NAME)` with `lookup`; `$$` escapes; undefined names and malformed references stay
/// literal. A line-for-line port of upstream's `Expand` + `tryReadVariableName`.
pub fn expand_env(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // A `$` that opens nothing is kept with the character after it.
                    let ch = rest.chars().next().unwrap_or_default();
                    out.push('$');
                    out.push(ch);
                    ch.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    // spec §10.2 expansion table.
    #[test]
    fn expansion_table() {
        let cases = [
            ("$(A)", "a"),
            ("x$(A)y", "xay"),
            ("$(EMPTY)", ""),
            ("$(UNDEF)", "$(UNDEF)"),
            ("$$", "$"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$a"),
            ("$(A", "$(A"),
            ("$x", "$x"),
            ("$", "$"),
            ("a$", "a$"),
            ("$(A$(A))", "$(A$(A))"),
            ("plain", "plain"),
            ("$(A)$(A)", "aa"),
            ("é$(A)é", "éaé"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_env(input, env), want, "input {input:?}");
        }
    }
}
