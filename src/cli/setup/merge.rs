//! How `setup` changes a harness's files: it finds what it wrote before
//! and replaces exactly that, leaving everything else as it was. Its own
//! entries are marked by what they are: the `hivelog` entry of an MCP
//! server list, hook commands that run hivelog's `inbox`, and the
//! instructions between `<!-- hivelog:begin -->` and `<!-- hivelog:end -->`.
//! An entry already as wanted stays where it is, so a second run with the
//! same arguments changes nothing.

use serde_json::Value;

use super::super::client::CliError;

pub const MARK_BEGIN: &str = "<!-- hivelog:begin -->";
pub const MARK_END: &str = "<!-- hivelog:end -->";

/// Whether a hook command is one setup wrote: it runs a program named
/// `hivelog` (on PATH or by path, quoted or not) with `inbox`.
pub fn is_our_command(command: &str) -> bool {
    let command = command.trim_start();
    // The program is one shell word, quoted when its path has spaces.
    let (program, rest) = match command.chars().next() {
        Some(q @ ('\'' | '"')) => match command[1..].find(q) {
            Some(end) => (&command[1..=end], &command[end + 2..]),
            None => return false,
        },
        _ => command
            .split_once(char::is_whitespace)
            .unwrap_or((command, "")),
    };
    let name = program.rsplit('/').next().unwrap_or("");
    name == "hivelog" && rest.split_whitespace().any(|w| w == "inbox")
}

fn object<'a>(
    v: &'a mut Value,
    what: &str,
) -> Result<&'a mut serde_json::Map<String, Value>, CliError> {
    v.as_object_mut()
        .ok_or_else(|| CliError::input(format!("{what} is not a JSON object")))
}

/// `mcpServers.hivelog = entry`, keeping the other servers.
pub fn with_server(mut doc: Value, entry: &McpServer) -> Result<Value, CliError> {
    let entry = serde_json::to_value(entry)
        .map_err(|e| CliError::input(format!("cannot write the MCP entry: {e}")))?;
    let servers = object(&mut doc, "the MCP config")?
        .entry("mcpServers")
        .or_insert_with(empty);
    object(servers, "mcpServers")?.insert("hivelog".into(), entry);
    Ok(doc)
}

/// An empty JSON object, for a key a harness's file does not have yet.
pub fn empty() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Our entry in a JSON MCP config (`mcpServers.hivelog`).
#[derive(serde::Serialize)]
pub struct McpServer<'a> {
    pub command: &'a str,
    pub args: [&'a str; 3],
    pub env: std::collections::BTreeMap<&'a str, String>,
}

