//! The crate's layers and its import graph, read from the sources: every
//! `crate::…`, `super::…` and child-module path a file names outside its
//! tests is an edge to the file that defines what it names (a `pub use`
//! re-export is followed to the file it comes from). The test fails on an
//! import from a lower layer to a higher one and on any circle between
//! files, and says which files.
//!
//! One kind of edge is not counted: a file naming its own ancestor's root
//! file (`super::Log` in `log/read.rs`). That is a file adding to the
//! type its module owns (an `impl Log` block), as Rust lays a module out
//! over files; it is the module's own inside, not a dependency between
//! two concepts. Everything else is, siblings and cousins included.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Bottom up, as DESIGN.md draws them; a module may import from its own
/// layer and the ones before it.
const LAYERS: &[&[&str]] = &[
    &["shutdown"],
    &["log"],
    &["streams"],
    &["coord"],
    &["ops"],
    &["api", "config"],
    &["cli"],
];

fn layer_of(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|l| l.contains(&top.as_str()))
}

/// One source file: its module path and its text without comments,
/// string contents and test-only code.
struct Source {
    module: Vec<String>,
    code: String,
}

/// The sources of a crate whose root is `lib.rs` in `files` (path under
/// `src/` → text). Modules declared `#[cfg(test)]` are left out.
fn modules(files: &BTreeMap<String, String>) -> Vec<Source> {
    let mut out = Vec::new();
    let mut todo = vec![(String::from("lib.rs"), Vec::<String>::new())];
    while let Some((path, module)) = todo.pop() {
        let Some(text) = files.get(&path) else {
            continue;
        };
        let code = strip(text);
        let dir = match path.as_str() {
            "lib.rs" => String::new(),
            p if p.ends_with("/mod.rs") => p.trim_end_matches("mod.rs").to_string(),
            p => format!("{}/", p.trim_end_matches(".rs")),
        };
        for child in child_modules(&code) {
            let mut m = module.clone();
            m.push(child.clone());
            for candidate in [format!("{dir}{child}.rs"), format!("{dir}{child}/mod.rs")] {
                if files.contains_key(&candidate) {
                    todo.push((candidate, m.clone()));
                }
            }
        }
        out.push(Source { module, code });
    }
    out
}

/// `mod name;` declarations of files (not inline modules), except
/// `#[cfg(test)]` ones and those with a `#[path]`.
fn child_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut attrs = String::new();
    for line in code.lines().map(str::trim) {
        if line.starts_with("#[") {
            attrs.push_str(line);
            continue;
        }
        let decl = line
            .strip_prefix("pub(crate) ")
            .or_else(|| line.strip_prefix("pub(super) "))
            .or_else(|| line.strip_prefix("pub "))
            .unwrap_or(line);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            if !attrs.contains("cfg(test)") && !attrs.contains("path =") {
                out.push(name.trim().to_string());
            }
        }
        if !line.is_empty() {
            attrs.clear();
        }
    }
    out
}

/// The code without comments, the contents of string and char literals,
/// and `#[cfg(test)]` items (an inline test module, a test-only function).
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|c| *c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            i += body
                + rest[body..]
                    .find(&close)
                    .map_or(rest.len() - body, |e| e + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && is_char_literal(rest) {
            i += rest[1..].find('\'').map_or(1, |e| e + 2);
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    drop_test_items(&out)
}

/// `'x'`, `'\n'`, `'{'`, not a lifetime (`'a`, `'static`).
fn is_char_literal(rest: &str) -> bool {
    let mut chars = rest.chars().skip(1);
    matches!(
        (chars.next(), chars.next()),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// Removes each item that follows `#[cfg(test)]`: up to its `;` or its
/// balanced `{…}`.
fn drop_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (k, c) in item[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => semi + 1,
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path the code names: each `use` tree expanded, and each
/// `crate::…`/`super::…` path elsewhere.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` statements (their trees may name child modules bare).
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        expand(&after[..end], &mut Vec::new(), &mut out);
        rest = &after[end..];
    }
    // Paths written inline.
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':'))
            && ["crate::", "super::"]
                .iter()
                .any(|p| chars[i..].iter().take(p.len()).copied().eq(p.chars()));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len()
            && (is_ident(chars[j]) || (chars[j] == ':' && chars.get(j + 1) == Some(&':')))
        {
            j += if chars[j] == ':' { 2 } else { 1 };
        }
        let text: String = chars[i..j].iter().collect();
        let segs: Vec<String> = text
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        out.push(segs);
        i = j;
    }
    out
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let at = from + at;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && after.is_some_and(char::is_whitespace) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let close = tree.rfind('}').unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let depth = prefix.len();
        prefix.extend(head);
        let mut level = 0;
        let mut start = 0;
        for (k, c) in inner.char_indices() {
            match c {
                '{' => level += 1,
                '}' => level -= 1,
                ',' if level == 0 => {
                    expand(&inner[start..k], prefix, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], prefix, out);
        prefix.truncate(depth);
    } else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        if path.is_empty() {
            return;
        }
        let mut p = prefix.clone();
        p.extend(path.split("::").map(|s| s.trim().to_string()));
        out.push(p);
    }
}

