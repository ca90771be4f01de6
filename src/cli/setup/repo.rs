//! Which project a directory belongs to, from git: every worktree of one
//! repository is one project, and two repositories are two even when
//! their directories share a name. The identity is the repository's
//! normalized `origin` URL when it has one (two clones of one remote are
//! one project), else the path of its common git directory (which every
//! worktree of it shares); a directory outside git is its own. The name
//! is readable — the repository's name — with a short hash of the
//! identity, so it is one subject token and does not collide.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a directory's project comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The project name (`app-3f2a1b`).
    pub project: String,
    /// What it was derived from: `github.com/me/app`, or a path.
    pub repository: String,
    /// The top of the worktree the directory is in (the directory itself
    /// outside git): paths are relative to it.
    pub worktree: PathBuf,
    pub in_git: bool,
}

/// Records `project` in the repository's own configuration, which all its
/// worktrees share.
pub fn record_project(dir: &Path, project: &str) -> Result<(), super::CliError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["config", "--local", "hivelog.project", project])
        .output()
        .map_err(|e| super::CliError::input(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(super::CliError::input(format!(
            "git config hivelog.project failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Runs git in `dir`; its trimmed output when it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `dir`'s repository, or `dir` itself when it is not in one (or git is
/// not installed).
pub fn of(dir: &Path) -> Repo {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let worktree = git(&dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let common = git(
        &dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .map(|p| {
        let p = PathBuf::from(p);
        p.canonicalize().unwrap_or(p)
    });
    let origin =
        git(&dir, &["config", "--get", "remote.origin.url"]).and_then(|url| normalize_url(&url));
    let (repository, readable) = match (origin, &common) {
        (Some(url), _) => {
            let name = url.rsplit('/').next().unwrap_or_default().to_string();
            (url, name)
        }
        (None, Some(common)) => {
            // `<main worktree>/.git`: name it after the main worktree.
            let main = if common.file_name().is_some_and(|n| n == ".git") {
                common.parent().unwrap_or(common)
            } else {
                common.as_path()
            };
            (main.display().to_string(), file_name(main))
        }
        (None, None) => (dir.display().to_string(), file_name(&dir)),
    };
    Repo {
        project: named(&readable, &repository, 64),
        repository,
        in_git: worktree.is_some(),
        worktree: worktree.unwrap_or(dir),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `readable` cleaned to letters, digits, `-` and `_`, then `-` and six
/// hex digits of `identity`, at most `max` characters in all.
pub fn named(readable: &str, identity: &str, max: usize) -> String {
    let hash = format!("{:06x}", crc32fast::hash(identity.as_bytes()) & 0xff_ffff);
    let mut clean: String = readable
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean_trimmed = clean.trim_matches(|c| c == '-' || c == '_').to_string();
    clean = if clean_trimmed.is_empty() {
        "project".into()
    } else {
        clean_trimmed
    };
    clean.truncate(max.saturating_sub(hash.len() + 1));
    format!("{clean}-{hash}")
}

/// `https://user@GitHub.com/me/app.git`, `git@github.com:me/app.git` and
/// `ssh://git@github.com/me/app` are all `github.com/me/app`; a local
/// path stays a path (without a trailing `.git`).
pub fn normalize_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let (host, path) = if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        // Neither the user nor the port is part of the repository's name.
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = host.split(':').next().unwrap_or(host);
        (host.to_ascii_lowercase(), path.to_string())
    } else if let Some((user_host, path)) = url.split_once(':').filter(|(h, _)| !h.contains('/')) {
        // scp-like `git@host:me/app.git`.
        let host = user_host.rsplit('@').next().unwrap_or(user_host);
        (host.to_ascii_lowercase(), path.to_string())
    } else {
        return Some(
            url.trim_end_matches('/')
                .trim_end_matches(".git")
                .to_string(),
        );
    };
    let path = path.trim_matches('/').trim_end_matches(".git");
    if host.is_empty() {
        return Some(format!("/{path}"));
    }
    Some(format!("{host}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_of_one_repository_normalize_alike() {
        for url in [
            "https://github.com/me/app.git",
            "https://user@GitHub.com/me/app",
            "git@github.com:me/app.git",
            "ssh://git@github.com:22/me/app.git",
            "https://github.com/me/app/",
        ] {
            assert_eq!(
                normalize_url(url).as_deref(),
                Some("github.com/me/app"),
                "{url}"
            );
        }
        assert_eq!(
            normalize_url("/srv/git/app.git").as_deref(),
            Some("/srv/git/app")
        );
        assert_eq!(
            normalize_url("file:///srv/git/app.git").as_deref(),
            Some("/srv/git/app")
        );
        assert_eq!(normalize_url("  "), None);
    }

    #[test]
    fn names_are_readable_tokens_that_differ_with_the_identity() {
        let a = named("my app", "/home/a/my app/.git", 64);
        let b = named("my app", "/home/b/my app/.git", 64);
        assert!(a.starts_with("my-app-"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, named("my app", "/home/a/my app/.git", 64), "stable");
        assert!(crate::coord::project::validate_project(&a).is_ok());
        let long = named(&"x".repeat(100), "id", 64);
        assert_eq!(long.len(), 64);
        assert!(named("...", "id", 64).starts_with("project-"));
        assert!(crate::coord::project::validate_project(&named("_é_", "i", 64)).is_ok());
    }
}
