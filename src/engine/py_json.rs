//! Python's `json.loads` and `str()` of what it returns, for `IN` values written as JSON lists:
//! integers of any length, `NaN` and `Infinity`, out-of-range exponents, lone surrogates, and
//! containers printed in Python's `repr`.

use std::fmt::Write as _;
use std::sync::LazyLock;

use super::py_int::MAX_STR_DIGITS;
use super::python::write_float_repr;

/// A value as Python's `json` module returns it.
#[derive(Debug, Clone, PartialEq)]
enum PyJson {
    None,
    Bool(bool),
    /// `str()` of the integer: its digits with a `-` if negative (`-0` reads as `0`).
    Int(String),
    Float(f64),
    Str(String),
    /// A string holding a lone surrogate (`"\ud800"`), which no Rust string can: its code points.
    SurrogateStr(Vec<u32>),
    List(Vec<PyJson>),
    /// Keys in first-seen order; a repeated key replaces the value in place, as in a `dict`.
    Dict(Vec<(PyJson, PyJson)>),
}

/// `[v if type(v) is str else str(v) for v in json.loads(text)]` for text starting with `[`;
/// `None` where `json.loads` raises. Members holding a lone surrogate are left out: no
/// context value can equal them.
pub fn json_list_members(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    let mut parser = Parser { text, at: 0 };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.at != text.len() {
        return None;
    }
    let PyJson::List(items) = value else {
        return None;
    };
    Some(
        items
            .into_iter()
            .filter_map(|item| match item {
                PyJson::Str(s) => Some(s),
                PyJson::SurrogateStr(_) => None,
                other => Some(other.repr()),
            })
            .collect(),
    )
}

/// Python's `str()` of a JSON value, as `str(json.loads(...))` elements print: strings as is,
/// `True`/`False`/`None`, floats in `repr`, containers in Python's own `repr`.
pub fn json_str(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => PyJson::from_value(other).repr(),
    }
}

impl PyJson {
    fn from_value(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self::None,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Self::Int(i.to_string()),
                (None, Some(u)) => Self::Int(u.to_string()),
                _ => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Self::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Self::List(items.iter().map(Self::from_value).collect())
            }
            serde_json::Value::Object(map) => Self::Dict(
                map.iter()
                    .map(|(k, v)| (Self::Str(k.clone()), Self::from_value(v)))
                    .collect(),
            ),
        }
    }

    fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Self::None => out.push_str("None"),
            Self::Bool(true) => out.push_str("True"),
            Self::Bool(false) => out.push_str("False"),
            Self::Int(digits) => out.push_str(digits),
            Self::Float(f) => write_float_repr(*f, out),
            Self::Str(s) => write_str_repr(s.chars().map(u32::from), out),
            Self::SurrogateStr(points) => write_str_repr(points.iter().copied(), out),
            Self::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            Self::Dict(entries) => {
                out.push('{');
                for (i, (key, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    key.write_repr(out);
                    out.push_str(": ");
                    item.write_repr(out);
                }
                out.push('}');
            }
        }
    }
}

static NOT_PRINTABLE: LazyLock<regex::Regex> = LazyLock::new(|| {
    // Python's `str.isprintable()` is false for these categories (the space aside).
    #[allow(clippy::unwrap_used)] // a constant pattern
    regex::Regex::new(r"^[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$").unwrap()
});

fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 4];
    !NOT_PRINTABLE.is_match(c.encode_utf8(&mut buf))
}