struct Graph {
    /// Module path → the names it re-exports (`pub use x::Name`) → the
    /// absolute path they come from.
    reexports: HashMap<Vec<String>, HashMap<String, Vec<String>>>,
    modules: BTreeSet<Vec<String>>,
}

impl Graph {
    /// `path` as named in `module`, made absolute: `crate::`, `super::`,
    /// `self::`, or a child module's name.
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String> = module.to_vec();
        let mut rest = path;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                let mut child = module.to_vec();
                child.push(first.to_string());
                if !self.modules.contains(&child) {
                    return None; // an external crate or a local name
                }
            }
            None => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module that defines what `path` (absolute) names.
    fn target(&self, path: &[String], hops: usize) -> Vec<String> {
        let mut module: Vec<String> = Vec::new();
        for seg in path {
            let mut next = module.clone();
            next.push(seg.clone());
            if self.modules.contains(&next) {
                module = next;
                continue;
            }
            if let Some(from) = self.reexports.get(&module).and_then(|r| r.get(seg)) {
                if hops < 8 {
                    return self.target(from, hops + 1);
                }
            }
            break;
        }
        module
    }
}

/// Each file's imports (module → modules it uses, itself excluded).
fn edges(sources: &[Source]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut graph = Graph {
        reexports: HashMap::new(),
        modules: sources.iter().map(|s| s.module.clone()).collect(),
    };
    for s in sources {
        let mut names = HashMap::new();
        let mut rest = s.code.as_str();
        while let Some(at) = rest.find("pub use ") {
            let after = &rest[at + 8..];
            let end = after.find(';').unwrap_or(after.len());
            let mut found = Vec::new();
            expand(&after[..end], &mut Vec::new(), &mut found);
            for p in found {
                if let (Some(abs), Some(last)) = (graph.absolute(&s.module, &p), p.last()) {
                    let alias = after[..end]
                        .split(" as ")
                        .nth(1)
                        .filter(|_| !after[..end].contains('{'))
                        .map(|a| a.trim().to_string())
                        .unwrap_or_else(|| last.clone());
                    names.insert(alias, abs);
                }
            }
            rest = &after[end..];
        }
        graph.reexports.insert(s.module.clone(), names);
    }
    let mut out = BTreeMap::new();
    for s in sources {
        let mut to = BTreeSet::new();
        for p in paths(&s.code) {
            if let Some(abs) = graph.absolute(&s.module, &p) {
                let t = graph.target(&abs, 0);
                if !s.module.starts_with(&t) {
                    to.insert(t);
                }
            }
        }
        out.insert(s.module.clone(), to);
    }
    out
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// Imports from a lower layer to a higher one, as "a -> b".
fn upward(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    let mut out = Vec::new();
    for (from, tos) in edges {
        for to in tos {
            if let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) {
                if b > a {
                    out.push(format!("{} -> {}", name(from), name(to)));
                }
            }
        }
    }
    out
}

