//! Subjects and subject patterns: validation, matching, overlap, and a
//! token trie that finds every pattern matching a subject without scanning
//! all of them.
//!
//! A subject is a dot-separated list of non-empty tokens (`mjwork.tasks`).
//! A pattern may also use `*` (exactly one token) and `>` (one or more
//! tokens, last position only), as in NATS.

use std::collections::HashMap;

use super::error::LogError;

/// The longest subject we accept, in bytes. NATS has no hard limit, but a
/// bound keeps index keys small and rejects garbage early.
pub const MAX_SUBJECT_LEN: usize = 512;

/// Checks a literal subject (no wildcards), as used for publishing.
pub fn validate_subject(subject: &str) -> Result<(), LogError> {
    check_tokens(subject, false)
}

/// Checks a subject pattern (wildcards allowed), as used by streams,
/// consumers and subscriptions.
pub fn validate_pattern(pattern: &str) -> Result<(), LogError> {
    check_tokens(pattern, true)
}

fn check_tokens(text: &str, wildcards: bool) -> Result<(), LogError> {
    let invalid = |reason: String| LogError::InvalidSubject {
        subject: text.chars().take(80).collect(),
        reason,
    };
    if text.is_empty() {
        return Err(invalid("subject is empty".into()));
    }
    if text.len() > MAX_SUBJECT_LEN {
        return Err(invalid(format!(
            "subject is {} bytes long; the limit is {MAX_SUBJECT_LEN}",
            text.len()
        )));
    }
    let tokens: Vec<&str> = text.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(invalid(format!(
                "token {} is empty (two dots, or a leading or trailing dot)",
                i + 1
            )));
        }
        if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!("token {} contains the character {c:?}; whitespace and control characters are not allowed", i + 1)));
        }
        let is_wild = *token == "*" || *token == ">";
        if is_wild && !wildcards {
            return Err(invalid(format!(
                "token {} is the wildcard {token:?}; wildcards are only allowed in patterns, not when publishing",
                i + 1
            )));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err(invalid("'>' may only be the last token".into()));
        }
        if !is_wild && (token.contains('*') || token.contains('>')) {
            return Err(invalid(format!(
                "token {} ({token:?}) mixes a wildcard with other characters; '*' and '>' must be whole tokens",
                i + 1
            )));
        }
    }
    Ok(())
}

/// True when `pattern` has no wildcard token.
/// What every subject `pattern` matches starts with: its tokens before the
/// first wildcard, with the dot after them (`a.b.*` → `a.b.`; `*.x` → ``).
pub fn literal_prefix(pattern: &str) -> &str {
    let mut end = 0;
    for token in pattern.split('.') {
        if token == "*" || token == ">" {
            return &pattern[..end];
        }
        end = (end + token.len() + 1).min(pattern.len());
    }
    pattern
}

pub fn is_literal(pattern: &str) -> bool {
    pattern.split('.').all(|t| t != "*" && t != ">")
}

/// Does the literal `subject` match `pattern`?
///
/// ```
/// use hivelog::log::subject::matches;
/// assert!(matches("mjwork.>", "mjwork.heartbeat.alice"));
/// assert!(matches("mjwork.*", "mjwork.tasks"));
/// assert!(!matches("mjwork.*", "mjwork.heartbeat.alice"));
/// ```
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for p in pattern.split('.') {
        match p {
            ">" => return subject_tokens.next().is_some(),
            "*" => {
                if subject_tokens.next().is_none() {
                    return false;
                }
            }
            literal => {
                if subject_tokens.next() != Some(literal) {
                    return false;
                }
            }
        }
    }
    subject_tokens.next().is_none()
}

/// Could some subject match both patterns? Used to keep streams from
/// capturing the same subjects.
pub fn overlaps(a: &str, b: &str) -> bool {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (None, None) => return true,
            // `>` needs at least one token on the other side, which any
            // remaining token (literal or `*`) or another `>` provides.
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(x), Some(y)) => {
                if *x != "*" && *y != "*" && x != y {
                    return false;
                }
            }
        }
        i += 1;
    }
}

/// Maps patterns to values and finds all values whose pattern matches a
/// subject by walking the subject's tokens, so the cost depends on the
/// subject's length and the number of matches, not on the number of
/// patterns stored.
#[derive(Debug)]
pub struct SubjectTrie<T> {
    root: Node<T>,
    len: usize,
}

#[derive(Debug)]
struct Node<T> {
    literal: HashMap<Box<str>, Node<T>>,
    star: Option<Box<Node<T>>>,
    /// Values whose pattern ends at this node with `>`.
    rest: Vec<T>,
    /// Values whose pattern ends exactly at this node.
    here: Vec<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: HashMap::new(),
            star: None,
            rest: Vec::new(),
            here: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.star.is_none()
            && self.rest.is_empty()
            && self.here.is_empty()
    }
}

impl<T> Default for SubjectTrie<T> {
    fn default() -> Self {
        SubjectTrie {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<T: PartialEq> SubjectTrie<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `value` under an already validated `pattern`.
    pub fn insert(&mut self, pattern: &str, value: T) {
        let mut node = &mut self.root;
        for token in pattern.split('.') {
            match token {
                ">" => {
                    node.rest.push(value);
                    self.len += 1;
                    return;
                }
                "*" => node = node.star.get_or_insert_with(Default::default),
                literal => node = node.literal.entry(literal.into()).or_default(),
            }
        }
        node.here.push(value);
        self.len += 1;
    }

    /// Removes one `value` stored under `pattern`; true if it was there.
    pub fn remove(&mut self, pattern: &str, value: &T) -> bool {
        let tokens: Vec<&str> = pattern.split('.').collect();
        let removed = remove_in(&mut self.root, &tokens, value);
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Calls `f` for every value whose pattern matches the literal `subject`.
    pub fn for_each_match<'a>(&'a self, subject: &str, mut f: impl FnMut(&'a T)) {
        let tokens: Vec<&str> = subject.split('.').collect();
        visit(&self.root, &tokens, &mut f);
    }

    /// The values whose pattern matches `subject`.
    pub fn matches(&self, subject: &str) -> Vec<&T> {
        let mut out = Vec::new();
        self.for_each_match(subject, |v| out.push(v));
        out
    }
}

fn visit<'a, T>(node: &'a Node<T>, tokens: &[&str], f: &mut impl FnMut(&'a T)) {
    let Some((first, rest)) = tokens.split_first() else {
        node.here.iter().for_each(&mut *f);
        return;
    };
    node.rest.iter().for_each(&mut *f);
    if let Some(child) = node.literal.get(*first) {
        visit(child, rest, f);
    }
    if let Some(child) = &node.star {
        visit(child, rest, f);
    }
}

fn remove_in<T: PartialEq>(node: &mut Node<T>, tokens: &[&str], value: &T) -> bool {
    let take = |list: &mut Vec<T>| match list.iter().position(|v| v == value) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    };
    let Some((first, rest)) = tokens.split_first() else {
        return take(&mut node.here);
    };
    match *first {
        ">" => take(&mut node.rest),
        "*" => {
            let Some(child) = node.star.as_deref_mut() else {
                return false;
            };
            let removed = remove_in(child, rest, value);
            if child.is_empty() {
                node.star = None;
            }
            removed
        }
        literal => {
            let Some(child) = node.literal.get_mut(literal) else {
                return false;
            };
            let removed = remove_in(child, rest, value);
            if child.is_empty() {
                node.literal.remove(literal);
            }
            removed
        }
    }
}

#[cfg(test)]
mod tests;
