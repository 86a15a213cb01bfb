//! `REGEX` conditions: Python's `re.match` semantics on the linear-time `regex` crate.
//!
//! `re.match` anchors at the start only, and Python's `$` also matches before a final
//! newline. Patterns the `regex` crate cannot compile (look-around, back-references) are
//! invalid conditions.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;

/// Upper bound on the compiled size of one user pattern, so no pattern can exhaust memory.
const SIZE_LIMIT: usize = 1 << 20;
/// Most patterns kept compiled; past it the cache starts over.
const CACHED_PATTERNS: usize = 4096;

/// Patterns compiled before, by text: every write that touches an environment rebuilds its
/// compiled form, and compiling a pattern costs far more than matching it (a clone shares the
/// compiled program).
static COMPILED: LazyLock<Mutex<HashMap<String, Result<PyPattern, String>>>> =
    LazyLock::new(Mutex::default);

/// A compiled `REGEX` condition value.
#[derive(Debug, Clone)]
pub struct PyPattern {
    anchored: Regex,
    /// Set when the pattern uses `$`: retry without the subject's final newline.
    dollar_before_final_newline: bool,
}

impl PyPattern {
    /// Compiles a Python pattern (or takes it from the cache of patterns compiled before);
    /// the error text says why the `regex` crate refused it.
    pub fn compile(pattern: &str) -> Result<Self, String> {
        if let Ok(cache) = COMPILED.lock()
            && let Some(compiled) = cache.get(pattern)
        {
            return compiled.clone();
        }
        let compiled = Self::compile_uncached(pattern);
        if let Ok(mut cache) = COMPILED.lock() {
            if cache.len() >= CACHED_PATTERNS {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), compiled.clone());
        }
        compiled
    }

    fn compile_uncached(pattern: &str) -> Result<Self, String> {
        let translated = translate(pattern);
        // Validate the pattern alone first, so wrapping it cannot make it valid.
        regex_syntax::Parser::new()
            .parse(&translated.text)
            .map_err(|e| e.to_string())?;
        let anchored = regex::RegexBuilder::new(&format!(r"\A(?:{})", translated.text))
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            anchored,
            dollar_before_final_newline: translated.uses_dollar,
        })
    }

    /// `re.match(pattern, subject) is not None`.
    pub fn matches(&self, subject: &str) -> bool {
        if self.anchored.is_match(subject) {
            return true;
        }
        self.dollar_before_final_newline
            && subject
                .strip_suffix('\n')
                .is_some_and(|s| self.anchored.is_match(s))
    }
}

struct Translated {
    text: String,
    uses_dollar: bool,
}

/// Rewrites the few Python spellings the `regex` crate reads differently: `\Z` (end of text)
/// becomes `\z`. Notes whether an unescaped `$` appears outside a character class.
fn translate(pattern: &str) -> Translated {
    let mut text = String::with_capacity(pattern.len());
    let mut uses_dollar = false;
    let mut uses_end_anchor = false;
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Z') if !in_class => {
                    text.push_str("\\z");
                    uses_end_anchor = true;
                }
                Some(next) => {
                    text.push('\\');
                    text.push(next);
                }
                None => text.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                text.push(c);
                // A `]` right after `[` or `[^` is a literal in both dialects.
                if chars.peek() == Some(&'^') {
                    text.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    text.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                text.push(c);
            }
            '[' if in_class => text.push_str("\\["),
            '$' if !in_class => {
                uses_dollar = true;
                text.push(c);
            }
            _ => text.push(c),
        }
    }
    // With `\Z` in the pattern, dropping the final newline would change its meaning.
    Translated {
        text,
        uses_dollar: uses_dollar && !uses_end_anchor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_match(pattern: &str, subject: &str) -> bool {
        PyPattern::compile(pattern).unwrap().matches(subject)
    }

    #[test]
    fn anchors_at_start_only() {
        assert!(!py_match("ell", "hello"));
        assert!(py_match("^h", "hello"));
        assert!(py_match("h", "hello"));
        assert!(py_match("a|b", "bc"));
        assert!(py_match(".*ell", "hello"));
    }

    #[test]
    fn dollar_allows_final_newline() {
        assert!(py_match("abc$", "abc\n"));
        assert!(!py_match("abc$", "abc\nx"));
        assert!(!py_match(r"abc\Z", "abc\n"));
        assert!(py_match(r"abc\Z", "abc"));
    }

    #[test]
    fn rejects_what_regex_cannot_do_and_unbalanced_groups() {
        assert!(PyPattern::compile(r"(?=a)").is_err());
        assert!(PyPattern::compile(r"(a)\1").is_err());
        assert!(PyPattern::compile(r"a)|(b").is_err());
        assert!(PyPattern::compile(r"a{1000}{1000}{1000}").is_err());
    }

    #[test]
    fn python_class_quirks() {
        assert!(py_match("[]a]", "]"));
        assert!(py_match("[[]", "["));
    }
}
