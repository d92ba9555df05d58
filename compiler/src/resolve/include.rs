//! Loading the entry file and everything it includes, in textual order.
//!
//! The result is the list of `define` and `table` items as if every include
//! had been pasted in at its line. A file included a second time (outside a
//! cycle) contributes nothing the second time, so diamonds are harmless.

use std::collections::{BTreeMap, HashMap};

use shriek_grammar::ast::{self, Item};
use shriek_grammar::{Diagnostic, FileId, Loc, SourceFile, SourceMap, Span};

use super::limits::{MAX_DEPTH, MAX_FILES, MAX_TOTAL_BYTES};
use super::{codes, LoadError, Loaded, Loader};

pub(crate) struct Loading<'l> {
    pub loader: &'l mut dyn Loader,
    pub sources: SourceMap,
    pub files: Vec<(FileId, ast::File)>,
    pub diags: Vec<Diagnostic>,
    /// Every `define` and `table`, as (index into `files`, index of the item).
    pub order: Vec<(usize, usize)>,
    keys: HashMap<String, FileId>,
    stack: Vec<Frame>,
    /// Set once the file limit was reported, so it is reported once.
    full: bool,
    /// Bytes of text loaded so far, for [`MAX_TOTAL_BYTES`].
    bytes: usize,
    /// Set once the size limit was reported, so it is reported once.
    too_big: bool,
}

struct Frame {
    key: String,
    name: String,
    /// The include that opened this file; `None` for the entry file.
    via: Option<Loc>,
}

