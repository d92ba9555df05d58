//! What tables and rules carry besides their contents, in their user data
//! (libnftnl's TLVs: a type byte, a length byte, the value).
//!
//! A rule carries its comment, the `file:line` that `compile` prints (nft
//! shows type 0 as the comment), and its identity
//! ([`shriek_compiler::identity`]) under a type of shriekc's own, which
//! nft skips. A table carries a comment saying who made it, and under
//! shriekc's own types a marker, the policy that made it and the strategy.
//! The kernel caps user data at 256 bytes, and ignores new user data for a
//! table that exists: the marker is written when the table is made, and
//! what changes later (the strategy) goes into the table's record object
//! (`decode::RECORD_OBJECT`), in user data of the same shape.

use shriek_compiler::emit;
use shriek_compiler::identity::{identity, ENCODING_VERSION};
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft;
use shriek_grammar::SourceMap;

use crate::abi::*;
use crate::decode::TABLE_MARKER;

/// The kernel's limit on user data (NFT_USERDATA_MAXLEN).
const USERDATA_MAX: usize = 256;

/// A libnftnl string TLV: nft shows type 0 of a rule, chain or table, and
/// type 7 of a set, as its comment. Cut to at most `max` bytes of text
/// (and never past 250, so it fits any user data).
pub(crate) fn udata_str(ty: u8, text: &str, max: usize) -> Vec<u8> {
    let mut text = text;
    let max = max.min(250);
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text = &text[..cut];
    }
    let len = u8::try_from(text.len() + 1).expect("cut to 250 bytes above");
    let mut v = vec![ty, len];
    v.extend_from_slice(text.as_bytes());
    v.push(0);
    v
}

/// [`udata_str`] with room for a whole comment.
pub(crate) fn udata(ty: u8, text: &str) -> Vec<u8> {
    udata_str(ty, text, 250)
}

/// A rule's user data: its `file:line` comment, exactly as `compile`
/// writes it, and its identity.
pub(crate) fn rule_udata(r: &nft::Rule, sources: &SourceMap) -> Vec<u8> {
    let mut v = match emit::rule_comment(r, sources) {
        Some(c) => udata(NFTNL_UDATA_RULE_COMMENT, &c),
        None => Vec::new(),
    };
    v.push(SHRIEK_UDATA_RULE_IDENTITY);
    v.push(9);
    v.push(ENCODING_VERSION);
    v.extend_from_slice(&identity(r).0.to_be_bytes());
    v
}

/// How a policy is named in the tables it makes: its path, or for a path
/// too long to fit, a hash of it.
pub fn policy_key(path: &str) -> String {
    if path.len() <= 160 {
        path.to_string()
    } else {
        format!("fnv64:{:016x}", shriek_compiler::identity::fnv1a64(path.as_bytes()))
    }
}

/// A table's user data: a comment for people, then the marker, the
/// policy and the strategy.
pub(crate) fn table_udata(policy: &str, strategy: Strategy) -> Vec<u8> {
    let mut tail = udata(SHRIEK_UDATA_TABLE_MARKER, TABLE_MARKER);
    tail.extend(udata(SHRIEK_UDATA_TABLE_POLICY, &policy_key(policy)));
    tail.extend(udata(SHRIEK_UDATA_TABLE_STRATEGY, strategy.keyword()));
    // What is left for the comment's text: its type, length and NUL aside.
    let room = USERDATA_MAX - tail.len() - 3;
    let words = format!(", strategy {}", strategy.keyword());
    let mut place = policy.to_string();
    let fixed = "managed by shriekc from ".len() + words.len();
    if fixed + place.len() > room {
        let keep = room.saturating_sub(fixed + 3);
        let mut cut = place.len() - keep.min(place.len());
        while !place.is_char_boundary(cut) {
            cut += 1;
        }
        place = format!("...{}", &place[cut..]);
    }
    let mut v = udata_str(
        NFTNL_UDATA_TABLE_COMMENT,
        &format!("managed by shriekc from {place}{words}"),
        room,
    );
    v.extend(tail);
    v
}

/// The user data of a table's record object: the marker, the policy and
/// the strategy as in [`table_udata`], under a comment that says what the
/// record is for (the table's own comment keeps the strategy it was made
/// with, and `nft list` shows both).
pub(crate) fn record_udata(policy: &str, strategy: Strategy) -> Vec<u8> {
    let mut v = udata(
        NFTNL_UDATA_TABLE_COMMENT,
        &format!("strategy {} since shriekc last changed it", strategy.keyword()),
    );
    v.extend(udata(SHRIEK_UDATA_TABLE_MARKER, TABLE_MARKER));
    v.extend(udata(SHRIEK_UDATA_TABLE_POLICY, &policy_key(policy)));
    v.extend(udata(SHRIEK_UDATA_TABLE_STRATEGY, strategy.keyword()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_comments_are_cut_to_fit() {
        let long = "é".repeat(200);
        let u = udata(0, &long);
        assert!(u.len() <= 253 && u[1] as usize == u.len() - 2 && *u.last().unwrap() == 0);
    }

    #[test]
    fn a_table_marker_fits_whatever_the_path() {
        for len in [1, 50, 159, 160, 161, 250, 4000] {
            let path = format!("/{}", "é".repeat(len / 2));
            for ud in [
                table_udata(&path, Strategy::Sequential),
                record_udata(&path, Strategy::Sequential),
            ] {
                assert!(ud.len() <= USERDATA_MAX, "{len}: {}", ud.len());
                let owner = crate::decode::owner(&ud);
                assert_eq!(
                    owner,
                    crate::decode::Owner::Shriek {
                        policy: policy_key(&path),
                        strategy: "sequential".into()
                    }
                );
            }
        }
    }
}
