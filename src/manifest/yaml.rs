//! Reading and writing flags files as YAML, with the line and column of what is wrong.

use super::{Manifest, VERSION};

/// A file that cannot be read as a flags file: where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", location(*.line, *.column))]
pub struct FileError {
    /// 1-based; `None` when the problem has no place (an empty file).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: "),
        (Some(line), None) => format!("line {line}: "),
        _ => String::new(),
    }
}

/// Reads a flags file (YAML; JSON is YAML too).
pub fn from_yaml(text: &str) -> Result<Manifest, FileError> {
    let manifest: Manifest = yaml_serde::from_str(text).map_err(|error| {
        let place = error.location();
        let mut message = error.to_string();
        // The place goes first, once.
        if let Some(place) = &place
            && let Some(cut) = message.rfind(&format!(
                " at line {} column {}",
                place.line(),
                place.column()
            ))
        {
            message.truncate(cut);
        }
        FileError {
            line: place.as_ref().map(yaml_serde::Location::line),
            column: place.as_ref().map(yaml_serde::Location::column),
            message,
        }
    })?;
    if manifest.version != VERSION {
        return Err(FileError {
            line: None,
            column: None,
            message: format!(
                "version {} is not one this build reads (it reads {VERSION})",
                manifest.version
            ),
        });
    }
    Ok(manifest)
}

/// Writes a flags file as YAML.
pub fn to_yaml(manifest: &Manifest) -> Result<String, FileError> {
    yaml_serde::to_string(manifest).map_err(|error| FileError {
        line: None,
        column: None,
        message: error.to_string(),
    })
}
