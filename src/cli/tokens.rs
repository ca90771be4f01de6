//! Tokens kept outside any project, one file per server
//! (`$XDG_CONFIG_HOME/hivelog/tokens/<server>`, else `~/.config/…`, mode
//! 0600). `hivelog setup --token` saves one; every client command uses the
//! one saved for its server when no `--token`, HIVELOG_TOKEN or
//! `--token-file` gives another.

use std::path::{Path, PathBuf};

use super::client::CliError;

/// Where the token for `server` is kept.
pub fn saved_path(server: &str) -> Result<PathBuf, CliError> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = from("XDG_CONFIG_HOME")
        .or_else(|| from("HOME").map(|h| h.join(".config")))
        .ok_or_else(|| {
            CliError::input(
                "no place outside the project for the token (neither XDG_CONFIG_HOME nor HOME is set): save it in a file and pass --token-file",
            )
        })?;
    Ok(base.join("hivelog").join("tokens").join(file_name(server)))
}

/// One file per server: `http://127.0.0.1:8001` → `http___127.0.0.1_8001`.
fn file_name(server: &str) -> String {
    server
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The token in `path` (its first line); `None` when it holds none.
pub fn read(path: &Path) -> Result<Option<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::input(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .next()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from))
}

/// Writes `token` to `path`, readable by the user alone.
pub fn save(path: &Path, token: &str) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| {
        CliError::input(format!("cannot save the token in {}: {e}", path.display()))
    };
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // An existing file keeps its mode on open; make sure it is private.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    file.write_all(format!("{token}\n").as_bytes())
        .map_err(fail)
}
