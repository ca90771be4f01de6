//! Reservation paths are relative to the repository's root, so two
//! worktrees of one repository name a file alike (and conflict on it) and
//! two repositories never do. What a person or an agent types is made so
//! here, from the worktree the command runs in: an absolute path inside
//! the worktree loses the worktree's prefix; with `from`, a relative path
//! is taken from that directory (a command run in `src/` that names
//! `main.rs` means `src/main.rs`). Anything else is left as given.

use std::path::{Component, Path, PathBuf};

/// The top of the git worktree holding the current directory, and the
/// current directory (canonical); `None` outside git.
pub fn here() -> Option<(PathBuf, PathBuf)> {
    let cwd = std::env::current_dir().ok()?.canonicalize().ok()?;
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(&cwd)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let top = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    Some((top.canonicalize().unwrap_or(top), cwd))
}

/// The project `hivelog setup` recorded for the repository the current
/// directory is in (`git config hivelog.project`, shared by all its
/// worktrees); `None` outside git or where setup never ran.
pub fn configured_project() -> Option<String> {
    configured_project_in(Path::new("."))
}

/// As `configured_project`, for the repository `dir` is in.
pub fn configured_project_in(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["config", "--get", "hivelog.project"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// Every path made relative to the root of the worktree the command runs
/// in (unchanged outside git).
pub fn from_here(paths: Vec<String>) -> Vec<String> {
    match here() {
        Some((top, cwd)) => paths
            .iter()
            .map(|p| relative_to_root(&top, Some(&cwd), p))
            .collect(),
        None => paths,
    }
}

/// `path` (a file or a glob) relative to `worktree`'s root. `from` is the
/// directory a relative path was typed in, when it was not the root.
pub fn relative_to_root(worktree: &Path, from: Option<&Path>, path: &str) -> String {
    let given = Path::new(path);
    if given.is_absolute() {
        return match given.strip_prefix(worktree) {
            Ok(rest) => normalize(rest).unwrap_or_else(|| path.to_string()),
            Err(_) => path.to_string(),
        };
    }
    match from.and_then(|d| d.strip_prefix(worktree).ok()) {
        Some(prefix) if !prefix.as_os_str().is_empty() => {
            normalize(&prefix.join(given)).unwrap_or_else(|| path.to_string())
        }
        _ => path.to_string(),
    }
}

/// `a/./b/../c` → `a/c`, lexically; `None` if it climbs out of the root.
fn normalize(p: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_to_the_worktree_root() {
        let root = Path::new("/work/app-wt");
        assert_eq!(
            relative_to_root(root, None, "/work/app-wt/src/main.rs"),
            "src/main.rs"
        );
        assert_eq!(
            relative_to_root(root, None, "/work/app-wt/src/**"),
            "src/**"
        );
        assert_eq!(
            relative_to_root(root, None, "/elsewhere/x.rs"),
            "/elsewhere/x.rs"
        );
        assert_eq!(relative_to_root(root, None, "src/lib.rs"), "src/lib.rs");
        let sub = Path::new("/work/app-wt/src/api");
        assert_eq!(
            relative_to_root(root, Some(sub), "mod.rs"),
            "src/api/mod.rs"
        );
        assert_eq!(
            relative_to_root(root, Some(sub), "../main.rs"),
            "src/main.rs"
        );
        assert_eq!(relative_to_root(root, Some(sub), "./*.rs"), "src/api/*.rs");
        assert_eq!(relative_to_root(root, Some(root), "README.md"), "README.md");
        // Climbing out of the root is left for the server to judge.
        assert_eq!(
            relative_to_root(root, Some(sub), "../../../x"),
            "../../../x"
        );
        // A sibling whose name starts like the root is not inside it.
        assert_eq!(
            relative_to_root(root, None, "/work/app-wt2/a.rs"),
            "/work/app-wt2/a.rs"
        );
    }
}
