//! The shape of the source tree (`docs/ARCHITECTURE.md`), checked: no import circle between
//! the crate's modules, none between the files of one module folder, and only the command
//! line knows about clap and exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code of a file: comment lines left out, so that docs naming a module are no import.
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow each `prefix` in `text` (`crate::` → `batch`, …), the names
/// of a braced list (`super::{a, b::c}` → `a`, `b`) included.
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[at + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// A circle in `graph`, as the nodes around it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file under `src/` belongs to (`src/fetch/hub.rs` → `fetch`).
fn top_module(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    Path::new(first)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn no_import_circle_between_the_crate_modules() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let module = top_module(&file);
        if module == "lib" || module == "main" {
            continue;
        }
        let uses = names_after(&code(&file), "crate::");
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(uses.into_iter().filter(|used| *used != module));
    }
    assert!(graph.len() > 10, "modules found: {:?}", graph.keys());
    assert!(
        graph["cli"].contains("summarize"),
        "the parser misses imports"
    );
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle: {}", circle.join(" → "));
    }
}

#[test]
fn no_import_circle_between_the_files_of_a_module_folder() {
    let folders: BTreeSet<PathBuf> = rust_files(&src())
        .into_iter()
        .filter_map(|file| file.parent().map(Path::to_path_buf))
        .filter(|dir| *dir != src())
        .collect();
    assert!(folders.len() >= 6, "{folders:?}");
    for folder in folders {
        // The files beside `mod.rs`, and the items each defines.
        let siblings: BTreeMap<String, String> = rust_files(&folder)
            .into_iter()
            .filter(|file| file.parent() == Some(folder.as_path()))
            .map(|file| {
                (
                    file.file_stem().unwrap().to_string_lossy().into_owned(),
                    code(&file),
                )
            })
            .filter(|(name, _)| name != "mod" && name != "tests")
            .collect();
        let defines = |text: &str, item: &str| {
            ["fn", "struct", "enum", "trait", "const", "type"]
                .iter()
                .any(|kind| {
                    text.lines().any(|line| {
                        let line = line.trim_start();
                        let line = line
                            .strip_prefix("pub(super) ")
                            .or_else(|| line.strip_prefix("pub(crate) "))
                            .or_else(|| line.strip_prefix("pub "))
                            .unwrap_or(line);
                        line.strip_prefix(kind)
                            .and_then(|rest| rest.strip_prefix(' '))
                            .is_some_and(|rest| {
                                rest.starts_with(item)
                                    && !rest[item.len()..]
                                        .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                            })
                    })
                })
        };
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, text) in &siblings {
            let edges = graph.entry(name.clone()).or_default();
            for used in names_after(text, "super::") {
                if siblings.contains_key(&used) && used != *name {
                    edges.insert(used);
                } else if let Some((owner, _)) = siblings
                    .iter()
                    .find(|(other, other_text)| *other != name && defines(other_text, &used))
                {
                    // An item the folder's `mod.rs` re-exports from a sibling.
                    edges.insert(owner.clone());
                }
            }
        }
        if let Some(circle) = find_circle(&graph) {
            panic!(
                "import circle in {}: {}",
                folder.display(),
                circle.join(" → ")
            );
        }
    }
}

#[test]
fn only_the_command_line_knows_clap_and_exit_codes() {
    let cli = src().join("cli");
    for file in rust_files(&src()) {
        if file.starts_with(&cli) || file == src().join("main.rs") {
            continue;
        }
        let text = code(&file);
        for word in ["clap", "ExitCode", "process::exit"] {
            assert!(
                !text.contains(word),
                "{} uses `{word}`: only src/cli/ may",
                file.display()
            );
        }
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        graph
    };
    let circle = find_circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap();
    assert_eq!(circle, ["a", "b", "c", "a"]);
    assert!(find_circle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_none());
    assert_eq!(
        names_after("use super::{layout::ActRow, dispatch, Isa};", "super::"),
        ["Isa", "dispatch", "layout"].map(String::from).into()
    );
}
