//! What a rule carries besides its expressions: a user data comment that
//! names where it came from, with a hash of what it does, which `plan`
//! compares to tell changed rules from unchanged ones.

use shriek_compiler::nft::{self, Origin};

/// A libnftnl user data TLV: nft shows type 0 of a rule or chain, and type
/// 7 of a set, as its comment. The kernel caps user data at 256 bytes.
pub(crate) fn udata(ty: u8, text: &str) -> Vec<u8> {
    let mut text = text;
    while text.len() > 250 {
        let mut cut = 250.min(text.len() - 1);
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

/// The comment a rule carries: where it came from, and a hash of what it
/// does, which `plan` compares to tell changed rules from unchanged ones.
pub(crate) fn rule_comment(r: &nft::Rule) -> String {
    let mut s = String::from("shriek");
    for o in r.origin.iter().take(3) {
        s.push_str(&format!(
            " r{}.{}.{}@{}:{}-{}",
            o.rule.table,
            o.rule.chain.0,
            o.rule.index,
            o.loc.file.0,
            o.loc.span.start,
            o.loc.span.end
        ));
    }
    if r.origin.len() > 3 {
        s.push_str(&format!(" +{}", r.origin.len() - 3));
    }
    s.push_str(&format!(" #{:012x}", rule_hash(r)));
    s
}

/// FNV-1a over the rule's expressions: stable across runs and builds,
/// unlike `std`'s hasher.
pub(crate) fn rule_hash(r: &nft::Rule) -> u64 {
    let text = format!("{:?}", r.exprs);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & 0xffff_ffff_ffff
}

pub(super) fn origin_comment(origin: &[Origin]) -> Option<String> {
    let o = origin.first()?;
    Some(format!(
        "r{}.{}.{}@{}:{}-{}",
        o.rule.table, o.rule.chain.0, o.rule.index, o.loc.file.0, o.loc.span.start, o.loc.span.end
    ))
}

#[cfg(test)]
mod tests {
    use super::udata;

    #[test]
    fn long_comments_are_cut_to_fit() {
        let long = "é".repeat(200);
        let u = udata(0, &long);
        assert!(u.len() <= 253 && u[1] as usize == u.len() - 2 && *u.last().unwrap() == 0);
    }
}