/// Python's `repr()` of a string given as code points (surrogates included): single quotes
/// unless the text has one and no double quote; unprintable characters escaped.
fn write_str_repr(points: impl Iterator<Item = u32> + Clone, out: &mut String) {
    let has = |wanted: char| points.clone().any(|p| p == u32::from(wanted));
    let quote = if has('\'') && !has('"') { '"' } else { '\'' };
    out.push(quote);
    for point in points {
        match char::from_u32(point) {
            Some('\\') => out.push_str("\\\\"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some(c) if c == quote => {
                out.push('\\');
                out.push(c);
            }
            Some(c) if is_printable(c) => out.push(c),
            // Unprintable characters and lone surrogates.
            _ if point < 0x100 => {
                let _ = write!(out, "\\x{point:02x}");
            }
            _ if point < 0x1_0000 => {
                let _ = write!(out, "\\u{point:04x}");
            }
            _ => {
                let _ = write!(out, "\\U{point:08x}");
            }
        }
    }
    out.push(quote);
}

/// A reader of Python's `json` dialect (strict mode, the default): standard JSON plus `NaN`,
/// `Infinity` and `-Infinity`, integers of any length up to Python's digit limit.
struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, literal: &str) -> bool {
        let found = self.rest().starts_with(literal);
        if found {
            self.at += literal.len();
        }
        found
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<PyJson> {
        match self.peek()? {
            b'"' => self.string(),
            b'[' => self.list(),
            b'{' => self.dict(),
            b'n' if self.eat("null") => Some(PyJson::None),
            b't' if self.eat("true") => Some(PyJson::Bool(true)),
            b'f' if self.eat("false") => Some(PyJson::Bool(false)),
            b'N' if self.eat("NaN") => Some(PyJson::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => Some(PyJson::Float(f64::INFINITY)),
            b'-' if self.eat("-Infinity") => Some(PyJson::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn list(&mut self) -> Option<PyJson> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat("]") {
            return Some(PyJson::List(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value()?);
            self.skip_whitespace();
            if self.eat("]") {
                return Some(PyJson::List(items));
            }
            if !self.eat(",") {
                return None;
            }
        }
    }

    fn dict(&mut self) -> Option<PyJson> {
        self.at += 1;
        let mut entries: Vec<(PyJson, PyJson)> = Vec::new();
        self.skip_whitespace();
        if self.eat("}") {
            return Some(PyJson::Dict(entries));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(":") {
                return None;
            }
            self.skip_whitespace();
            let item = self.value()?;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = item,
                None => entries.push((key, item)),
            }
            self.skip_whitespace();
            if self.eat("}") {
                return Some(PyJson::Dict(entries));
            }
            if !self.eat(",") {
                return None;
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`: an `int` without fraction or
    /// exponent, else a `float` (infinite when out of range).
    fn number(&mut self) -> Option<PyJson> {
        let start = self.at;
        let digits = |p: &Self, from: usize| {
            p.text.as_bytes()[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        self.eat("-");
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.at += digits(self, self.at),
            _ => return None,
        }
        let int_end = self.at;
        if self.peek() == Some(b'.') && digits(self, self.at + 1) > 0 {
            self.at += 1 + digits(self, self.at + 1);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(
                self.text.as_bytes().get(self.at + 1),
                Some(b'+' | b'-')
            ));
            let exponent = digits(self, self.at + 1 + sign);
            if exponent > 0 {
                self.at += 1 + sign + exponent;
            }
        }
        let literal = &self.text[start..self.at];
        if self.at == int_end {
            let magnitude = literal.trim_start_matches('-');
            if magnitude.len() > MAX_STR_DIGITS {
                return None;
            }
            let negative = literal.starts_with('-') && magnitude != "0";
            return Some(PyJson::Int(if negative {
                literal.to_owned()
            } else {
                magnitude.to_owned()
            }));
        }
        literal.parse().ok().map(PyJson::Float)
    }

    fn string(&mut self) -> Option<PyJson> {
        self.at += 1;
        let mut points: Vec<u32> = Vec::new();
        let mut lone_surrogate = false;
        loop {
            let c = self.rest().chars().next()?;
            self.at += c.len_utf8();
            match c {
                '"' => break,
                // Strict mode refuses raw control characters.
                c if u32::from(c) < 0x20 => return None,
                '\\' => {
                    let escape = self.rest().chars().next()?;
                    self.at += escape.len_utf8();
                    let point = match escape {
                        '"' | '\\' | '/' => u32::from(escape),
                        'b' => 0x08,
                        'f' => 0x0c,
                        'n' => 0x0a,
                        'r' => 0x0d,
                        't' => 0x09,
                        'u' => self.unicode_escape(&mut lone_surrogate)?,
                        _ => return None,
                    };
                    points.push(point);
                }
                c => points.push(u32::from(c)),
            }
        }
        if lone_surrogate {
            return Some(PyJson::SurrogateStr(points));
        }
        Some(PyJson::Str(
            points.into_iter().filter_map(char::from_u32).collect(),
        ))
    }

    /// After `\u`: four hex digits, joined with a following `\uDC00`–`\uDFFF` when they are a
    /// high surrogate, as Python does; a surrogate left alone is kept (and flagged).
    fn unicode_escape(&mut self, lone_surrogate: &mut bool) -> Option<u32> {
        let high = self.hex4()?;
        if (0xD800..0xDC00).contains(&high) && self.rest().starts_with("\\u") {
            let saved = self.at;
            self.at += 2;
            match self.hex4() {
                Some(low) if (0xDC00..0xE000).contains(&low) => {
                    return Some(0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00));
                }
                _ => self.at = saved,
            }
        }
        if (0xD800..0xE000).contains(&high) {
            *lone_surrogate = true;
        }
        Some(high)
    }

    fn hex4(&mut self) -> Option<u32> {
        let hex = self.text.get(self.at..self.at + 4)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(hex, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(text: &str) -> Option<Vec<String>> {
        json_list_members(text)
    }

    #[test]
    fn reads_what_python_json_reads() {
        assert_eq!(
            members(r#"[1, 1.0, true, null, "a", ["x", 2], {"k": "it's"}]"#).unwrap(),
            [
                "1",
                "1.0",
                "True",
                "None",
                "a",
                "['x', 2]",
                "{'k': \"it's\"}"
            ]
        );
        assert_eq!(
            members("[99999999999999999999, -0, 1e16, 1E400, -1e400, NaN, -Infinity]").unwrap(),
            [
                "99999999999999999999",
                "0",
                "1e+16",
                "inf",
                "-inf",
                "nan",
                "-inf"
            ]
        );
        assert_eq!(members(" [1]"), None, "must start with [");
        assert_eq!(members("[1] "), Some(vec!["1".into()]));
        assert_eq!(members("[]"), Some(vec![]));
        assert_eq!(
            members(r#"[{"a": 1, "b": 2, "a": 3}]"#).unwrap(),
            ["{'a': 3, 'b': 2}"]
        );
        assert_eq!(
            members(r#"["\ud83d\ude00", "\u00e9", ["\u0085\t"]]"#).unwrap(),
            ["😀", "é", r"['\x85\t']"]
        );
        assert_eq!(
            members(r#"["\ud800", ["\ud800"]]"#).unwrap(),
            [r"['\ud800']"]
        );
    }

    #[test]
    fn refuses_what_python_json_refuses() {
        for bad in [
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[+1]",
            "[1,]",
            "[,]",
            "[1] x",
            "[\"a\nb\"]",
            "[\"\\x\"]",
            "[nan]",
            "[infinity]",
            "[{1: 2}]",
            "[\"\\u12\"]",
            "[",
        ] {
            assert_eq!(members(bad), None, "{bad:?}");
        }
        let too_long = format!("[{}]", "9".repeat(MAX_STR_DIGITS + 1));
        assert_eq!(members(&too_long), None, "int() digit limit");
        let at_limit = format!("[{}]", "9".repeat(MAX_STR_DIGITS));
        assert!(members(&at_limit).is_some());
    }

    #[test]
    fn json_str_matches_python_str() {
        let value: serde_json::Value =
            serde_json::from_str(r#"[1, 1.0, true, null, "a", ["x", 2], {"k": "it's"}]"#).unwrap();
        let items: Vec<String> = value.as_array().unwrap().iter().map(json_str).collect();
        assert_eq!(
            items,
            [
                "1",
                "1.0",
                "True",
                "None",
                "a",
                "['x', 2]",
                "{'k': \"it's\"}"
            ]
        );
    }
}
