//! The import graph of `src/` keeps one direction: each top-level module may use only the
//! modules below it in [`LAYERS`], and no files import each other in a circle. Read from the
//! source text (`use` lines and `crate::`/`super::` paths), so it runs without building the
//! graph any other way: `cargo test --test layers`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may use only modules listed before it.
const LAYERS: &[&str] = &[
    "text",      // shared text rules (folding for search, random tokens, times as text)
    "config",    // typed settings
    "telemetry", // logging set-up
    "memory",    // malloc trimming
    "metrics",   // the Prometheus registry of one instance
    "mail",      // outgoing email over SMTP
    "db",        // connections, schema, migrations
    "audit",     // the append-only log
    "events",    // the webhook outbox, written in the transaction of each change
    "accounts",  // users, workspaces, roles, sessions
    "keys",      // the key domain: operations, queries, pure types
    "webhooks",  // endpoints, signing, and delivering the outbox
    "lifecycle", // scheduled rules: expiry reminders, unused keys
    "state",     // what console handlers share
    "web",       // HTTP pieces shared by the console and the verifier
    "verifier",  // the machine side
    "manage",    // the management API for scripts
    "console",   // the admin pages
    "startup",   // builds the application
    "admin",     // `keyward admin …`
    "cli",       // the command line
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/` but the binary's `main.rs` and `lib.rs`, as its module path
/// (`console/api_keys/create.rs` → `["console", "api_keys", "create"]`).
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src_dir(), &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src_dir()).unwrap().with_extension("");
        let mut path: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if path == ["main"] || path == ["lib"] {
            continue;
        }
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        out.insert(path, std::fs::read_to_string(&file).unwrap());
    }
    out
}

/// The code without comments and string literals (so a path in a doc comment is no import).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    // Unit tests may reach anywhere in the crate; only the code they test counts.
    match out.find("#[cfg(test)]\nmod tests") {
        Some(i) => out[..i].to_owned(),
        None => out,
    }
}

/// The paths a file names: `use` trees expanded (`a::{b, c::d}` → `a::b`, `a::c::d`) and
/// inline `crate::…`/`super::…` paths.
fn named_paths(code: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head = format!("{prefix}{}", &tree[..open]);
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&head, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&head, &inner[start..], out);
        } else if !tree.is_empty() {
            out.push(format!("{prefix}{tree}").split(" as ").next().unwrap().trim().to_owned());
        }
    }
    let mut out = Vec::new();
    let flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
    for stmt in flat.split(';') {
        let stmt = stmt.trim();
        let body = stmt.strip_prefix("pub use ").or_else(|| stmt.strip_prefix("use ")).or_else(|| {
            stmt.strip_prefix("pub(crate) use ").or_else(|| stmt.strip_prefix("pub(super) use "))
        });
        if let Some(body) = body.or_else(|| stmt.rsplit_once("} use ").map(|(_, b)| b)) {
            expand("", body, &mut out);
        }
    }
    for start in ["crate::", "super::"] {
        let mut rest = flat.as_str();
        while let Some(i) = rest.find(start) {
            let tail = &rest[i..];
            let end =
                tail.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(tail.len());
            out.push(tail[..end].trim_end_matches(':').to_owned());
            rest = &tail[end..];
        }
    }
    out
}

/// The file a path names, as the longest module path it starts with; `None` outside the crate.
fn target(from: &[String], path: &str, all: &BTreeMap<Vec<String>, String>) -> Option<Vec<String>> {
    let mut parts = path.split("::").filter(|p| !p.is_empty()).peekable();
    let mut base: Vec<String> = match parts.peek() {
        Some(&"crate") => {
            parts.next();
            Vec::new()
        }
        Some(&"super") | Some(&"self") => {
            // A module's `self` is itself and its `super` its parent, for a file and a
            // folder's `mod.rs` alike.
            let mut base = from.to_vec();
            while let Some(&p) = parts.peek() {
                match p {
                    "super" => drop(base.pop()),
                    "self" => {}
                    _ => break,
                }
                parts.next();
            }
            base
        }
        _ => return None,
    };
    let mut best = all.contains_key(&base).then(|| base.clone());
    for p in parts {
        base.push(p.to_owned());
        if all.contains_key(&base) {
            best = Some(base.clone());
        }
    }
    best
}

struct Graph {
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn graph() -> Graph {
    let all = modules();
    let mut edges = BTreeMap::new();
    for (module, text) in &all {
        let mut to = BTreeSet::new();
        for path in named_paths(&code_only(text)) {
            if let Some(t) = target(module, &path, &all)
                && &t != module
                && !t.is_empty()
            {
                to.insert(t);
            }
        }
        edges.insert(module.clone(), to);
    }
    Graph { edges }
}

fn rank(module: &[String]) -> usize {
    LAYERS
        .iter()
        .position(|l| *l == module[0])
        .unwrap_or_else(|| panic!("src/{} is in no layer: add it to LAYERS", module.join("/")))
}

#[test]
fn no_module_uses_one_above_it() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, tos) in &g.edges {
        for to in tos {
            if from[0] != to[0] && rank(to) > rank(from) {
                wrong.push(format!("{} uses {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "imports running back up a layer:\n{}", wrong.join("\n"));
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let g = graph();
    // A folder's `mod.rs` names its children to register them; that is not a use.
    let edges: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = g
        .edges
        .iter()
        .map(|(from, tos)| {
            let kept =
                tos.iter().filter(|to| !(to.len() == from.len() + 1 && to.starts_with(from))).collect();
            (from, kept)
        })
        .collect();
    let mut state: BTreeMap<&Vec<String>, u8> = BTreeMap::new();
    let mut circles = Vec::new();
    fn visit<'a>(
        n: &'a Vec<String>,
        edges: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        state: &mut BTreeMap<&'a Vec<String>, u8>,
        stack: &mut Vec<&'a Vec<String>>,
        circles: &mut Vec<String>,
    ) {
        state.insert(n, 1);
        stack.push(n);
        for &m in edges.get(n).into_iter().flatten() {
            match state.get(m) {
                None => visit(m, edges, state, stack, circles),
                Some(1) => {
                    let at = stack.iter().position(|s| *s == m).unwrap();
                    let names: Vec<String> = stack[at..].iter().map(|s| s.join("::")).collect();
                    circles.push(format!("{} -> {}", names.join(" -> "), m.join("::")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n, 2);
    }
    for n in edges.keys() {
        if !state.contains_key(n) {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut circles);
        }
    }
    assert!(circles.is_empty(), "files importing each other in a circle:\n{}", circles.join("\n"));
}

#[test]
fn the_check_sees_real_imports() {
    // Guards the parser: if it stopped seeing imports, the two tests above would pass vacuously.
    let g = graph();
    let has = |from: &[&str], to: &[&str]| {
        let (from, to): (Vec<String>, Vec<String>) =
            (from.iter().map(|s| s.to_string()).collect(), to.iter().map(|s| s.to_string()).collect());
        g.edges.get(&from).is_some_and(|t| t.contains(&to))
    };
    assert!(has(&["keys", "ops"], &["audit"]), "keys::ops records audit events");
    assert!(
        has(&["console", "api_keys", "create"], &["keys", "ops"])
            || has(&["console", "api_keys", "create"], &["keys"])
    );
    assert!(has(&["verifier"], &["keys", "store"]), "the verifier looks keys up through the store");
    assert!(has(&["console", "csrf"], &["console", "error"]), "super:: paths resolve");
    let edges: usize = g.edges.values().map(BTreeSet::len).sum();
    assert!(edges > 100, "only {edges} imports seen");
}
