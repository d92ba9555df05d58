//! Encodings checked without a kernel: each rule's expressions printed
//! the way `nft --debug=netlink` lists them, as nested attributes.

use super::*;
use crate::msg;
use shriek_compiler::ir::{ChainId, Limit, RuleId};
use shriek_compiler::nft::{CmpOp, Elem, Expr, Origin, Part, Rhs, Selector, Verdict};
use shriek_grammar::{FileId, Loc, Span};

/// One attribute tree as text: integers of 4 and 8 bytes in decimal
/// (big-endian), printable NUL-terminated strings quoted, nests in
/// parentheses, the rest in hex.
fn show(buf: &[u8]) -> String {
    let mut parts = Vec::new();
    for (ty, d) in msg::attrs(buf) {
        let printable = d.last() == Some(&0)
            && d.len() > 1
            && d[..d.len() - 1].iter().all(|b| b.is_ascii_graphic() || *b == b' ');
        let nested = d.len() >= 4
            && (|| {
                // Type 0 is never used, so a child of type 0 means raw bytes.
                let mut total = 0;
                for (t, x) in msg::attrs(d) {
                    if t == 0 {
                        return false;
                    }
                    total += (4 + x.len() + 3) & !3;
                }
                total == d.len()
            })();
        let v = if printable {
            format!("{:?}", String::from_utf8_lossy(&d[..d.len() - 1]))
        } else if nested {
            format!("({})", show(d))
        } else if d.len() == 4 {
            (u32::from_be_bytes(d.try_into().unwrap()) as i32).to_string()
        } else if d.len() == 8 && u64::from_be_bytes(d.try_into().unwrap()) < 1 << 32 {
            u64::from_be_bytes(d.try_into().unwrap()).to_string()
        } else {
            d.iter().map(|b| format!("{b:02x}")).collect()
        };
        parts.push(format!("{ty}={v}"));
    }
    parts.join(" ")
}

/// The messages of a one-rule table after the table setup, one a line,
/// rule expressions one a line.
fn encode(exprs: Vec<Expr>) -> String {
    let origin = Origin {
        rule: RuleId { table: 0, chain: ChainId(0), index: 0 },
        loc: Loc::new(FileId(0), Span::new(0, 5)),
    };
    let table = nft::Table {
        name: "t".into(),
        sets: vec![],
        counters: vec![],
        chains: vec![nft::Chain {
            name: "c".into(),
            base: None,
            rules: vec![nft::Rule { exprs, origin: vec![origin] }],
            comment: None,
        }],
    };
    let (raw, _) = whole_bytes(&table, None);
    let mut out = String::new();
    // Skip BATCH_BEGIN, NEWTABLE, DELTABLE, NEWTABLE and NEWCHAIN.
    for m in msg::messages(&raw).skip(5) {
        let attrs = m.nft_attrs();
        out.push_str(&format!("msg {}\n", m.ty & 0xff));
        match msg::attr(attrs, NFTA_RULE_EXPRESSIONS).filter(|_| m.ty & 0xff == NFT_MSG_NEWRULE) {
            Some(exprs) => {
                for (_, e) in msg::attrs(exprs) {
                    let name = msg::attr_str(e, NFTA_EXPR_NAME).unwrap_or_default();
                    let data = msg::attr(e, NFTA_EXPR_DATA).map(show).unwrap_or_default();
                    out.push_str(&format!("  [ {name} {data} ]\n"));
                }
            }
            None => out.push_str(&format!("  {}\n", show(attrs))),
        }
    }
    out
}

fn check(name: &str, exprs: Vec<Expr>) {
    shriek_testkit::snapshot!("runtime", name, encode(exprs));
}

fn is(key: &[Selector], rhs: Rhs) -> Expr {
    Expr::Match { key: key.to_vec(), op: CmpOp::Eq, rhs }
}

fn one(lo: u128, hi: u128) -> Rhs {
    Rhs::Value(Elem(vec![Part::Int(lo, hi)]))
}

/// The layout as it was made before [`layout::laid_out`]: a copy of
/// the table with every long chain split, unless the parts would go
/// past the kernel's jump depth (judged on the whole copy).
fn copied_layout(t: &nft::Table) -> nft::Table {
    if !t.chains.iter().any(|c| layout::splittable(t, c)) {
        return t.clone();
    }
    let mut parted = nft::Table { chains: Vec::new(), ..t.clone() };
    for c in &t.chains {
        if layout::splittable(t, c) {
            parted.chains.extend(layout::split(c));
        } else {
            parted.chains.push(c.clone());
        }
    }
    let whole_fails = crate::apply::table_jump_depth_error(t).is_some();
    if whole_fails || crate::apply::table_jump_depth_error(&parted).is_none() {
        parted
    } else {
        t.clone()
    }
}

