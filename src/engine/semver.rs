//! SemVer 2.0 parsing and precedence exactly as python-semver 3 (used by Flagsmith) does it.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::LazyLock;

use super::python::{PyInt, py_int};

static SEMVER: LazyLock<regex::Regex> = LazyLock::new(|| {
    // python-semver's pattern; `\d` is Unicode-aware there as here.
    #[allow(clippy::unwrap_used)] // a constant pattern
    regex::Regex::new(
        r"(?x)
        \A
        (?P<major>0|[1-9]\d*) \.
        (?P<minor>0|[1-9]\d*) \.
        (?P<patch>0|[1-9]\d*)
        (?:-(?P<prerelease>
            (?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)
            (?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*
        ))?
        (?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?
        \z",
    )
    .unwrap()
});

/// A parsed version. Build metadata is parsed but never compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    major: PyInt,
    minor: PyInt,
    patch: PyInt,
    prerelease: Option<Cow<'a, str>>,
}

impl<'a> Version<'a> {
    /// `Version.parse`: strict SemVer; like Python's `$`, one trailing newline is tolerated.
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.is_ascii() {
            parse_ascii(text)
        } else {
            Self::parse_unicode_captures(text)
        }
    }

    /// The pattern itself: only needed where `\d` may meet non-ASCII digits.
    fn parse_unicode_captures(text: &'a str) -> Option<Self> {
        let caps = SEMVER.captures(text)?;
        Some(Self {
            major: py_int(caps.name("major")?.as_str())?,
            minor: py_int(caps.name("minor")?.as_str())?,
            patch: py_int(caps.name("patch")?.as_str())?,
            prerelease: caps.name("prerelease").map(|m| Cow::Borrowed(m.as_str())),
        })
    }

    fn from_parts(
        major: &str,
        minor: &str,
        patch: &str,
        prerelease: Option<&'a str>,
    ) -> Option<Self> {
        Some(Self {
            major: py_int(major)?,
            minor: py_int(minor)?,
            patch: py_int(patch)?,
            prerelease: prerelease.map(Cow::Borrowed),
        })
    }

    /// Detaches the version from the text it was parsed from.
    pub fn into_owned(self) -> Version<'static> {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            prerelease: self.prerelease.map(|p| Cow::Owned(p.into_owned())),
        }
    }

    /// SemVer precedence: numbers, then a release above its pre-releases, then the
    /// pre-release identifiers; build metadata is ignored.
    pub fn precedence(&self, other: &Version<'_>) -> Ordering {
        let numbers = (&self.major, &self.minor, &self.patch).cmp(&(
            &other.major,
            &other.minor,
            &other.patch,
        ));
        if numbers != Ordering::Equal {
            return numbers;
        }
        let a = self.prerelease.as_deref().unwrap_or("");
        let b = other.prerelease.as_deref().unwrap_or("");
        let natural = natural_cmp(a, b);
        if natural == Ordering::Equal {
            Ordering::Equal
        } else if a.is_empty() {
            Ordering::Greater
        } else if b.is_empty() {
            Ordering::Less
        } else {
            natural
        }
    }
}

/// The same grammar as the pattern, by hand, for ASCII text (the hot path): one pass over
/// the bytes, no allocation.
fn parse_ascii(text: &str) -> Option<Version<'_>> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let number = |at: &mut usize| -> Option<(usize, usize)> {
        let start = *at;
        while *at < bytes.len() && bytes[*at].is_ascii_digit() {
            *at += 1;
        }
        let len = *at - start;
        (len > 0 && (len == 1 || bytes[start] != b'0')).then_some((start, *at))
    };
    let major = number(&mut at)?;
    (bytes.get(at) == Some(&b'.')).then_some(())?;
    at += 1;
    let minor = number(&mut at)?;
    (bytes.get(at) == Some(&b'.')).then_some(())?;
    at += 1;
    let patch = number(&mut at)?;
    let mut prerelease = None;
    if bytes.get(at) == Some(&b'-') {
        let start = at + 1;
        at = identifiers_end(bytes, start, true)?;
        prerelease = Some(&text[start..at]);
    }
    if bytes.get(at) == Some(&b'+') {
        at = identifiers_end(bytes, at + 1, false)?;
    }
    if at != bytes.len() {
        return None;
    }
    Version::from_parts(
        &text[major.0..major.1],
        &text[minor.0..minor.1],
        &text[patch.0..patch.1],
        prerelease,
    )
}

/// Scans dot-separated identifiers of `[0-9A-Za-z-]` from `start`; pre-release identifiers
/// that are all digits must not have leading zeros. Returns where they end.
fn identifiers_end(bytes: &[u8], start: usize, prerelease: bool) -> Option<usize> {
    let mut at = start;
    loop {
        let begin = at;
        let mut all_digits = true;
        while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'-') {
            all_digits &= bytes[at].is_ascii_digit();
            at += 1;
        }
        let len = at - begin;
        if len == 0 || (prerelease && all_digits && len > 1 && bytes[begin] == b'0') {
            return None;
        }
        if bytes.get(at) != Some(&b'.') {
            return Some(at);
        }
        at += 1;
    }
}

/// python-semver's `_nat_cmp`: dot-separated identifiers, numeric ones (`[0-9]+`) compared as
/// numbers and ranked below alphanumeric ones; equal prefixes are decided by text length.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    for (x, y) in a.split('.').zip(b.split('.')) {
        let order = match (numeric_identifier(x), numeric_identifier(y)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

fn numeric_identifier(part: &str) -> Option<PyInt> {
    if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
        py_int(part)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a)
            .unwrap()
            .precedence(&Version::parse(b).unwrap())
    }

    #[test]
    fn precedence_follows_semver() {
        assert_eq!(cmp("1.0.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("1.0.0+a", "1.0.0+b"), Ordering::Equal);
        assert_eq!(cmp("1.0.0-alpha", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha", "1.0.0-alpha.1"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"), Ordering::Less);
        assert_eq!(cmp("1.0.0-beta.2", "1.0.0-beta.11"), Ordering::Less);
        assert_eq!(cmp("1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("2.0.0", "10.0.0"), Ordering::Less);
        assert_eq!(cmp("1.10.0", "1.9.9"), Ordering::Greater);
    }

    #[test]
    fn parse_is_strict() {
        for bad in [
            "1.0",
            "01.0.0",
            "1.0.0-01",
            "v1.0.0",
            "1.0.0-",
            "1.0.0+",
            " 1.0.0",
            "1.0.0\n\n",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad:?} is not semver");
        }
        assert!(
            Version::parse("1.0.0\n").is_some(),
            "Python's $ allows one final newline"
        );
        assert!(Version::parse("1.2.3-rc.1+build.5").is_some());
        assert!(
            Version::parse("1.0.0-١").is_none(),
            "a Unicode digit alone is not an identifier"
        );
        assert!(
            Version::parse("1١.0.0").is_some(),
            "Python's \\d is Unicode-aware"
        );
    }

    proptest::proptest! {
        #[test]
        fn hand_parser_agrees_with_the_pattern(text in "[0-9a-c.+-]{0,14}") {
            proptest::prop_assert_eq!(parse_ascii(&text), Version::parse_unicode_captures(&text));
        }
    }
}
