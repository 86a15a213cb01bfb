//! Resolving a condition's property: a trait name, or a `$.` JSONPath into the evaluation
//! context (RFC 9535), where a trait literally named like the path wins.
//!
//! Paths are classified once at compile time. Paths into the identity become direct lookups;
//! paths into the environment, features or segments do not depend on the identity and are
//! resolved at compile time; only non-singular queries (wildcards, filters, descendants) are
//! run against a JSON form of the context at evaluation time.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::context_value::{Normalised, OwnedContextValue};

/// Index of a trait name in the compiled environment's trait table.
pub type Slot = usize;

/// Where a condition's value comes from.
#[derive(Debug, Clone)]
pub enum Property {
    /// No property: only percentage splits use it (on the identity key).
    Empty,
    Trait(Slot),
    /// A `$.` property: the trait literally named so, else the path's target.
    Path {
        literal: Slot,
        target: PathTarget,
    },
}

/// What a `$.` path points at.
#[derive(Debug, Clone)]
pub enum PathTarget {
    IdentityIdentifier,
    IdentityKey,
    IdentityTrait(Slot),
    /// Fixed for the environment (or nothing: objects, arrays and missing paths).
    Constant(Option<Normalised<OwnedContextValue>>),
    /// A non-singular query, run on the context's JSON form.
    Query(Box<JsonPath>),
    /// Not valid JSONPath: only a trait of that literal name counts.
    NotAPath,
}

impl Property {
    /// Whether resolving this property can raise in Flagsmith's engine whatever the identity:
    /// a constant it cannot normalise, or a query whose result is known only when run.
    pub fn may_fail(&self) -> bool {
        matches!(
            self,
            Self::Path {
                target: PathTarget::Constant(Some(Err(_))) | PathTarget::Query(_),
                ..
            }
        )
    }
}

/// One step of a singular path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Name(String),
    Index(i64),
}

/// Classifies `property`. `slot_of` interns trait names; `environment_json` gives the
/// identity-free part of the context for compile-time resolution.
pub fn classify(
    property: &str,
    slot_of: &mut dyn FnMut(&str) -> Slot,
    environment_json: &dyn Fn() -> Value,
) -> Property {
    if property.is_empty() {
        return Property::Empty;
    }
    if !property.starts_with("$.") {
        return Property::Trait(slot_of(property));
    }
    let literal = slot_of(property);
    let Ok(query) = JsonPath::parse(property) else {
        return Property::Path {
            literal,
            target: PathTarget::NotAPath,
        };
    };
    let target = match parse_singular(property) {
        Some(steps) => singular_target(&steps, slot_of, environment_json),
        None => PathTarget::Query(Box::new(query)),
    };
    Property::Path { literal, target }
}

fn singular_target(
    steps: &[Step],
    slot_of: &mut dyn FnMut(&str) -> Slot,
    environment_json: &dyn Fn() -> Value,
) -> PathTarget {
    if steps.first() == Some(&Step::Name("identity".into())) {
        return match &steps[1..] {
            [Step::Name(field)] if field == "identifier" => PathTarget::IdentityIdentifier,
            [Step::Name(field)] if field == "key" => PathTarget::IdentityKey,
            [Step::Name(field), Step::Name(name)] if field == "traits" => {
                PathTarget::IdentityTrait(slot_of(name))
            }
            // The identity object itself, its traits object, or below a scalar: nothing.
            _ => PathTarget::Constant(None),
        };
    }
    let root = environment_json();
    let mut node = Some(&root);
    for step in steps {
        node = node.and_then(|value| match (step, value) {
            (Step::Name(name), Value::Object(map)) => map.get(name),
            (Step::Index(i), Value::Array(items)) => {
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                usize::try_from(at).ok().and_then(|at| items.get(at))
            }
            _ => None,
        });
    }
    PathTarget::Constant(node.and_then(OwnedContextValue::from_json))
}

