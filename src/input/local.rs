//! Local files and folders (SPEC §2, §3): a folder is every regular file
//! below it, in path order, hidden entries skipped.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Source;

pub(super) fn file_source(path: PathBuf) -> Result<Source> {
    let file = File::open(&path).with_context(|| format!("{}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("{}", path.display()))?;
    Ok(Source::File {
        path,
        size: metadata.len(),
    })
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

pub(super) fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    for entry in entries {
        let path = entry.with_context(|| format!("{}", dir.display()))?.path();
        if is_hidden(&path) {
            continue;
        }
        // Follows links to files; a link to a folder is followed too, which
        // is how people point at exports stored elsewhere.
        let metadata = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
        if metadata.is_dir() {
            walk(&path, files)?;
        } else if metadata.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::resolve;

    #[test]
    fn directories_are_walked_in_path_order_without_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/inner")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "b/inner/2.gz",
            "a.ndjson",
            "b/1.gz",
            ".secret",
            ".hidden/x",
            "b/.dot",
        ] {
            std::fs::write(root.join(name), b"").unwrap();
        }
        let labels: Vec<String> = resolve(&[root.to_path_buf()])
            .unwrap()
            .iter()
            .map(|s| {
                s.label()
                    .trim_start_matches(&root.display().to_string())
                    .to_owned()
            })
            .collect();
        assert_eq!(labels, ["/a.ndjson", "/b/1.gz", "/b/inner/2.gz"]);
    }
}
