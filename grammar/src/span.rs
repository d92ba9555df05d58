//! Byte spans into one source file, and the table of loaded files.

use std::fmt;

/// A half-open byte range `start..end` in one file's text.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32 }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A node with its span. Equality compares the node only.
#[derive(Clone, Copy, Debug)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Spanned<T> {
        Spanned { node, span }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}
impl<T: Eq> Eq for Spanned<T> {}

/// Which loaded file a span belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A span in a particular file: what diagnostics and the IR carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Loc {
    pub file: FileId,
    pub span: Span,
}

impl Loc {
    pub fn new(file: FileId, span: Span) -> Loc {
        Loc { file, span }
    }
}

/// One loaded source file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user should read it (as given, or joined to the includer's folder).
    pub name: String,
    pub text: String,
    /// Byte offset of the start of every line, for line/column lookups.
    line_starts: Vec<u32>,
    /// For text that is not all ASCII: the character index of every
    /// [`CHAR_MARK_STEP`]th byte (rounded to a character boundary), so a
    /// column in characters costs a bounded count, however long the line.
    char_marks: Vec<(u32, u32)>,
}

/// Bytes between two entries of [`SourceFile`]'s character index.
const CHAR_MARK_STEP: usize = 4096;

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        let mut char_marks = Vec::new();
        if !text.is_ascii() {
            let (mut at, mut chars) = (0, 0);
            while at < text.len() {
                let mut next = (at + CHAR_MARK_STEP).min(text.len());
                while !text.is_char_boundary(next) {
                    next += 1;
                }
                chars += text[at..next].chars().count() as u32;
                at = next;
                char_marks.push((at as u32, chars));
            }
        }
        SourceFile { name: name.into(), text, line_starts, char_marks }
    }

    /// How many characters come before byte `offset` (a character boundary).
    fn char_index(&self, offset: usize) -> usize {
        if self.char_marks.is_empty() {
            return offset;
        }
        let i = self.char_marks.partition_point(|&(at, _)| at as usize <= offset);
        let (at, chars) = if i == 0 { (0, 0) } else { self.char_marks[i - 1] };
        chars as usize + self.text.get(at as usize..offset).map_or(0, |s| s.chars().count())
    }

    /// The byte offsets where lines start, the first being 0.
    pub fn line_starts(&self) -> &[u32] {
        &self.line_starts
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let end = (offset as usize).min(self.text.len());
        let col = if self.text.is_char_boundary(end) {
            self.char_index(end) - self.char_index(start)
        } else {
            end - start
        };
        (line + 1, col + 1)
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// Every file a compilation loaded, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// `file:line:column` of a location, 1-based.
    pub fn describe(&self, loc: Loc) -> String {
        let file = self.get(loc.file);
        let (line, col) = file.line_col(loc.span.start);
        format!("{}:{line}:{col}", file.name)
    }
}