impl<'l> Loading<'l> {
    pub fn run(entry: &str, loader: &'l mut dyn Loader) -> Loading<'l> {
        let mut cx = Loading {
            loader,
            sources: SourceMap::new(),
            files: Vec::new(),
            diags: Vec::new(),
            order: Vec::new(),
            keys: HashMap::new(),
            stack: Vec::new(),
            full: false,
            bytes: 0,
            too_big: false,
        };
        match cx.loader.load(entry, None) {
            Ok(loaded) => cx.file(loaded, None),
            Err(err) => {
                // There is no text to point into; an empty file keeps every
                // diagnostic placeable.
                let id = cx.sources.add(SourceFile::new(entry, ""));
                // Every loader's message names the file and says what went
                // wrong, so it is the whole headline.
                let mut d =
                    Diagnostic::new(err.code, err.message, Loc::new(id, Span::default()), "");
                d.help = err.help;
                cx.diags.push(d);
            }
        }
        cx
    }

    fn file(&mut self, loaded: Loaded, via: Option<Loc>) {
        self.bytes += loaded.text.len();
        let (tree, local) = shriek_grammar::parse(&loaded.text);
        let id = self.sources.add(SourceFile::new(loaded.name.clone(), loaded.text));
        self.diags.extend(local.into_iter().map(|d| d.at_file(id)));
        self.keys.insert(loaded.key.clone(), id);
        let index = self.files.len();
        self.files.push((id, tree));
        self.stack.push(Frame { key: loaded.key, name: loaded.name, via });
        for i in 0..self.files[index].1.items.len() {
            match &self.files[index].1.items[i] {
                Item::Include(inc) => {
                    let path = inc.path.node.clone();
                    self.include(&path, Loc::new(id, inc.path.span));
                }
                Item::Define(_) | Item::Table(_) | Item::Counters(_) => self.order.push((index, i)),
            }
        }
        self.stack.pop();
    }

    fn include(&mut self, path: &str, at: Loc) {
        if self.stack.len() >= MAX_DEPTH {
            let chain: Vec<&str> = self.stack.iter().map(|f| f.name.as_str()).collect();
            self.diags.push(
                Diagnostic::new(
                    codes::INCLUDE_TOO_DEEP,
                    format!("includes nest more than {MAX_DEPTH} files deep"),
                    at,
                    "this include goes one level too deep",
                )
                .with_help(format!(
                    "include the shared files from fewer levels; the chain so far is {}",
                    chain.join(" -> ")
                )),
            );
            return;
        }
        let from = self.stack.last().map(|f| f.key.clone());
        let loaded = match self.loader.load(path, from.as_deref()) {
            Ok(loaded) => loaded,
            Err(err) => {
                let mut d =
                    Diagnostic::new(err.code, format!("cannot include `{path}`"), at, err.message);
                d.help = err.help;
                self.diags.push(d);
                return;
            }
        };
        if let Some(pos) = self.stack.iter().position(|f| f.key == loaded.key) {
            let mut names: Vec<&str> = self.stack[pos..].iter().map(|f| f.name.as_str()).collect();
            names.push(&loaded.name);
            let mut d = Diagnostic::new(
                codes::INCLUDE_CYCLE,
                format!("`{}` includes itself through a cycle", loaded.name),
                at,
                "this include closes the cycle",
            )
            .with_help(format!("remove one include of the cycle {}", names.join(" -> ")));
            let other = match self.stack[pos].via {
                Some(first) => Some((first, format!("`{}` is first included here", loaded.name))),
                None => self
                    .stack
                    .get(pos + 1)
                    .and_then(|f| f.via)
                    .map(|start| (start, "the cycle starts here".to_string())),
            };
            if let Some((loc, msg)) = other.filter(|(loc, _)| *loc != at) {
                d = d.with_related(loc, msg);
            }
            self.diags.push(d);
            return;
        }
        if self.keys.contains_key(&loaded.key) {
            return;
        }
        if self.files.len() >= MAX_FILES {
            if std::mem::replace(&mut self.full, true) {
                return;
            }
            self.diags.push(
                Diagnostic::new(
                    codes::TOO_MANY_FILES,
                    format!("a policy may load at most {MAX_FILES} files"),
                    at,
                    "this include is one too many",
                )
                .with_help("merge small included files"),
            );
            return;
        }
        if self.bytes + loaded.text.len() > MAX_TOTAL_BYTES {
            if std::mem::replace(&mut self.too_big, true) {
                return;
            }
            self.diags.push(
                Diagnostic::new(
                    codes::FILE_TOO_LARGE,
                    format!(
                        "the files of this policy hold more than {} MiB together",
                        MAX_TOTAL_BYTES >> 20
                    ),
                    at,
                    format!("including `{}` goes past the limit", loaded.name),
                )
                .with_help("a policy this large cannot be checked in reasonable time and memory"),
            );
            return;
        }
        self.file(loaded, Some(at));
    }
}

/// A [`Loader`] over files held in memory, keyed by path. Include paths are
/// relative to the including file's folder.
#[derive(Clone, Debug, Default)]
pub struct MemoryLoader(pub BTreeMap<String, String>);

impl Loader for MemoryLoader {
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, LoadError> {
        let key = include_key(path, from);
        match self.0.get(&key) {
            Some(text) => Ok(Loaded { key: key.clone(), name: key, text: text.clone() }),
            None => Err(LoadError::not_found(format!("no file at `{key}`"))),
        }
    }
}

/// The `/`-separated path an include names: `path` relative to the folder
/// of `from` (the includer's path; `None` for the entry file), with `.` and
/// `..` folded. For loaders that read from somewhere other than a disk.
pub fn include_key(path: &str, from: Option<&str>) -> String {
    let joined = match from {
        Some(from) if !path.starts_with('/') => match from.rfind('/') {
            Some(i) => format!("{}/{path}", &from[..i]),
            None => path.to_string(),
        },
        _ => path.to_string(),
    };
    normalize(&joined)
}

/// Drop `.` segments and fold `..` into their parent, without touching a disk.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" if !parts.is_empty() || part == "." => {}
            ".." if parts.last().is_some_and(|p| *p != ".." && !p.is_empty()) => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("a/./b/../c.shr"), "a/c.shr");
        assert_eq!(normalize("./c.shr"), "c.shr");
        assert_eq!(normalize("../c.shr"), "../c.shr");
        assert_eq!(normalize("/etc/x.shr"), "/etc/x.shr");
    }
}