/// A hook as Claude Code and Codex group them, and as Cursor lists them.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Hook<'a> {
    Grouped { hooks: [Command<'a>; 1] },
    Flat { command: &'a str },
}

#[derive(serde::Serialize)]
struct Command<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    command: &'a str,
    timeout: u32,
}

/// Where a hooks file keeps a hook's command: Claude Code and Codex nest
/// commands in groups (`{"hooks": [{"type": "command", "command"}]}`),
/// Cursor lists them directly (`{"command"}`).
#[derive(Clone, Copy)]
pub enum HookShape {
    Grouped,
    Flat,
}

impl HookShape {
    fn entry(self, command: &str) -> Value {
        let hook = match self {
            HookShape::Grouped => Hook::Grouped {
                hooks: [Command {
                    kind: "command",
                    command,
                    timeout: 10,
                }],
            },
            HookShape::Flat => Hook::Flat { command },
        };
        serde_json::to_value(hook).unwrap_or_default()
    }

    /// `list` without the hooks setup wrote (a group left empty goes too).
    fn without_ours(self, list: &[Value]) -> Vec<Value> {
        let ours = |h: &Value| h["command"].as_str().is_some_and(is_our_command);
        list.iter()
            .filter_map(|entry| match self {
                HookShape::Flat => (!ours(entry)).then(|| entry.clone()),
                HookShape::Grouped => {
                    let Some(inner) = entry["hooks"].as_array() else {
                        return Some(entry.clone());
                    };
                    let kept: Vec<Value> = inner.iter().filter(|h| !ours(h)).cloned().collect();
                    if kept.len() == inner.len() {
                        Some(entry.clone())
                    } else if kept.is_empty() {
                        None
                    } else {
                        let mut entry = entry.clone();
                        entry["hooks"] = Value::Array(kept);
                        Some(entry)
                    }
                }
            })
            .collect()
    }
}

/// The hooks file with `command` under each of `events` and no other hook
/// setup wrote, in any event.
pub fn with_hooks(
    mut doc: Value,
    shape: HookShape,
    events: &[&str],
    command: &str,
) -> Result<Value, CliError> {
    let hooks = object(&mut doc, "the hooks file")?
        .entry("hooks")
        .or_insert_with(empty);
    let hooks = object(hooks, "hooks")?;
    let wanted = shape.entry(command);
    let names: Vec<String> = hooks.keys().cloned().collect();
    for name in names
        .iter()
        .map(String::as_str)
        .chain(events.iter().copied())
    {
        let list = match hooks.get(name) {
            Some(Value::Array(list)) => list.clone(),
            Some(_) => {
                return Err(CliError::input(format!("hooks.{name} is not a list")));
            }
            None => Vec::new(),
        };
        let kept = shape.without_ours(&list);
        let mine = events.contains(&name);
        // Already exactly as wanted: leave it where it is.
        if mine && list.len() == kept.len() + 1 && list.contains(&wanted) {
            continue;
        }
        let mut next = kept;
        if mine {
            next.push(wanted.clone());
        }
        if next.is_empty() && !list.is_empty() {
            hooks.remove(name);
        } else if next != list {
            hooks.insert(name.to_string(), Value::Array(next));
        }
    }
    Ok(doc)
}

/// `text` with setup's instructions block replaced by `block` (appended
/// when there is none).
pub fn with_block(text: &str, block: &str) -> String {
    if let (Some(start), Some(end)) = (text.find(MARK_BEGIN), text.find(MARK_END)) {
        if start < end {
            let mut end = end + MARK_END.len();
            if text[end..].starts_with('\n') {
                end += 1;
            }
            return format!("{}{block}{}", &text[..start], &text[end..]);
        }
    }
    let sep = if text.is_empty() || text.ends_with("\n\n") {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{text}{sep}{block}")
}

/// Codex's `config.toml` with `[mcp_servers.hivelog]` set to `server`
/// (replacing what was there) and no `codex_hooks = true` (a deprecated
/// alias: hooks are on by default; earlier versions of setup wrote it).
/// Comments and everything else stay as written.
pub fn with_codex_server(text: &str, server: toml_edit::Table) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or("mcp_servers is not a table")?;
    let unchanged = servers
        .get("hivelog")
        .and_then(|t| t.as_table())
        .is_some_and(|t| t.to_string() == server.to_string());
    if !unchanged {
        servers.insert("hivelog", toml_edit::Item::Table(server));
    }
    if let Some(features) = doc.get_mut("features").and_then(|f| f.as_table_mut()) {
        if features.get("codex_hooks").and_then(|v| v.as_bool()) == Some(true) {
            features.remove("codex_hooks");
            if features.is_empty() {
                doc.remove("features");
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn our_hook_commands_are_told_from_others() {
        assert!(is_our_command(
            "hivelog --server http://x inbox --agent a --ack"
        ));
        assert!(is_our_command("'/opt/my tools/hivelog' inbox --agent a"));
        assert!(is_our_command(
            "/usr/local/bin/hivelog --server u inbox --agent b --format cursor-stop"
        ));
        assert!(!is_our_command("say done"));
        assert!(!is_our_command("hivelog-notify inbox"));
        assert!(!is_our_command("hivelog status"));
    }

    #[test]
    fn a_rerun_replaces_our_hooks_and_keeps_the_others() {
        let doc = json!({"hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
            "SessionStart": [{"hooks": [
                {"type": "command", "command": "hivelog inbox --agent old --ack"},
                {"type": "command", "command": "echo hi"},
            ]}],
            "PreCompact": [{"hooks": [{"type": "command", "command": "hivelog inbox --agent old"}]}],
        }});
        let events = ["SessionStart", "UserPromptSubmit"];
        let cmd = "hivelog inbox --agent new --ack";
        let doc = with_hooks(doc, HookShape::Grouped, &events, cmd).unwrap();
        let hooks = &doc["hooks"];
        assert_eq!(hooks["Stop"][0]["hooks"][0]["command"], "say done");
        assert_eq!(
            hooks["SessionStart"][0]["hooks"],
            json!([{"type": "command", "command": "echo hi"}])
        );
        assert_eq!(hooks["SessionStart"][1]["hooks"][0]["command"], cmd);
        assert_eq!(hooks["UserPromptSubmit"].as_array().unwrap().len(), 1);
        assert!(hooks.get("PreCompact").is_none(), "{doc}");
        let again = with_hooks(doc.clone(), HookShape::Grouped, &events, cmd).unwrap();
        assert_eq!(again, doc, "a second run changes nothing");
    }

    #[test]
    fn the_instructions_block_is_replaced_in_place() {
        let old = format!("# Rules\n\n{MARK_BEGIN}\nold agent\n{MARK_END}\n\n## More\n");
        let new = format!("{MARK_BEGIN}\nnew agent\n{MARK_END}\n");
        let text = with_block(&old, &new);
        assert_eq!(text, format!("# Rules\n\n{new}\n## More\n"));
        assert_eq!(with_block(&text, &new), text);
        assert_eq!(with_block("# Rules\n", &new), format!("# Rules\n\n{new}"));
    }

    #[test]
    fn codex_config_keeps_comments_and_loses_the_deprecated_flag() {
        let old = "# mine\nmodel = \"o4\"\n\n[mcp_servers.hivelog]\ncommand = \"hivelog\"\nargs = [\"mcp\", \"--agent\", \"old\"]\n\n[features]\ncodex_hooks = true\n";
        let mut server = toml_edit::Table::new();
        server.insert("command", toml_edit::value("hivelog"));
        let text = with_codex_server(old, server.clone()).unwrap();
        assert!(text.starts_with("# mine\nmodel = \"o4\"\n"), "{text}");
        assert!(
            !text.contains("old") && !text.contains("codex_hooks"),
            "{text}"
        );
        assert_eq!(with_codex_server(&text, server).unwrap(), text);
    }
}