/// Parses `$` followed by name and index selectors only; `None` for anything else (which
/// may still be valid JSONPath, handled as a general query).
fn parse_singular(path: &str) -> Option<Vec<Step>> {
    let mut chars = path.strip_prefix('$')?.chars().peekable();
    let mut steps = Vec::new();
    loop {
        let mut saw_space = false;
        while chars.peek().is_some_and(|c| is_blank(*c)) {
            chars.next();
            saw_space = true;
        }
        match chars.next() {
            None if !saw_space => return Some(steps),
            Some('.') => {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    let allowed = if name.is_empty() {
                        is_name_first(c)
                    } else {
                        is_name_char(c)
                    };
                    if !allowed {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                if name.is_empty() {
                    return None;
                }
                steps.push(Step::Name(name));
            }
            Some('[') => {
                skip_blank(&mut chars);
                let step = match chars.peek() {
                    Some(&quote @ ('\'' | '"')) => {
                        chars.next();
                        Step::Name(string_literal(&mut chars, quote)?)
                    }
                    _ => Step::Index(index_literal(&mut chars)?),
                };
                skip_blank(&mut chars);
                if chars.next() != Some(']') {
                    return None;
                }
                steps.push(step);
            }
            _ => return None,
        }
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn skip_blank(chars: &mut Chars<'_>) {
    while chars.peek().is_some_and(|c| is_blank(*c)) {
        chars.next();
    }
}

fn is_name_first(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || u32::from(c) >= 0x80
}

fn is_name_char(c: char) -> bool {
    is_name_first(c) || c.is_ascii_digit()
}

fn string_literal(chars: &mut Chars<'_>, quote: char) -> Option<String> {
    let mut out = String::new();
    loop {
        match chars.next()? {
            c if c == quote => return Some(out),
            '\\' => match chars.next()? {
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                c @ ('/' | '\\') => out.push(c),
                c if c == quote => out.push(c),
                'u' => {
                    let high = hex4(chars)?;
                    let code = if (0xD800..0xDC00).contains(&high) {
                        if chars.next()? != '\\' || chars.next()? != 'u' {
                            return None;
                        }
                        let low = hex4(chars)?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return None;
                        }
                        0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        high
                    };
                    out.push(char::from_u32(code)?);
                }
                _ => return None,
            },
            c if u32::from(c) < 0x20 => return None,
            c => out.push(c),
        }
    }
}

fn hex4(chars: &mut Chars<'_>) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

fn index_literal(chars: &mut Chars<'_>) -> Option<i64> {
    let mut text = String::new();
    if chars.peek() == Some(&'-') {
        text.push('-');
        chars.next();
    }
    while let Some(&c) = chars.peek() {
        if !c.is_ascii_digit() {
            break;
        }
        text.push(c);
        chars.next();
    }
    let digits = text.trim_start_matches('-');
    if digits.is_empty() || (digits.starts_with('0') && text != "0") {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_paths_parse() {
        assert_eq!(
            parse_singular("$.identity.traits.tamaño"),
            Some(vec![
                Step::Name("identity".into()),
                Step::Name("traits".into()),
                Step::Name("tamaño".into())
            ])
        );
        assert_eq!(
            parse_singular("$.identity.traits['[$the.size$]']"),
            Some(vec![
                Step::Name("identity".into()),
                Step::Name("traits".into()),
                Step::Name("[$the.size$]".into())
            ])
        );
        assert_eq!(
            parse_singular("$.a[ -1 ]"),
            Some(vec![Step::Name("a".into()), Step::Index(-1)])
        );
        assert_eq!(
            parse_singular("$.a[\"x\\u00e9\"]").map(|s| s.len()),
            Some(2)
        );
        for not_singular in [
            "$.a.*",
            "$..a",
            "$.a[0,1]",
            "$.a[?@.b]",
            "$.a ",
            "$.-a",
            "$.a[01]",
        ] {
            assert_eq!(parse_singular(not_singular), None, "{not_singular}");
        }
    }
}
