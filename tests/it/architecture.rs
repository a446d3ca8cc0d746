//! The arrows between top-level modules of `src/` point one way (docs/architecture.md,
//! "Layers"). Every `crate::…` path (in `use` trees and in code) and every `super::` chain
//! that climbs to the crate root is an import of that top-level module; an import outside
//! [`ALLOWED`], or any cycle between top-level modules, fails the test.
//!
//! The same reading of this test crate (`tests/it`): a case file imports the `support`
//! harness only, never another case file, and `support` imports no case file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each one may import. Edges (`cli`) may import anything below
/// them; `domain` nothing but the error catalog.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error_code", &[]),
    ("trace", &[]),
    ("clock", &[]),
    ("observability", &[]),
    ("domain", &["error_code"]),
    ("config", &["domain"]),
    ("logging", &["config", "trace"]),
    ("bus", &["domain", "store", "trace", "clock"]),
    (
        "store",
        &["domain", "trace", "config", "clock", "error_code"],
    ),
    (
        "auth",
        &["domain", "store", "config", "clock", "trace", "error_code"],
    ),
    (
        "integrations",
        &[
            "domain",
            "store",
            "bus",
            "trace",
            "config",
            "clock",
            "observability",
            "error_code",
        ],
    ),
    (
        "sandbox",
        &["domain", "config", "clock", "trace", "error_code"],
    ),
    (
        "runtime",
        &[
            "domain",
            "integrations",
            "store",
            "bus",
            "trace",
            "config",
            "clock",
            "observability",
            "error_code",
        ],
    ),
    (
        "api",
        &[
            "runtime",
            "auth",
            "domain",
            "integrations",
            "store",
            "bus",
            "trace",
            "config",
            "clock",
            "observability",
            "error_code",
        ],
    ),
    (
        "cli",
        &[
            "api",
            "runtime",
            "auth",
            "domain",
            "integrations",
            "store",
            "bus",
            "sandbox",
            "trace",
            "config",
            "clock",
            "observability",
            "error_code",
            "logging",
        ],
    ),
];

/// One `src/` file: its module path below the crate root and its text.
#[derive(Clone)]
struct Source {
    module: Vec<String>,
    text: String,
}

fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_owned();
        if stem != "mod" && stem != "lib" && stem != "main" {
            parts.push(stem);
        }
    }
    parts
}

fn sources(root: &Path) -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .map(|f| Source {
            module: module_path(f.strip_prefix(root).expect("under src")),
            text: std::fs::read_to_string(&f).expect("read file"),
        })
        .collect()
}

