//! Field errors in apimachinery's words (spec §12.1): `<path>: <Type>[: <value>][: <detail>]`,
//! and kubectl's rendering of an aggregate `Invalid` status.

use std::fmt;

/// The error types of `k8s.io/apimachinery/pkg/util/validation/field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
        }
    }

    /// The `reason` of a `StatusCause` (`FieldValueRequired`, …).
    pub fn cause_reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
        }
    }

    /// Required, Forbidden, TooLong and Internal never print the value (spec §12.1).
    fn prints_value(self) -> bool {
        !matches!(
            self,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal
        )
    }
}

/// A value as Go's `%v`/`%q` would print it in a field error.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    /// Printed verbatim (structs in `%#v` form, `null`).
    Raw(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{}", go_quote(s)),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Raw(r) => f.write_str(r),
        }
    }
}

impl Value {
    /// A `[]string` as Go's `%#v` prints it: `[]string{"a", "b"}`.
    pub fn strings(v: &[String]) -> Value {
        let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
        Value::Raw(format!("[]string{{{}}}", items.join(", ")))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Str(s.clone())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i.into())
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Go's `strconv.Quote`: `"…"` with `\"`, `\\`, the C escapes, `\xNN` for other control bytes
/// and invalid UTF-8 (none in a Rust string), `\u`/`\U` for non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` for what labels and annotations carry: control
/// characters, the C1 block, separators other than the space, surrogates and the private and
/// unassigned ranges that matter are not printable.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    !(matches!(u, 0x80..=0x9f | 0xad | 0x2028 | 0x2029 | 0xfeff | 0xe000..=0xf8ff)
        || (0x2000..=0x200f).contains(&u)
        || matches!(
            u,
            0x00a0 | 0x1680 | 0x202f | 0x205f | 0x3000 | 0xfff9..=0xfffb
        ))
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub kind: ErrorType,
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn new(
        kind: ErrorType,
        path: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            path: path.into(),
            kind,
            value,
            detail: detail.into(),
        }
    }
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, path, None, detail)
    }
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, path, None, detail)
    }
    pub fn invalid(
        path: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(ErrorType::Invalid, path, Some(value.into()), detail)
    }
    pub fn duplicate(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::Duplicate, path, Some(value.into()), "")
    }
    pub fn not_found(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::NotFound, path, Some(value.into()), "")
    }
    pub fn too_long(path: impl Into<String>, max: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            path,
            None,
            format!("must have at most {max} bytes"),
        )
    }
    /// `Unsupported value: "X": supported values: "A", "B"`.
    pub fn not_supported(path: impl Into<String>, value: impl Into<Value>, valid: &[&str]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, path, Some(value.into()), detail)
    }

    /// The message without the field path (`ErrorBody`).
    pub fn body(&self) -> String {
        let mut s = self.kind.as_str().to_string();
        if self.kind.prints_value() {
            if let Some(v) = &self.value {
                s.push_str(&format!(": {v}"));
            } else {
                s.push_str(": null");
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.path, self.body())
        }
    }
}

/// Removes exact duplicates, keeping check order (apimachinery's `ToAggregate`).
pub fn dedup(errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::with_capacity(errors.len());
    for e in errors {
        if !out.iter().any(|o| o.to_string() == e.to_string()) {
            out.push(e);
        }
    }
    out
}

/// The apiserver's `Status.message`: `Pod "x" is invalid: e` or `… is invalid: [e1, e2]`.
pub fn status_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    if list.len() == 1 {
        format!("{kind} {} is invalid: {}", go_quote(name), list[0])
    } else {
        format!(
            "{kind} {} is invalid: [{}]",
            go_quote(name),
            list.join(", ")
        )
    }
}

/// kubectl's rendering of an Invalid status (`StandardErrorMessage`), including the
/// trailing space after `is invalid: ` when there are several causes.
pub fn kubectl_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    if errors.len() == 1 {
        format!("The {kind} {} is invalid: {}", go_quote(name), errors[0])
    } else {
        let mut s = format!("The {kind} {} is invalid: \n", go_quote(name));
        for e in errors {
            s.push_str(&format!("* {e}\n"));
        }
        s.pop();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §12.1: value printing per error type.
    #[test]
    fn formats_match_apimachinery() {
        let cases = vec![
            (FieldError::required("spec.containers[0].image", ""), "spec.containers[0].image: Required value"),
            (
                FieldError::required("metadata.name", "name or generateName is required"),
                "metadata.name: Required value: name or generateName is required",
            ),
            (FieldError::duplicate("spec.containers[1].name", "app"), "spec.containers[1].name: Duplicate value: \"app\""),
            (
                FieldError::invalid("spec.containers[0].ports[0].containerPort", 70000, "must be between 1 and 65535, inclusive"),
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
            (
                FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ),
            (
                FieldError::forbidden("spec.containers[0].restartPolicy", "may not be set for non-init containers"),
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            ),
            (FieldError::not_found("spec.containers[0].volumeMounts[0].name", "data"), "spec.containers[0].volumeMounts[0].name: Not found: \"data\""),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    // spec §12.1: kubectl multi-error layout keeps the trailing space.
    #[test]
    fn kubectl_layout() {
        let one = vec![FieldError::required("spec.containers[0].image", "")];
        assert_eq!(
            kubectl_message("Pod", "p", &one),
            "The Pod \"p\" is invalid: spec.containers[0].image: Required value"
        );
        let two = vec![
            FieldError::required("spec.containers[0].image", ""),
            FieldError::duplicate("spec.containers[1].name", "app"),
        ];
        assert_eq!(
            kubectl_message("Pod", "p", &two),
            "The Pod \"p\" is invalid: \n* spec.containers[0].image: Required value\n* spec.containers[1].name: Duplicate value: \"app\""
        );
        assert_eq!(
            status_message("Pod", "p", &two),
            "Pod \"p\" is invalid: [spec.containers[0].image: Required value, spec.containers[1].name: Duplicate value: \"app\"]"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
