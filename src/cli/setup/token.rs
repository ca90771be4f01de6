//! Where the token setup's files authenticate with lives. A token given
//! to setup (`--token`, HIVELOG_TOKEN) goes into a file of its own under
//! the user's configuration directory, mode 0600, never into the project
//! (whose files get committed); the files setup writes name that file. A
//! `--token-file` given to setup is named as it is, with a warning when it
//! lies inside the project and git does not ignore it.

use std::path::Path;

use super::super::client::CliError;
use super::super::{tokens, Conn};

/// The token file the harness's files should name, if any: the one
/// setup saves (unless `dry_run`) when it is given the token itself, a
/// `--token-file`, or the one an earlier setup saved for this server.
pub fn file_for(conn: &Conn, project: &Path, dry_run: bool) -> Result<Option<String>, CliError> {
    if let Some(token) = conn.token.as_deref().filter(|t| !t.is_empty()) {
        let path = tokens::saved_path(&conn.server)?;
        if dry_run {
            println!(
                "--- {} (would save the token here, mode 0600)",
                path.display()
            );
        } else {
            tokens::save(&path, token)?;
            println!(
                "saved the token for {} in {} (outside the project; the MCP server and hooks read it from there)",
                conn.server,
                path.display()
            );
        }
        return Ok(Some(text(&path)?));
    }
    let Some(given) = &conn.token_file else {
        // Set up again without the token: keep using the one saved.
        let saved = tokens::saved_path(&conn.server)
            .ok()
            .filter(|p| p.is_file());
        return saved.map(|p| text(&p)).transpose();
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
