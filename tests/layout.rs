//! The shape of the code: data flows one way, so the top-level modules'
//! imports form no circle (a module never imports one that imports it,
//! directly or through others).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo;

/// Each top-level module of `src/` and the top-level modules its code
/// (tests aside) names as `crate::…`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![repo("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(repo("src")).unwrap();
            let top = top_module(relative);
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let named = code
                .match_indices("crate::")
                .flat_map(|(at, _)| named_after(&code[at + 7..]))
                .filter(|name| *name != top && !name.is_empty())
                .collect::<Vec<_>>();
            graph.entry(top).or_default().extend(named);
        }
    }
    graph
}

/// The top-level modules a path after `crate::` names: one
/// (`crate::report::counted`), or each of a group (`crate::{report,
/// segment}`).
fn named_after(rest: &str) -> Vec<String> {
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    match rest.strip_prefix('{') {
        Some(group) => {
            // Nested groups are split on their own commas too: only the
            // first name of each part is a top-level module.
            let mut depth = 0;
            let mut parts = vec![String::new()];
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => parts.push(String::new()),
                    _ => {}
                }
                if depth == 0 && c != ',' && c != '}' {
                    parts.last_mut().unwrap().push(c);
                }
            }
            parts.iter().map(|part| ident(part)).collect()
        }
        None => vec![ident(rest)],
    }
}

fn top_module(relative: &Path) -> String {
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

#[test]
fn grouped_imports_count_too() {
    assert_eq!(named_after("report::counted;"), ["report"]);
    assert_eq!(
        named_after("{report, segment::{self, parse_line}};"),
        ["report", "segment"]
    );
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let graph = imports();
    assert!(graph.contains_key("config") && graph.contains_key("input"));
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(module) = todo.pop() {
            if module == to {
                return true;
            }
            if seen.insert(module.clone()) {
                todo.extend(graph.get(&module).into_iter().flatten().cloned());
            }
        }
        false
    };
    let circles: Vec<String> = graph
        .iter()
        .flat_map(|(module, named)| named.iter().map(move |other| (module, other)))
        .filter(|(module, other)| reaches(other, module))
        .map(|(module, other)| format!("{module} -> {other}"))
        .collect();
    assert!(circles.is_empty(), "imports in a circle: {circles:?}");
}