/// The text without comments, string literals and char literals (an import inside a doc
/// comment or a message is not an import).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                // Raw string r"…" / r#"…"#.
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= b.len() {
                        break;
                    }
                    if b[j] == b'"'
                        && b[j + 1..].iter().take(hashes).all(|&c| c == b'#')
                        && b.len() >= j + 1 + hashes
                    {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') — or a lifetime, which is kept.
                let close = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match close {
                    Some(end) => {
                        out.push_str("' '");
                        i = end + 1;
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first-level names of a `{ a::x, b, c::{…} }` group starting at `s[0] == '{'`.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    at_start = true;
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                at_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 1 && at_start {
            if is_ident(c) {
                current.push(c);
            } else if !c.is_whitespace() || !current.is_empty() {
                if !current.is_empty() {
                    heads.push(std::mem::take(&mut current));
                }
                at_start = false;
            }
        }
    }
    heads
}

/// Top-level modules a file imports: `crate::x`, `crate::{x, y::…}`, and `super::…` chains
/// that climb out of its own top-level module.
fn imports(src: &Source, tops: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code_only(&src.text);
    let mut found = BTreeSet::new();
    let mut add = |name: &str| {
        if tops.contains(name) {
            found.insert(name.to_owned());
        }
    };
    let mut rest = code.as_str();
    while let Some(pos) = rest.find("crate::") {
        let before = rest[..pos].chars().next_back();
        let after = &rest[pos + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue; // `foo_crate::`, `$crate::`
        }
        if after.starts_with('{') {
            for h in group_heads(after) {
                add(&h);
            }
        } else {
            let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
            add(&name);
        }
    }
    // `super::super::x` from a file nested `depth` modules deep reaches the crate root when
    // the chain is as long as the depth.
    let depth = src.module.len();
    let mut rest = code.as_str();
    while let Some(pos) = rest.find("super::") {
        let before = rest[..pos].chars().next_back();
        let mut after = &rest[pos..];
        rest = &rest[pos + "super::".len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue; // counted from the first `super` of the chain
        }
        let mut climbs = 0;
        while let Some(r) = after.strip_prefix("super::") {
            climbs += 1;
            after = r.trim_start();
        }
        if climbs >= depth {
            if after.starts_with('{') {
                for h in group_heads(after) {
                    add(&h);
                }
            } else {
                let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
                add(&name);
            }
        }
    }
    found
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph between top-level modules, with the files behind each edge.
fn graph(sources: &[Source]) -> (Graph, BTreeMap<(String, String), Vec<String>>) {
    let tops: BTreeSet<String> = sources
        .iter()
        .filter_map(|s| s.module.first().cloned())
        .collect();
    let mut g = Graph::new();
    let mut why = BTreeMap::new();
    for s in sources {
        let Some(top) = s.module.first() else {
            continue;
        };
        for dep in imports(s, &tops) {
            if &dep == top {
                continue;
            }
            g.entry(top.clone()).or_default().insert(dep.clone());
            why.entry((top.clone(), dep))
                .or_insert_with(Vec::new)
                .push(s.module.join("::"));
        }
    }
    (g, why)
}

fn violations(sources: &[Source]) -> Vec<String> {
    let (g, why) = graph(sources);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut out = Vec::new();
    for (from, deps) in &g {
        let Some(ok) = allowed.get(from.as_str()) else {
            out.push(format!(
                "top-level module `{from}` is not in the ALLOWED table"
            ));
            continue;
        };
        for dep in deps {
            if !ok.contains(&dep.as_str()) {
                let files = &why[&(from.clone(), dep.clone())];
                out.push(format!(
                    "`{from}` must not import `{dep}` (in {})",
                    files.join(", ")
                ));
            }
        }
    }
    out.extend(cycles(&g));
    out
}

/// Every cycle between top-level modules, each reported once from its smallest module.
fn cycles(g: &Graph) -> Vec<String> {
    fn dfs(
        g: &Graph,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        out: &mut BTreeSet<Vec<String>>,
    ) {
        for next in g.get(at).into_iter().flatten() {
            if next == start {
                let mut c = path.clone();
                c.push(start.to_owned());
                out.insert(c);
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                dfs(g, start, next, path, out);
                path.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for start in g.keys() {
        dfs(g, start, start, &mut vec![start.clone()], &mut found);
    }
    found
        .into_iter()
        .map(|c| format!("import cycle: {}", c.join(" → ")))
        .collect()
}

#[test]
fn top_level_modules_import_only_downwards_and_without_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = sources(&root);
    assert!(
        sources.len() > 50,
        "found only {} files under src/",
        sources.len()
    );
    let v = violations(&sources);
    assert!(
        v.is_empty(),
        "architecture arrows broken:\n{}",
        v.join("\n")
    );
}

fn fake(path: &str, text: &str) -> Source {
    Source {
        module: module_path(Path::new(path)),
        text: text.to_owned(),
    }
}

#[test]
fn an_upward_import_and_a_cycle_are_caught() {
    let ok = vec![
        fake("domain/risk.rs", "use crate::error_code::ErrorCode;"),
        fake(
            "store/bots.rs",
            "use crate::{domain::risk::Stage, trace::TraceId};",
        ),
        fake(
            "api/bots.rs",
            "use super::super::runtime::X; fn f() { crate::store::bots::get(); }",
        ),
        fake("runtime/mod.rs", "use crate::store::bots;"),
    ];
    assert_eq!(violations(&ok), Vec::<String>::new());

    // domain reaching up into api, hidden in a nested use tree.
    let mut bad = ok.clone();
    bad.push(fake(
        "domain/evaluation.rs",
        "use crate::{\n    error_code::ErrorCode,\n    api::{ApiError, AppState},\n};",
    ));
    let v = violations(&bad);
    assert!(
        v.iter()
            .any(|m| m.contains("`domain` must not import `api`")),
        "{v:?}"
    );

    // store ↔ runtime: an upward import that also closes a cycle.
    let mut cyc = ok.clone();
    cyc.push(fake("store/jobs.rs", "pub use crate::runtime::BotStatus;"));
    let v = violations(&cyc);
    assert!(
        v.iter()
            .any(|m| m.contains("`store` must not import `runtime`")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|m| m == "import cycle: runtime → store → runtime"),
        "{v:?}"
    );

    // super:: chains that climb to the root count; comments and strings do not.
    let v = violations(&[
        fake(
            "auth/guard.rs",
            "// use crate::api::AppState;\nconst S: &str = \"crate::api\";",
        ),
        fake("auth/a/b.rs", "use super::super::super::api::ApiError;"),
        fake("api/mod.rs", "use crate::auth::x;"),
    ]);
    assert!(
        v.iter()
            .any(|m| m.contains("`auth` must not import `api` (in auth::a::b)")),
        "{v:?}"
    );
    assert!(!v.iter().any(|m| m.contains("auth::guard")), "{v:?}");
}

/// What a file under `tests/it` may import: `support` (the harness), and nothing else of
/// this crate. A case file reaching into another case file (or `support` into a case file)
/// is reported with the file.
fn case_file_violations(sources: &[Source]) -> Vec<String> {
    let tops: BTreeSet<String> = sources
        .iter()
        .filter_map(|s| s.module.first().cloned())
        .collect();
    let mut out = Vec::new();
    for s in sources {
        let Some(top) = s.module.first() else {
            continue; // main.rs only declares the modules
        };
        for dep in imports(s, &tops) {
            if &dep != top && dep != "support" {
                out.push(format!(
                    "`{}` imports the case file `{dep}`; shared code belongs in `support`",
                    s.module.join("::")
                ));
            }
        }
    }
    out
}

#[test]
fn case_files_import_only_the_support_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let sources = sources(&root);
    assert!(
        sources.iter().any(|s| s.module == ["support"]) && sources.len() > 20,
        "found only {} files under tests/it/",
        sources.len()
    );
    let v = case_file_violations(&sources);
    assert!(
        v.is_empty(),
        "case files import each other:\n{}",
        v.join("\n")
    );
}

#[test]
fn a_case_file_importing_another_is_caught() {
    let ok = vec![
        fake("main.rs", "mod support;\nmod bots;\nmod ledger;"),
        fake("support/mod.rs", "pub mod app;\npub use app::TestApp;"),
        fake("support/app.rs", "use super::fixtures::test_config;"),
        fake(
            "bots.rs",
            "use crate::support::{TestApp, fixtures::sma_bot};\nfn f() { crate::support::now(); }",
        ),
        fake(
            "ledger.rs",
            "// use crate::bots::send;\nconst S: &str = \"crate::bots\";",
        ),
    ];
    assert_eq!(case_file_violations(&ok), Vec::<String>::new());

    // A case file importing another, inside a use tree and as a path in code.
    let v = case_file_violations(&[
        fake(
            "bots.rs",
            "use crate::{support::TestApp, auth_2fa::enroll};",
        ),
        fake("ledger.rs", "fn f() { crate::runtime::test_config(); }"),
        fake("auth_2fa.rs", ""),
        fake("runtime.rs", ""),
    ]);
    assert!(
        v.iter()
            .any(|m| m.contains("`bots` imports the case file `auth_2fa`")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|m| m.contains("`ledger` imports the case file `runtime`")),
        "{v:?}"
    );

    // The harness reaching into a case file, also through `super::super`.
    let v = case_file_violations(&[
        fake("support/app.rs", "use super::super::runtime::test_config;"),
        fake("runtime.rs", ""),
    ]);
    assert!(
        v.iter()
            .any(|m| m.contains("`support::app` imports the case file `runtime`")),
        "{v:?}"
    );
}
