//! Where the token setup's files authenticate with lives. A token given
//! to setup (`--token`, HIVELOG_TOKEN) goes into a file of its own under
//! the user's configuration directory, mode 0600, never into the project
//! (whose files get committed); the files setup writes name that file. A
//! `--token-file` given to setup is named as it is, with a warning when it
//! lies inside the project and git does not ignore it.

use std::path::{Path, PathBuf};

use super::super::client::CliError;
use super::super::Conn;

/// The token file the harness's files should name, if any; writes it
/// (unless `dry_run`) when setup was given the token itself.
pub fn file_for(conn: &Conn, project: &Path, dry_run: bool) -> Result<Option<String>, CliError> {
    if let Some(token) = conn.token.as_deref().filter(|t| !t.is_empty()) {
        let path = config_dir()?
            .join("hivelog")
            .join("tokens")
            .join(file_name(&conn.server));
        if dry_run {
            println!(
                "--- {} (would save the token here, mode 0600)",
                path.display()
            );
        } else {
            save(&path, token)?;
            println!(
                "saved the token for {} in {} (outside the project; the MCP server and hooks read it from there)",
                conn.server,
                path.display()
            );
        }
        return Ok(Some(text(&path)?));
    }
    let Some(given) = &conn.token_file else {
        return Ok(None);
    };
    let path = given.canonicalize().map_err(|e| {
        CliError::input(format!(
            "cannot read the token file {}: {e}",
            given.display()
        ))
    })?;
    let inside = project.canonicalize().is_ok_and(|p| path.starts_with(p));
    if inside && !git_ignores(project, &path) {
        eprintln!(
            "warning: the token file {} is inside the project and git does not ignore it: it would be committed with the project. Add it to .gitignore, or keep it outside the project.",
            path.display()
        );
    }
    Ok(Some(text(&path)?))
}

fn text(path: &Path) -> Result<String, CliError> {
    path.to_str().map(String::from).ok_or_else(|| {
        CliError::input(format!(
            "the token file's path {} is not UTF-8",
            path.display()
        ))
    })
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_dir() -> Result<PathBuf, CliError> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("XDG_CONFIG_HOME")
        .or_else(|| from("HOME").map(|h| h.join(".config")))
        .ok_or_else(|| {
            CliError::input(
                "no place outside the project for the token (neither XDG_CONFIG_HOME nor HOME is set): save it in a file and pass --token-file",
            )
        })
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

fn save(path: &Path, token: &str) -> Result<(), CliError> {
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

/// Whether git ignores `path` in `project` (false when git cannot say).
fn git_ignores(project: &Path, path: &Path) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(project)
        .args(["check-ignore", "-q", "--"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
