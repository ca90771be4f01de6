//! Who may call: tokens with roles. `--token` is one `admin` token; a
//! tokens file (`--tokens-file`, TOML) holds any number, each with a role
//! and, for `--strict-agents`, the agent ids it may act as. The file is
//! read at start and again on SIGHUP, so tokens rotate without a restart;
//! a file that does not parse on reload is reported and the previous
//! tokens stay. Tokens themselves are never logged: only their names.
//!
//! ```toml
//! [[tokens]]
//! name = "ci"            # what logs and errors call it
//! token = "…"            # at least 16 characters
//! role = "agent"         # admin | agent | read
//! agents = ["builder"]   # with --strict-agents: the agent ids it may act as
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// What a token may do. Ordered: each role can do what the ones before it
/// can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GET and subscribe.
    Read,
    /// Also the agent routes, publish, MCP.
    Agent,
    /// Everything: stream and consumer admin, pause, agent removal, …
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
}

/// The caller a request was authenticated as.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// With --strict-agents: the agent ids this caller may act as (`None`:
    /// any).
    pub agents: Option<Vec<String>>,
}

impl Caller {
    /// Everything allowed (no token configured).
    pub fn anyone() -> Caller {
        Caller {
            name: "anyone".into(),
            role: Role::Admin,
            agents: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    token: String,
    role: Role,
    #[serde(default)]
    agents: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tokens: Vec<Entry>,
}

const MIN_TOKEN: usize = 16;

#[derive(Debug, Default)]
struct Table {
    entries: Vec<(Vec<u8>, Caller)>,
}

/// The tokens in force.
#[derive(Debug, Default)]
pub struct Tokens {
    table: RwLock<Arc<Table>>,
    /// `--token`: always an admin token, kept across reloads.
    single: Option<String>,
    file: Option<PathBuf>,
    pub strict_agents: bool,
}

/// Compares without stopping at the first difference, so the answer time
/// does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_file(path: &Path) -> Result<Vec<(Vec<u8>, Caller)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read tokens file {}: {e}", path.display()))?;
    let file: File =
        toml::from_str(&text).map_err(|e| format!("tokens file {}: {e}", path.display()))?;
    let mut out: Vec<(Vec<u8>, Caller)> = Vec::new();
    for (i, e) in file.tokens.into_iter().enumerate() {
        let name = e.name.unwrap_or_else(|| format!("token #{}", i + 1));
        if e.token.chars().count() < MIN_TOKEN {
            return Err(format!(
                "tokens file {}: {name} is shorter than {MIN_TOKEN} characters",
                path.display()
            ));
        }
        if out.iter().any(|(t, _)| same(t, e.token.as_bytes())) {
            return Err(format!(
                "tokens file {}: {name} repeats another entry's token",
                path.display()
            ));
        }
        out.push((
            e.token.into_bytes(),
            Caller {
                name,
                role: e.role,
                agents: e.agents,
            },
        ));
    }
    Ok(out)
}

impl Tokens {
    /// No token at all: every request is allowed.
    pub fn open() -> Tokens {
        Tokens::default()
    }

    pub fn new(
        single: Option<&str>,
        file: Option<&Path>,
        strict_agents: bool,
    ) -> Result<Tokens, String> {
        let tokens = Tokens {
            table: RwLock::default(),
            single: single.filter(|t| !t.is_empty()).map(String::from),
            file: file.map(Path::to_path_buf),
            strict_agents,
        };
        tokens.reload()?;
        Ok(tokens)
    }

    /// Reads the tokens file again (the `--token` stays). On error the
    /// tokens in force are kept.
    pub fn reload(&self) -> Result<usize, String> {
        let mut entries = match &self.file {
            Some(path) => parse_file(path)?,
            None => Vec::new(),
        };
        if let Some(t) = &self.single {
            entries.push((
                t.clone().into_bytes(),
                Caller {
                    name: "--token".into(),
                    role: Role::Admin,
                    agents: None,
                },
            ));
        }
        let n = entries.len();
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Table { entries });
        Ok(n)
    }

    /// True when requests need a token.
    pub fn required(&self) -> bool {
        !self.snapshot().entries.is_empty()
    }

    fn snapshot(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The caller `token` stands for, if it is one of ours. Every entry is
    /// compared, so timing does not tell which one nearly matched.
    pub fn check(&self, token: &str) -> Option<Caller> {
        let table = self.snapshot();
        let mut found = None;
        for (t, caller) in &table.entries {
            if same(t, token.as_bytes()) && found.is_none() {
                found = Some(caller.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_give_roles_and_reload_keeps_the_old_tokens_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(
            &path,
            "[[tokens]]\nname = \"ci\"\ntoken = \"aaaaaaaaaaaaaaaa\"\nrole = \"agent\"\nagents = [\"builder\"]\n\n[[tokens]]\ntoken = \"rrrrrrrrrrrrrrrr\"\nrole = \"read\"\n",
        )
        .unwrap();
        let tokens = Tokens::new(Some("admin-token"), Some(&path), true).unwrap();
        let ci = tokens.check("aaaaaaaaaaaaaaaa").unwrap();
        assert_eq!((ci.name.as_str(), ci.role), ("ci", Role::Agent));
        assert_eq!(ci.agents, Some(vec!["builder".to_string()]));
        assert_eq!(tokens.check("rrrrrrrrrrrrrrrr").unwrap().role, Role::Read);
        assert_eq!(tokens.check("admin-token").unwrap().role, Role::Admin);
        assert!(
            tokens.check("aaaaaaaaaaaaaaa").is_none(),
            "a prefix is not the token"
        );
        std::fs::write(&path, "[[tokens]]\ntoken = \"short\"\nrole = \"admin\"\n").unwrap();
        let err = tokens.reload().unwrap_err();
        assert!(err.contains("shorter than 16"), "{err}");
        assert!(
            tokens.check("aaaaaaaaaaaaaaaa").is_some(),
            "old tokens stay"
        );
        std::fs::write(
            &path,
            "[[tokens]]\ntoken = \"bbbbbbbbbbbbbbbb\"\nrole = \"admin\"\n",
        )
        .unwrap();
        assert_eq!(tokens.reload().unwrap(), 2);
        assert!(tokens.check("aaaaaaaaaaaaaaaa").is_none(), "rotated out");
        assert!(tokens.check("bbbbbbbbbbbbbbbb").is_some());
        assert!(Role::Read < Role::Agent && Role::Agent < Role::Admin);
    }
}