/// The circles: strongly connected groups of more than one file (Tarjan).
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: HashMap<&'a [String], usize>,
        low: HashMap<&'a [String], usize>,
        stack: Vec<&'a [String]>,
        on_stack: BTreeSet<&'a [String]>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a [String]) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_slice();
            if !edges.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(name(w));
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_slice()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).expect("readable"));
        }
    }
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn the_crate_has_no_upward_import_and_no_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_tree(&root, &root, &mut files);
    let sources = modules(&files);
    assert!(
        sources.len() > 100,
        "the walk from lib.rs found only {} files",
        sources.len()
    );
    for s in &sources {
        if !s.module.is_empty() {
            assert!(
                layer_of(&s.module).is_some(),
                "{} belongs to no layer: add its top module to LAYERS",
                name(&s.module)
            );
        }
    }
    let edges = edges(&sources);
    let up = upward(&edges);
    let circles = circles(&edges);
    assert!(
        up.is_empty() && circles.is_empty(),
        "imports from a lower layer to a higher one:\n  {}\ncircles between files:\n  {}",
        up.join("\n  "),
        circles
            .iter()
            .map(|c| c.join(" <-> "))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

// The checker itself, on small made-up crates.

#[test]
fn an_upward_import_is_found_through_a_reexport_and_a_use_group() {
    let files = tree(&[
        ("lib.rs", "pub mod log;\npub mod coord;\n"),
        ("log/mod.rs", "mod read;\npub use read::Reader;\n"),
        (
            "log/read.rs",
            "use crate::{coord::{Task}, log::x};\npub struct Reader;\n",
        ),
        (
            "coord/mod.rs",
            "pub use crate::log::Reader;\npub struct Task;\n",
        ),
    ]);
    let e = edges(&modules(&files));
    assert_eq!(upward(&e), vec!["log::read -> coord".to_string()]);
    // log::read -> log (its own root) is not counted; coord -> log::read
    // (through the re-export) and log::read -> coord make the circle.
    assert_eq!(
        circles(&e),
        vec![vec!["coord".to_string(), "log::read".to_string()]]
    );
}

#[test]
fn a_circle_through_super_and_a_child_module_is_found_and_tests_are_not_counted() {
    let files = tree(&[
        ("lib.rs", "pub mod coord;\n"),
        ("coord/mod.rs", "mod a;\nmod b;\n#[cfg(test)]\nmod tests;\nuse a::One;\n"),
        ("coord/a.rs", "pub struct One(super::b::Two);\n#[cfg(test)]\nmod t { use crate::coord::b::Two; }\n"),
        ("coord/b.rs", "// use super::a::One;\nlet s = \"crate::coord::a\";\npub struct Two;\nfn f() -> super::a::One { todo!() }\n"),
        ("coord/tests.rs", "use super::a::One;\n"),
    ]);
    let sources = modules(&files);
    assert_eq!(sources.len(), 4, "the test-only module is not walked");
    let e = edges(&sources);
    assert!(upward(&e).is_empty());
    assert_eq!(
        circles(&e),
        vec![vec!["coord::a".to_string(), "coord::b".to_string()]]
    );
    let quiet = tree(&[
        ("lib.rs", "pub mod coord;\n"),
        ("coord/mod.rs", "mod a;\nmod b;\n"),
        (
            "coord/a.rs",
            "use super::b::Two;\n#[cfg(test)]\nmod t { use super::super::a::x; }\n",
        ),
        (
            "coord/b.rs",
            "// use super::a::One;\nconst S: &str = \"super::a::One\";\nconst C: char = '{';\n",
        ),
    ]);
    assert!(circles(&edges(&modules(&quiet))).is_empty());
}

/// `json!` uses outside tests per file of the surfaces (api, cli).
fn json_macros(files: &BTreeMap<String, String>) -> Vec<(String, usize)> {
    modules(files)
        .into_iter()
        .filter(|s| matches!(s.module.first().map(String::as_str), Some("api" | "cli")))
        .map(|s| (name(&s.module), s.code.matches("json!").count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The surfaces build their answers and requests from types (`ops`), not
/// from `json!`: what the API sends and what the CLI reads back cannot
/// drift apart. Free-form payloads may still need a few.
#[test]
fn the_surfaces_build_answers_from_types_not_json_macros() {
    const ALLOWED: usize = 15;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_tree(&root, &root, &mut files);
    let found = json_macros(&files);
    let total: usize = found.iter().map(|(_, n)| n).sum();
    assert!(
        total <= ALLOWED,
        "{total} json! outside tests in api and cli (at most {ALLOWED}): {found:?}"
    );
}

#[test]
fn json_macros_are_counted_in_surface_code_only() {
    let files = tree(&[
        ("lib.rs", "pub mod api;\npub mod coord;"),
        (
            "api/mod.rs",
            "fn a() -> V { json!({\"x\": 1}) }\n#[cfg(test)]\nmod tests { fn t() { json!(1); } }",
        ),
        ("coord/mod.rs", "fn c() { json!(2); }"),
    ]);
    assert_eq!(json_macros(&files), vec![("api".to_string(), 1)]);
}
