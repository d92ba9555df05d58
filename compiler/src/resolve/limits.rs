//! How much input one policy may hold: every limit of resolution, in one
//! place. Each is far above what a person (or a generator of large
//! policies) writes, and low enough that hostile input is refused with an
//! error in seconds and well under a gigabyte of memory. `docs/bad-input.md`
//! lists them with what the user sees.

/// The largest policy file, in bytes.
pub const MAX_FILE_BYTES: usize = 16 << 20;
/// The most bytes all files of one policy may hold together.
pub const MAX_TOTAL_BYTES: usize = 64 << 20;
/// How deep includes may nest, counting the entry file.
pub const MAX_DEPTH: usize = 16;
/// How many files one policy may load.
pub const MAX_FILES: usize = 256;
/// The most elements one value may hold once sets and `$name`s are
/// expanded (a set in a match, or a define).
pub const MAX_SET: usize = 65_536;
/// The most elements all the matches and defines of a policy may hold
/// together, counting a `$name` at each use.
pub const MAX_VALUES: usize = 4_000_000;
/// The most rules one policy may hold, over all tables and chains.
pub const MAX_RULES: usize = 250_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::codes;

    /// The catalogue states each limit in words; they must say the same.
    #[test]
    fn the_catalogue_states_the_limits_as_they_are() {
        let says = |code: &shriek_grammar::Code, what: String| {
            assert!(
                code.summary.contains(&what),
                "{}: {:?} should say {what}",
                code.code,
                code.summary
            );
        };
        let thousands = |n: usize| {
            let digits: Vec<char> = n.to_string().chars().rev().collect();
            let groups: Vec<String> =
                digits.chunks(3).map(|g| g.iter().rev().collect()).rev().collect();
            groups.join(",")
        };
        says(codes::FILE_TOO_LARGE, format!("{} MiB", MAX_FILE_BYTES >> 20));
        says(codes::FILE_TOO_LARGE, format!("{} MiB together", MAX_TOTAL_BYTES >> 20));
        says(codes::INCLUDE_TOO_DEEP, format!("{MAX_DEPTH} files deep"));
        says(codes::TOO_MANY_FILES, format!("{MAX_FILES} files"));
        says(codes::SET_TOO_LARGE, thousands(MAX_SET));
        says(codes::TOO_MANY_VALUES, thousands(MAX_VALUES));
        says(codes::TOO_MANY_RULES, thousands(MAX_RULES));
        let nesting = shriek_grammar::codes::NESTING_TOO_DEEP;
        assert!(nesting.summary.contains("64 levels"), "{:?}", nesting.summary);
    }
}