/// A table of `depth + 1` chains, each but the last jumping to the
/// next, with `lens[i]` port rules in chain `i` (a `return` among them
/// where `returns[i]`, which keeps the chain whole).
fn chained_table(depth: usize, lens: &[usize], returns: &[bool]) -> nft::Table {
    let origin = Origin {
        rule: RuleId { table: 0, chain: ChainId(0), index: 0 },
        loc: Loc::new(FileId(0), Span::new(0, 5)),
    };
    let chains = (0..=depth)
        .map(|i| {
            let mut rules: Vec<nft::Rule> = (0..lens[i % lens.len()])
                .map(|p| nft::Rule {
                    exprs: vec![
                        is(&[Selector::ThDport], one(p as u128, p as u128)),
                        Expr::Counter(None),
                        Expr::Verdict(if p % 3 == 0 { Verdict::Drop } else { Verdict::Accept }),
                    ],
                    origin: vec![origin],
                })
                .collect();
            if returns[i % returns.len()] && !rules.is_empty() {
                let at = rules.len() / 2;
                rules[at].exprs[2] = Expr::Verdict(Verdict::Return);
            }
            if i < depth {
                rules.insert(0, layout::link(&format!("c{}", i + 1)));
            }
            nft::Chain {
                name: format!("c{i}"),
                base: (i == 0).then_some(BaseChain {
                    hook: Hook::Input,
                    kind: ChainKind::Filter,
                    priority: 0,
                    policy: ChainPolicy::Accept,
                }),
                rules,
                comment: None,
            }
        })
        .collect();
    nft::Table { name: "t".into(), sets: vec![], counters: vec![], chains }
}

fn whole_bytes(t: &nft::Table, laid: Option<&[Laid]>) -> (Vec<u8>, Vec<Subject>) {
    let rs = nft::Ruleset { tables: vec![t.clone()] };
    let sources = SourceMap::default();
    let desired = Desired {
        ruleset: &rs,
        sources: &sources,
        policy: "/t.shr",
        strategy: shriek_compiler::lower::Strategy::Sequential,
    };
    let mut b = Batch::begin(1, None);
    match laid {
        Some(laid) => write_whole(&mut b, &desired, t, laid, &HashMap::new()),
        None => whole_table(&mut b, &desired, t, &HashMap::new()),
    }
    let subjects = (0..b.subjects.len() as u32)
        .map(|i| b.subject(b.first_seq.wrapping_add(i)).cloned().expect("said"))
        .collect();
    (b.w.raw().to_vec(), subjects)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Encoding a table whole from its layout's borrowed rules sends
    /// the bytes a copy of its layout sends, message for message:
    /// long chains in parts, chains that return or would go past the
    /// jump depth whole.
    #[test]
    fn borrowed_layout_encodes_as_the_copied_one(
        depth in 0usize..17,
        lens in proptest::collection::vec(
            proptest::sample::select(vec![0usize, 3, 1024, 1025, 2049, 3100]), 1..4),
        returns in proptest::collection::vec(proptest::bool::weighted(0.2), 1..3),
    ) {
        let t = chained_table(depth, &lens, &returns);
        let copied = copied_layout(&t);
        let laid: Vec<Laid> = copied.chains.iter().map(Laid::whole).collect();
        let (want, want_subjects) = whole_bytes(&copied, Some(&laid));
        let (got, got_subjects) = whole_bytes(&t, None);
        proptest::prop_assert!(got == want, "the batch bytes differ");
        proptest::prop_assert_eq!(got_subjects, want_subjects);
    }
}

/// The cases the property must reach: a long chain in parts, and one
/// kept whole at the kernel's jump depth.
#[test]
fn the_layout_property_sees_parts_and_whole_chains() {
    let parted = chained_table(0, &[3100], &[false]);
    assert_eq!(copied_layout(&parted).chains.len(), 5);
    let deep = chained_table(15, &[3100], &[false]);
    assert_eq!(copied_layout(&deep).chains.len(), 16);
    assert_eq!(layout::laid_out(&deep).len(), 16);
}

#[test]
fn prefix_and_port() {
    check(
        "encode_prefix_and_port",
        vec![
            is(&[Selector::Ip4Saddr], one(0x0a00_0000, 0x0aff_ffff)),
            is(&[Selector::L4proto], one(6, 6)),
            is(&[Selector::ThDport], one(1000, 2000)),
            Expr::Limit(Limit {
                rate: 5,
                per: shriek_compiler::ir::RateUnit::Minute,
                burst: Some(10),
            }),
            Expr::Verdict(Verdict::Jump("other".into())),
        ],
    );
}

#[test]
fn negated_concatenated_set() {
    check(
        "encode_negated_concat_set",
        vec![
            Expr::Match {
                key: vec![Selector::L4proto, Selector::ThDport],
                op: CmpOp::Ne,
                rhs: Rhs::Set(vec![
                    Elem(vec![Part::Int(6, 6), Part::Int(22, 22)]),
                    Elem(vec![Part::Int(17, 17), Part::Int(5000, 5100)]),
                ]),
            },
            Expr::Counter(Some("c".into())),
            Expr::Verdict(Verdict::Reject(shriek_compiler::ir::RejectWith::PortUnreachable)),
        ],
    );
}

#[test]
fn ifname_wildcard_and_ct_state() {
    check(
        "encode_ifname_ct",
        vec![
            is(&[Selector::Iifname], Rhs::Value(Elem(vec![Part::Str("eth*".into())]))),
            is(&[Selector::CtState], Rhs::Flags(8)),
            Expr::Log { prefix: Some("new: ".into()), level: None },
            Expr::Verdict(Verdict::Accept),
        ],
    );
}
