//! The nft model as nf_tables netlink messages.
//!
//! This is libnftnl's and libnftables' job done for shriek's smaller model:
//! a match becomes register loads (meta, payload, ct), then cmp, bitwise +
//! cmp for prefixes, range, or a set lookup; statements become their
//! expressions. Each message records what it came from ([`Subject`]), so a
//! kernel error can be traced back by sequence number to the policy rule.

use std::collections::HashMap;
use std::net::IpAddr;

use shriek_compiler::ir::{BaseChain, ChainKind, ChainPolicy, Hook, RateUnit};
use shriek_compiler::nft::{
    self, CmpOp, Data, DataType, Elem, Expr, NatFamily, NatKind, NatStmt, NatTargetExpr, Origin,
    Part, Pick, Rhs, Selector, Verdict,
};

use crate::abi::*;
use crate::msg::{Attrs, Writer};

/// What one message of a batch stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Subject {
    Batch,
    Table { table: String },
    Counter { table: String, name: String },
    Set { table: String, set: String },
    Elements { table: String, set: String, origin: Vec<Origin> },
    Chain { table: String, chain: String },
    Rule { table: String, chain: String, index: usize, origin: Vec<Origin> },
}

impl Subject {
    pub fn describe(&self) -> String {
        match self {
            Subject::Batch => "the batch".into(),
            Subject::Table { table } => format!("table `{table}`"),
            Subject::Counter { table, name } => format!("counter `{name}` in table `{table}`"),
            Subject::Set { table, set } => format!("set `{set}` in table `{table}`"),
            Subject::Elements { table, set, .. } => {
                format!("the elements of set `{set}` in table `{table}`")
            }
            Subject::Chain { table, chain } => format!("chain `{chain}` in table `{table}`"),
            Subject::Rule { table, chain, index, .. } => {
                format!("rule {} of chain `{chain}` in table `{table}`", index + 1)
            }
        }
    }

    pub fn origin(&self) -> Vec<Origin> {
        match self {
            Subject::Elements { origin, .. } | Subject::Rule { origin, .. } => origin.clone(),
            _ => Vec::new(),
        }
    }
}

/// One nfnetlink batch being written.
pub(crate) struct Batch {
    pub w: Writer,
    pub first_seq: u32,
    /// `subjects[seq - first_seq]` is what message `seq` stands for.
    pub subjects: Vec<Subject>,
    next_set_id: u32,
    pub tables: usize,
    pub chains: usize,
    pub rules: usize,
    pub elements: usize,
}

impl Batch {
    pub fn begin(first_seq: u32, genid: Option<u32>) -> Batch {
        let mut b = Batch {
            w: Writer::default(),
            first_seq,
            subjects: Vec::new(),
            next_set_id: 1,
            tables: 0,
            chains: 0,
            rules: 0,
            elements: 0,
        };
        let seq = b.seq(Subject::Batch);
        b.w.msg(NFNL_MSG_BATCH_BEGIN, 0, seq, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, |a| {
            if let Some(g) = genid {
                a.u32(NFNL_BATCH_GENID, g);
            }
        });
        b
    }

    pub fn end(&mut self) {
        let seq = self.seq(Subject::Batch);
        self.w.msg(NFNL_MSG_BATCH_END, 0, seq, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, |_| {});
    }

    pub fn seq(&mut self, s: Subject) -> u32 {
        let seq = self.first_seq.wrapping_add(self.subjects.len() as u32);
        self.subjects.push(s);
        seq
    }

    pub fn subject(&self, seq: u32) -> Option<&Subject> {
        self.subjects.get(seq.wrapping_sub(self.first_seq) as usize)
    }

    pub fn set_id(&mut self) -> u32 {
        self.next_set_id += 1;
        self.next_set_id
    }

    /// Makes sure table `name` exists, then deletes it with everything in
    /// it: the first step of replacing a table, and the whole of removing one.
    pub fn clear_table(&mut self, name: &str) {
        let seq = self.seq(Subject::Table { table: name.into() });
        self.w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, seq, |a| a.str(NFTA_TABLE_NAME, name));
        let seq = self.seq(Subject::Table { table: name.into() });
        self.w.nft(NFT_MSG_DELTABLE, 0, seq, |a| a.str(NFTA_TABLE_NAME, name));
    }
}

/// Writes `rs` into the batch: each table is emptied and rebuilt.
pub(crate) fn ruleset(b: &mut Batch, rs: &nft::Ruleset) {
    for t in &rs.tables {
        table(b, t);
    }
}

fn table(b: &mut Batch, t: &nft::Table) {
    let name = t.name.as_str();
    b.clear_table(name);
    let seq = b.seq(Subject::Table { table: name.into() });
    b.w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_TABLE_NAME, name);
        a.u32(NFTA_TABLE_FLAGS, 0);
    });
    b.tables += 1;
    for c in &t.counters {
        let seq = b.seq(Subject::Counter { table: name.into(), name: c.clone() });
        b.w.nft(NFT_MSG_NEWOBJ, NLM_F_CREATE, seq, |a| {
            a.str(NFTA_OBJ_TABLE, name);
            a.str(NFTA_OBJ_NAME, c);
            a.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
            a.nest(NFTA_OBJ_DATA, |d| {
                d.u64(NFTA_COUNTER_BYTES, 0);
                d.u64(NFTA_COUNTER_PACKETS, 0);
            });
        });
    }
    // Chains before sets and rules: verdict maps and jumps name them.
    for c in &t.chains {
        chain(b, name, c);
    }
    let mut set_ids = HashMap::new();
    for s in &t.sets {
        let id = b.set_id();
        set_ids.insert(s.name.clone(), id);
        named_set(b, name, s, id);
    }
    for c in &t.chains {
        for (i, r) in c.rules.iter().enumerate() {
            rule(b, name, &c.name, i, r, &set_ids);
        }
    }
}

fn chain(b: &mut Batch, table: &str, c: &nft::Chain) {
    let seq = b.seq(Subject::Chain { table: table.into(), chain: c.name.clone() });
    b.w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, &c.name);
        if let Some(base) = &c.base {
            base_chain(a, base);
        }
        if let Some(comment) = &c.comment {
            a.bytes(NFTA_CHAIN_USERDATA, &udata(NFTNL_UDATA_CHAIN_COMMENT, comment));
        }
    });
    b.chains += 1;
}

fn base_chain(a: &mut Attrs, base: &BaseChain) {
    let hook = match base.hook {
        Hook::Prerouting => NF_INET_PRE_ROUTING,
        Hook::Input => NF_INET_LOCAL_IN,
        Hook::Forward => NF_INET_FORWARD,
        Hook::Output => NF_INET_LOCAL_OUT,
        Hook::Postrouting => NF_INET_POST_ROUTING,
    };
    a.nest(NFTA_CHAIN_HOOK, |h| {
        h.u32(NFTA_HOOK_HOOKNUM, hook);
        h.u32(NFTA_HOOK_PRIORITY, base.priority as u32);
    });
    a.u32(
        NFTA_CHAIN_POLICY,
        match base.policy {
            ChainPolicy::Accept => NF_ACCEPT as u32,
            ChainPolicy::Drop => NF_DROP as u32,
        },
    );
    a.str(
        NFTA_CHAIN_TYPE,
        match base.kind {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
            ChainKind::Route => "route",
        },
    );
}

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
    let mut v = vec![ty, (text.len() + 1) as u8];
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

fn origin_comment(origin: &[Origin]) -> Option<String> {
    let o = origin.first()?;
    Some(format!(
        "r{}.{}.{}@{}:{}-{}",
        o.rule.table, o.rule.chain.0, o.rule.index, o.loc.file.0, o.loc.span.start, o.loc.span.end
    ))
}

// ---------------------------------------------------------------- sets

/// What a set's key looks like to the kernel.
struct KeySpec {
    ty: u32,
    len: u32,
    /// Field lengths of a concatenation, unpadded.
    fields: Vec<u32>,
    host_order: bool,
}

fn key_spec(key: &[Selector]) -> KeySpec {
    let mut ty = 0;
    let mut len = 0;
    for s in key {
        ty = (ty << TYPE_BITS) | type_of(*s);
        len += if key.len() > 1 { align4(s.len()) } else { s.len() } as u32;
    }
    KeySpec { ty, len, fields: key.iter().map(|s| s.len() as u32).collect(), host_order: false }
}

fn type_of(s: Selector) -> u32 {
    match s {
        Selector::Nfproto => TYPE_NFPROTO,
        Selector::L4proto => TYPE_INET_PROTOCOL,
        Selector::Ip4Saddr | Selector::Ip4Daddr => TYPE_IPADDR,
        Selector::Ip6Saddr | Selector::Ip6Daddr => TYPE_IP6ADDR,
        Selector::ThSport | Selector::ThDport => TYPE_INET_SERVICE,
        Selector::Iifname | Selector::Oifname => TYPE_IFNAME,
        Selector::CtState => TYPE_CT_STATE,
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

enum DataSpec {
    Verdict,
    Value { ty: u32, len: u32 },
}

struct SetDef<'a> {
    table: &'a str,
    name: &'a str,
    id: u32,
    key: KeySpec,
    flags: u32,
    data: Option<DataSpec>,
    comment: Option<&'a str>,
    /// Each element's attributes: the inside of one NFTA_LIST_ELEM.
    elements: Vec<Vec<u8>>,
    /// Kernel-facing description of where elements came from, for errors.
    origin: Vec<Origin>,
}

fn emit_set(b: &mut Batch, s: &SetDef) {
    let seq = b.seq(Subject::Set { table: s.table.into(), set: s.name.into() });
    b.w.nft(NFT_MSG_NEWSET, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_SET_TABLE, s.table);
        a.str(NFTA_SET_NAME, s.name);
        a.u32(NFTA_SET_FLAGS, s.flags);
        a.u32(NFTA_SET_KEY_TYPE, s.key.ty);
        a.u32(NFTA_SET_KEY_LEN, s.key.len);
        match &s.data {
            Some(DataSpec::Verdict) => a.u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT),
            Some(DataSpec::Value { ty, len }) => {
                a.u32(NFTA_SET_DATA_TYPE, *ty);
                a.u32(NFTA_SET_DATA_LEN, *len);
            }
            None => {}
        }
        let concat = s.flags & NFT_SET_CONCAT != 0;
        let anonymous = s.flags & NFT_SET_ANONYMOUS != 0;
        if concat || anonymous {
            a.nest(NFTA_SET_DESC, |d| {
                if anonymous {
                    d.u32(NFTA_SET_DESC_SIZE, s.elements.len() as u32);
                }
                if concat {
                    d.nest(NFTA_SET_DESC_CONCAT, |c| {
                        for f in &s.key.fields {
                            c.nest(NFTA_LIST_ELEM, |e| e.u32(NFTA_SET_FIELD_LEN, *f));
                        }
                    });
                }
            });
        }
        a.u32(NFTA_SET_ID, s.id);
        let mut ud = Vec::new();
        if s.key.host_order {
            // NFTNL_UDATA_SET_KEYBYTEORDER = host, so nft prints numbers.
            ud.extend_from_slice(&[0, 4]);
            ud.extend_from_slice(&1u32.to_ne_bytes());
        }
        if let Some(c) = s.comment {
            ud.extend_from_slice(&udata(NFTNL_UDATA_SET_COMMENT, c));
        }
        if !ud.is_empty() {
            a.bytes(NFTA_SET_USERDATA, &ud);
        }
    });
    // An attribute's length is 16 bits: split elements over messages.
    let mut i = 0;
    while i < s.elements.len() {
        let mut j = i;
        let mut size = 0;
        while j < s.elements.len() && (j == i || size + s.elements[j].len() + 4 < 60_000) {
            size += s.elements[j].len() + 4;
            j += 1;
        }
        let seq = b.seq(Subject::Elements {
            table: s.table.into(),
            set: s.name.into(),
            origin: s.origin.clone(),
        });
        b.w.nft(NFT_MSG_NEWSETELEM, NLM_F_CREATE, seq, |a| {
            a.str(NFTA_SET_ELEM_LIST_TABLE, s.table);
            a.str(NFTA_SET_ELEM_LIST_SET, s.name);
            a.u32(NFTA_SET_ELEM_LIST_SET_ID, s.id);
            a.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
                for e in &s.elements[i..j] {
                    l.nest(NFTA_LIST_ELEM, |x| x.buf.extend_from_slice(e));
                }
            });
        });
        i = j;
    }
}

fn named_set(b: &mut Batch, table: &str, s: &nft::Set, id: u32) {
    let mut flags = 0;
    if s.interval {
        flags |= NFT_SET_INTERVAL;
        if s.key.len() > 1 {
            flags |= NFT_SET_CONCAT;
        }
    }
    let data = s.data.map(|d| {
        flags |= NFT_SET_MAP;
        data_spec(d)
    });
    let mut elements = Vec::new();
    let mut origin = Vec::new();
    for e in &s.elements {
        let data = e.data.as_ref().map(data_bytes);
        let comment = origin_comment(&e.origin);
        set_element(&mut elements, &s.key, &e.key, s.interval, data.as_ref(), comment.as_deref());
        origin.extend(e.origin.iter().copied());
    }
    origin.sort();
    origin.dedup();
    b.elements += s.elements.len();
    emit_set(
        b,
        &SetDef {
            table,
            name: &s.name,
            id,
            key: key_spec(&s.key),
            flags,
            data,
            comment: s.comment.as_deref(),
            elements,
            origin,
        },
    );
}

fn data_spec(d: DataType) -> DataSpec {
    match d {
        DataType::Verdict => DataSpec::Verdict,
        DataType::NatTarget { v6, with_port } => {
            let (ty, len) = if v6 { (TYPE_IP6ADDR, 16) } else { (TYPE_IPADDR, 4) };
            if with_port {
                DataSpec::Value { ty: ty << TYPE_BITS | TYPE_INET_SERVICE, len: len + 4 }
            } else {
                DataSpec::Value { ty, len }
            }
        }
    }
}

/// A set element's data, already as NFTA_DATA_* attributes.
fn data_bytes(d: &Data) -> Vec<u8> {
    let mut v = Vec::new();
    let mut a = Attrs { buf: &mut v };
    match d {
        Data::Verdict(verdict) => verdict_data(&mut a, verdict),
        Data::NatTarget { addr, port } => a.bytes(NFTA_DATA_VALUE, &nat_value(*addr, *port)),
    }
    v
}

fn nat_value(addr: IpAddr, port: Option<u16>) -> Vec<u8> {
    let mut v = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    if let Some(p) = port {
        v.extend_from_slice(&p.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
    }
    v
}

/// Appends the kernel elements for one model element: one for a value or
/// a concatenation, a start and an end element for a range in a
/// single-field interval set (no end when the range reaches the top).
fn set_element(
    out: &mut Vec<Vec<u8>>,
    key: &[Selector],
    elem: &Elem,
    interval: bool,
    data: Option<&Vec<u8>>,
    comment: Option<&str>,
) {
    let concat = key.len() > 1;
    let lo = key_bytes(key, elem, false);
    let hi = key_bytes(key, elem, true);
    let mut start = Vec::new();
    {
        let mut a = Attrs { buf: &mut start };
        a.nest(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, &lo));
        if interval && concat {
            a.nest(NFTA_SET_ELEM_KEY_END, |k| k.bytes(NFTA_DATA_VALUE, &hi));
        }
        if let Some(d) = data {
            a.nest(NFTA_SET_ELEM_DATA, |x| x.buf.extend_from_slice(d));
        }
        if let Some(c) = comment {
            a.bytes(NFTA_SET_ELEM_USERDATA, &udata(NFTNL_UDATA_SET_ELEM_COMMENT, c));
        }
    }
    out.push(start);
    if interval && !concat {
        if let Some(end) = increment(&hi) {
            let mut v = Vec::new();
            let mut a = Attrs { buf: &mut v };
            a.nest(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, &end));
            a.u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
            out.push(v);
        }
    }
}

/// The big-endian successor of `v`, or `None` past the top.
fn increment(v: &[u8]) -> Option<Vec<u8>> {
    let mut v = v.to_vec();
    for b in v.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(v);
        }
    }
    None
}

/// A key as the kernel stores it: each field in its own width, padded to
/// a 32-bit register in a concatenation. `hi` picks a range's upper end.
fn key_bytes(key: &[Selector], elem: &Elem, hi: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for (s, p) in key.iter().zip(&elem.0) {
        let b = part_bytes(*s, p, hi);
        v.extend_from_slice(&b);
        if key.len() > 1 {
            v.resize(align4(v.len()), 0);
        }
    }
    v
}

fn part_bytes(s: Selector, p: &Part, hi: bool) -> Vec<u8> {
    match p {
        Part::Int(l, h) => int_bytes(s, if hi { *h } else { *l }),
        Part::Str(name) => ifname(name),
    }
}

fn int_bytes(s: Selector, v: u128) -> Vec<u8> {
    match s {
        // The conntrack state sits in its register in host order.
        Selector::CtState => (v as u32).to_ne_bytes().to_vec(),
        _ => v.to_be_bytes()[16 - s.len()..].to_vec(),
    }
}

fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.truncate(15);
    v.resize(16, 0);
    v
}

/// What `plan` compares of a named set: its (key type, key length,
/// flags) and each kernel element's signature.
pub(crate) fn set_plan(s: &nft::Set) -> ((u32, u32, u32), Vec<String>) {
    let mut flags = 0;
    if s.interval {
        flags |= NFT_SET_INTERVAL;
        if s.key.len() > 1 {
            flags |= NFT_SET_CONCAT;
        }
    }
    if s.data.is_some() {
        flags |= NFT_SET_MAP;
    }
    let spec = key_spec(&s.key);
    let mut elements = Vec::new();
    for e in &s.elements {
        let data = e.data.as_ref().map(data_bytes);
        set_element(&mut elements, &s.key, &e.key, s.interval, data.as_ref(), None);
    }
    ((spec.ty, spec.len, flags), elements.iter().map(|e| element_signature(e)).collect())
}

/// An element's key, end, flags and data, independent of how the
/// attributes were nested: the same for what we send and what the kernel
/// dumps.
pub(crate) fn element_signature(e: &[u8]) -> String {
    use crate::msg::{attr, attr_str, attr_u32};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let value =
        |ty: u16| attr(e, ty).and_then(|k| attr(k, NFTA_DATA_VALUE)).map(hex).unwrap_or_default();
    let flags = attr_u32(e, NFTA_SET_ELEM_FLAGS).unwrap_or(0) & NFT_SET_ELEM_INTERVAL_END;
    let data = match attr(e, NFTA_SET_ELEM_DATA) {
        None => String::new(),
        Some(d) => match attr(d, NFTA_DATA_VERDICT) {
            Some(v) => format!(
                "{}:{}",
                attr_u32(v, NFTA_VERDICT_CODE).unwrap_or(0) as i32,
                attr_str(v, NFTA_VERDICT_CHAIN).unwrap_or_default()
            ),
            None => attr(d, NFTA_DATA_VALUE).map(hex).unwrap_or_default(),
        },
    };
    format!("{}-{}/{flags}={data}", value(NFTA_SET_ELEM_KEY), value(NFTA_SET_ELEM_KEY_END))
}

// ---------------------------------------------------------------- rules

struct RuleCx<'a> {
    set_ids: &'a HashMap<String, u32>,
    /// Anonymous sets made for this rule, in the order its expressions use them.
    anon: std::vec::IntoIter<u32>,
    /// The family a `meta nfproto` match has already fixed.
    nfproto: Option<u8>,
}

fn rule(
    b: &mut Batch,
    table: &str,
    chain: &str,
    index: usize,
    r: &nft::Rule,
    set_ids: &HashMap<String, u32>,
) {
    // Anonymous sets first: the rule's lookups bind them by id.
    let mut anon = Vec::new();
    for e in &r.exprs {
        match e {
            Expr::Match { key, op: _, rhs } => {
                let elems: Option<&[Elem]> = match rhs {
                    Rhs::Set(elems) => Some(elems),
                    Rhs::Value(v) if key.len() > 1 => Some(std::slice::from_ref(v)),
                    _ => None,
                };
                if let Some(elems) = elems {
                    anon.push(anon_set(b, table, key, elems, &r.origin));
                }
            }
            Expr::Nat(NatStmt { target: NatTargetExpr::Balanced { slots, .. }, .. }) => {
                anon.push(anon_nat_map(b, table, slots, &r.origin));
            }
            _ => {}
        }
    }
    let seq = b.seq(Subject::Rule {
        table: table.into(),
        chain: chain.into(),
        index,
        origin: r.origin.clone(),
    });
    let mut cx = RuleCx { set_ids, anon: anon.into_iter(), nfproto: None };
    b.w.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, seq, |a| {
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
        a.nest(NFTA_RULE_EXPRESSIONS, |x| {
            for e in &r.exprs {
                expr(x, &mut cx, e);
            }
        });
        a.bytes(NFTA_RULE_USERDATA, &udata(NFTNL_UDATA_RULE_COMMENT, &rule_comment(r)));
    });
    b.rules += 1;
}

fn anon_set(
    b: &mut Batch,
    table: &str,
    key: &[Selector],
    elems: &[Elem],
    origin: &[Origin],
) -> u32 {
    let interval = elems.iter().any(|e| e.0.iter().any(|p| matches!(p, Part::Int(l, h) if l != h)));
    let mut flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
    if interval {
        flags |= NFT_SET_INTERVAL;
        if key.len() > 1 {
            flags |= NFT_SET_CONCAT;
        }
    }
    let mut elements = Vec::new();
    for e in elems {
        set_element(&mut elements, key, e, interval, None, None);
    }
    let id = b.set_id();
    emit_set(
        b,
        &SetDef {
            table,
            name: "__set%d",
            id,
            key: key_spec(key),
            flags,
            data: None,
            comment: None,
            elements,
            origin: origin.to_vec(),
        },
    );
    id
}

/// The map from a numgen or hash slot to a NAT backend.
fn anon_nat_map(
    b: &mut Batch,
    table: &str,
    slots: &[(u32, u32, IpAddr, Option<u16>)],
    origin: &[Origin],
) -> u32 {
    let v6 = slots.iter().any(|s| s.2.is_ipv6());
    let with_port = slots.iter().any(|s| s.3.is_some());
    let mut elements = Vec::new();
    for &(lo, hi, addr, port) in slots {
        // Slots are host-order integers, which an interval set would
        // order wrongly, so a range of slots becomes one element each.
        for slot in lo..=hi {
            let mut v = Vec::new();
            let mut a = Attrs { buf: &mut v };
            a.nest(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, &slot.to_ne_bytes()));
            let value = nat_value(addr, if with_port { Some(port.unwrap_or(0)) } else { None });
            a.nest(NFTA_SET_ELEM_DATA, |d| d.bytes(NFTA_DATA_VALUE, &value));
            elements.push(v);
        }
    }
    let id = b.set_id();
    emit_set(
        b,
        &SetDef {
            table,
            name: "__map%d",
            id,
            key: KeySpec { ty: TYPE_INTEGER, len: 4, fields: vec![4], host_order: true },
            flags: NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP,
            data: Some(data_spec(DataType::NatTarget { v6, with_port })),
            comment: None,
            elements,
            origin: origin.to_vec(),
        },
    );
    id
}

/// Register for the 32-bit word `word` of the scratch area: the first is
/// NFT_REG_1, as nft writes it, the rest NFT_REG32_xx.
fn reg(word: usize) -> u32 {
    if word == 0 {
        1
    } else {
        NFT_REG32_00 + word as u32
    }
}

fn kernel_expr(a: &mut Attrs, name: &str, data: impl FnOnce(&mut Attrs)) {
    a.nest(NFTA_LIST_ELEM, |e| {
        e.str(NFTA_EXPR_NAME, name);
        e.nest(NFTA_EXPR_DATA, data);
    });
}

fn meta(a: &mut Attrs, key: u32, dreg: u32) {
    kernel_expr(a, "meta", |d| {
        d.u32(NFTA_META_KEY, key);
        d.u32(NFTA_META_DREG, dreg);
    });
}

fn payload(a: &mut Attrs, base: u32, offset: u32, len: u32, dreg: u32) {
    kernel_expr(a, "payload", |d| {
        d.u32(NFTA_PAYLOAD_DREG, dreg);
        d.u32(NFTA_PAYLOAD_BASE, base);
        d.u32(NFTA_PAYLOAD_OFFSET, offset);
        d.u32(NFTA_PAYLOAD_LEN, len);
    });
}

fn cmp(a: &mut Attrs, op: u32, sreg: u32, data: &[u8]) {
    kernel_expr(a, "cmp", |d| {
        d.u32(NFTA_CMP_SREG, sreg);
        d.u32(NFTA_CMP_OP, op);
        d.nest(NFTA_CMP_DATA, |v| v.bytes(NFTA_DATA_VALUE, data));
    });
}

fn bitwise(a: &mut Attrs, reg: u32, mask: &[u8]) {
    kernel_expr(a, "bitwise", |d| {
        d.u32(NFTA_BITWISE_SREG, reg);
        d.u32(NFTA_BITWISE_DREG, reg);
        d.u32(NFTA_BITWISE_LEN, mask.len() as u32);
        d.nest(NFTA_BITWISE_MASK, |v| v.bytes(NFTA_DATA_VALUE, mask));
        d.nest(NFTA_BITWISE_XOR, |v| v.bytes(NFTA_DATA_VALUE, &vec![0; mask.len()]));
    });
}

fn immediate_value(a: &mut Attrs, dreg: u32, data: &[u8]) {
    kernel_expr(a, "immediate", |d| {
        d.u32(NFTA_IMMEDIATE_DREG, dreg);
        d.nest(NFTA_IMMEDIATE_DATA, |v| v.bytes(NFTA_DATA_VALUE, data));
    });
}

fn verdict_data(a: &mut Attrs, v: &Verdict) {
    let (code, chain) = match v {
        Verdict::Accept => (NF_ACCEPT, None),
        // A reject in a map has no expression to run; dropping is the
        // closest the kernel can do there.
        Verdict::Drop | Verdict::Reject => (NF_DROP, None),
        Verdict::Jump(c) => (NFT_JUMP, Some(c)),
        Verdict::Goto(c) => (NFT_GOTO, Some(c)),
        Verdict::Return => (NFT_RETURN, None),
        Verdict::Continue => (NFT_CONTINUE, None),
    };
    a.nest(NFTA_DATA_VERDICT, |x| {
        x.u32(NFTA_VERDICT_CODE, code as u32);
        if let Some(c) = chain {
            x.str(NFTA_VERDICT_CHAIN, c);
        }
    });
}

fn family_of(s: Selector) -> Option<u8> {
    match s {
        Selector::Ip4Saddr | Selector::Ip4Daddr => Some(2),
        Selector::Ip6Saddr | Selector::Ip6Daddr => Some(10),
        _ => None,
    }
}

impl RuleCx<'_> {
    /// In an inet table, an address load is only meaningful after the
    /// packet's family is known: match `meta nfproto` first unless done.
    fn require_family(&mut self, a: &mut Attrs, family: Option<u8>) {
        if let Some(f) = family {
            if self.nfproto != Some(f) {
                meta(a, NFT_META_NFPROTO, 1);
                cmp(a, NFT_CMP_EQ, 1, &[f]);
                self.nfproto = Some(f);
            }
        }
    }

    fn load(&mut self, a: &mut Attrs, s: Selector, dreg: u32) {
        self.require_family(a, family_of(s));
        let nh = NFT_PAYLOAD_NETWORK_HEADER;
        let th = NFT_PAYLOAD_TRANSPORT_HEADER;
        match s {
            Selector::Nfproto => meta(a, NFT_META_NFPROTO, dreg),
            Selector::L4proto => meta(a, NFT_META_L4PROTO, dreg),
            Selector::Ip4Saddr => payload(a, nh, 12, 4, dreg),
            Selector::Ip4Daddr => payload(a, nh, 16, 4, dreg),
            Selector::Ip6Saddr => payload(a, nh, 8, 16, dreg),
            Selector::Ip6Daddr => payload(a, nh, 24, 16, dreg),
            Selector::ThSport => payload(a, th, 0, 2, dreg),
            Selector::ThDport => payload(a, th, 2, 2, dreg),
            Selector::Iifname => meta(a, NFT_META_IIFNAME, dreg),
            Selector::Oifname => meta(a, NFT_META_OIFNAME, dreg),
            Selector::CtState => kernel_expr(a, "ct", |d| {
                d.u32(NFTA_CT_KEY, NFT_CT_STATE);
                d.u32(NFTA_CT_DREG, dreg);
            }),
        }
    }

    /// Loads a (possibly concatenated) key into consecutive registers and
    /// returns the first.
    fn load_key(&mut self, a: &mut Attrs, key: &[Selector]) -> u32 {
        let mut word = 0;
        for s in key {
            self.load(a, *s, reg(word));
            word += align4(s.len()) / 4;
        }
        reg(0)
    }

    fn lookup(
        &mut self,
        a: &mut Attrs,
        key: &[Selector],
        set: &str,
        id: Option<u32>,
        dreg: Option<u32>,
        inv: bool,
    ) {
        let sreg = self.load_key(a, key);
        kernel_expr(a, "lookup", |d| {
            d.str(NFTA_LOOKUP_SET, set);
            if let Some(id) = id {
                d.u32(NFTA_LOOKUP_SET_ID, id);
            }
            d.u32(NFTA_LOOKUP_SREG, sreg);
            if let Some(r) = dreg {
                d.u32(NFTA_LOOKUP_DREG, r);
            }
            if inv {
                d.u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
            }
        });
    }
}

fn expr(a: &mut Attrs, cx: &mut RuleCx, e: &Expr) {
    match e {
        Expr::Match { key, op, rhs } => match_expr(a, cx, key, *op, rhs),
        Expr::Counter(None) => kernel_expr(a, "counter", |_| {}),
        Expr::Counter(Some(name)) => kernel_expr(a, "objref", |d| {
            d.u32(NFTA_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
            d.str(NFTA_OBJREF_IMM_NAME, name);
        }),
        Expr::Log { prefix } => kernel_expr(a, "log", |d| {
            if let Some(p) = prefix {
                d.str(NFTA_LOG_PREFIX, p);
            }
        }),
        Expr::Limit(l) => kernel_expr(a, "limit", |d| {
            let unit = match l.per {
                RateUnit::Second => 1,
                RateUnit::Minute => 60,
                RateUnit::Hour => 3600,
                RateUnit::Day => 86400,
            };
            d.u64(NFTA_LIMIT_RATE, l.rate);
            d.u64(NFTA_LIMIT_UNIT, unit);
            d.u32(NFTA_LIMIT_BURST, l.burst.unwrap_or(5));
            d.u32(NFTA_LIMIT_TYPE, NFT_LIMIT_PKTS);
            d.u32(NFTA_LIMIT_FLAGS, 0);
        }),
        Expr::Verdict(Verdict::Reject) => kernel_expr(a, "reject", |d| {
            d.u32(NFTA_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
            d.bytes(NFTA_REJECT_ICMP_CODE, &[NFT_REJECT_ICMPX_PORT_UNREACH]);
        }),
        Expr::Verdict(v) => kernel_expr(a, "immediate", |d| {
            d.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
            d.nest(NFTA_IMMEDIATE_DATA, |x| verdict_data(x, v));
        }),
        Expr::Vmap { key, map } => {
            let id = cx.set_ids.get(map).copied();
            cx.lookup(a, key, map, id, Some(NFT_REG_VERDICT), false);
        }
        Expr::Nat(n) => nat(a, cx, n),
    }
}

fn match_expr(a: &mut Attrs, cx: &mut RuleCx, key: &[Selector], op: CmpOp, rhs: &Rhs) {
    let cmp_op = match op {
        CmpOp::Eq => NFT_CMP_EQ,
        CmpOp::Ne => NFT_CMP_NEQ,
    };
    match rhs {
        Rhs::Value(v) if key.len() == 1 && v.0.len() == 1 => {
            let s = key[0];
            if s == Selector::Nfproto && op == CmpOp::Eq {
                if let Part::Int(l, h) = v.0[0] {
                    if l == h && cx.nfproto == Some(l as u8) {
                        return; // already checked for an address match
                    }
                }
            }
            cx.load(a, s, 1);
            match &v.0[0] {
                Part::Str(name) => match name.strip_suffix('*') {
                    Some(prefix) => cmp(a, cmp_op, 1, prefix.as_bytes()),
                    None => cmp(a, cmp_op, 1, &ifname(name)),
                },
                Part::Int(l, h) if l == h => cmp(a, cmp_op, 1, &int_bytes(s, *l)),
                Part::Int(l, h) => {
                    let size = h - l;
                    let prefix =
                        family_of(s).is_some() && size & size.wrapping_add(1) == 0 && l & size == 0;
                    if prefix {
                        let width = s.len() * 8;
                        let mask = !size & (u128::MAX >> (128 - width));
                        bitwise(a, 1, &int_bytes(s, mask));
                        cmp(a, cmp_op, 1, &int_bytes(s, *l));
                    } else {
                        kernel_expr(a, "range", |d| {
                            d.u32(NFTA_RANGE_SREG, 1);
                            d.u32(
                                NFTA_RANGE_OP,
                                if op == CmpOp::Eq { NFT_RANGE_EQ } else { NFT_RANGE_NEQ },
                            );
                            d.nest(NFTA_RANGE_FROM_DATA, |x| {
                                x.bytes(NFTA_DATA_VALUE, &int_bytes(s, *l))
                            });
                            d.nest(NFTA_RANGE_TO_DATA, |x| {
                                x.bytes(NFTA_DATA_VALUE, &int_bytes(s, *h))
                            });
                        });
                    }
                }
            }
            if s == Selector::Nfproto && op == CmpOp::Eq {
                if let Part::Int(l, h) = v.0[0] {
                    if l == h {
                        cx.nfproto = Some(l as u8);
                    }
                }
            }
        }
        Rhs::Value(_) | Rhs::Set(_) => {
            let id = cx.anon.next().expect("an anonymous set was made for each set match");
            cx.lookup(a, key, "__set%d", Some(id), None, op == CmpOp::Ne);
        }
        Rhs::Named(name) => {
            let id = cx.set_ids.get(name).copied();
            cx.lookup(a, key, name, id, None, op == CmpOp::Ne);
        }
        Rhs::Flags(bits) => {
            for s in key {
                cx.load(a, *s, 1);
            }
            bitwise(a, 1, &bits.to_ne_bytes());
            let op = if op == CmpOp::Eq { NFT_CMP_NEQ } else { NFT_CMP_EQ };
            cmp(a, op, 1, &0u32.to_ne_bytes());
        }
    }
}

fn nat(a: &mut Attrs, cx: &mut RuleCx, n: &NatStmt) {
    let family = |addr: Option<IpAddr>| -> u32 {
        match (n.family, addr) {
            (Some(NatFamily::Ip6), _) | (None, Some(IpAddr::V6(_))) => 10,
            _ => 2,
        }
    };
    let addr_bytes = |addr: IpAddr| match addr {
        IpAddr::V4(x) => x.octets().to_vec(),
        IpAddr::V6(x) => x.octets().to_vec(),
    };
    match (n.kind, &n.target) {
        (NatKind::Masquerade, NatTargetExpr::None { port }) => {
            if let Some(p) = port {
                immediate_value(a, 1, &p.to_be_bytes());
            }
            kernel_expr(a, "masq", |d| {
                if port.is_some() {
                    d.u32(NFTA_MASQ_REG_PROTO_MIN, 1);
                    d.u32(NFTA_MASQ_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            });
        }
        (NatKind::Redirect, NatTargetExpr::None { port })
        | (NatKind::Redirect, NatTargetExpr::Fixed { port, .. }) => {
            if let Some(p) = port {
                immediate_value(a, 1, &p.to_be_bytes());
            }
            kernel_expr(a, "redir", |d| {
                if port.is_some() {
                    d.u32(NFTA_REDIR_REG_PROTO_MIN, 1);
                    d.u32(NFTA_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            });
        }
        (kind, target) => {
            let ty = if kind == NatKind::Snat { NFT_NAT_SNAT } else { NFT_NAT_DNAT };
            let (addr_reg, port_reg, fam) = match target {
                NatTargetExpr::None { port } => {
                    if let Some(p) = port {
                        immediate_value(a, 1, &p.to_be_bytes());
                    }
                    (None, port.map(|_| 1), family(None))
                }
                NatTargetExpr::Fixed { addr, port } => {
                    immediate_value(a, 1, &addr_bytes(*addr));
                    if let Some(p) = port {
                        immediate_value(a, 2, &p.to_be_bytes());
                    }
                    (Some(1), port.map(|_| 2), family(Some(*addr)))
                }
                NatTargetExpr::Balanced { pick, modulus, slots } => {
                    let first = slots.first().map(|s| s.2);
                    let fam = family(first);
                    match pick {
                        Pick::RoundRobin | Pick::Random => kernel_expr(a, "numgen", |d| {
                            d.u32(NFTA_NG_DREG, 1);
                            d.u32(NFTA_NG_MODULUS, *modulus);
                            d.u32(
                                NFTA_NG_TYPE,
                                if *pick == Pick::Random {
                                    NFT_NG_RANDOM
                                } else {
                                    NFT_NG_INCREMENTAL
                                },
                            );
                            d.u32(NFTA_NG_OFFSET, 0);
                        }),
                        Pick::SourceHash { seed } => {
                            let (sel, len) = if fam == 10 {
                                (Selector::Ip6Saddr, 16)
                            } else {
                                (Selector::Ip4Saddr, 4)
                            };
                            cx.load(a, sel, 1);
                            kernel_expr(a, "hash", |d| {
                                d.u32(NFTA_HASH_SREG, 1);
                                d.u32(NFTA_HASH_DREG, 1);
                                d.u32(NFTA_HASH_LEN, len);
                                d.u32(NFTA_HASH_MODULUS, *modulus);
                                d.u32(NFTA_HASH_SEED, *seed);
                                d.u32(NFTA_HASH_OFFSET, 0);
                                d.u32(NFTA_HASH_TYPE, NFT_HASH_JENKINS);
                            });
                        }
                    }
                    let id =
                        cx.anon.next().expect("an anonymous map was made for each balanced nat");
                    kernel_expr(a, "lookup", |d| {
                        d.str(NFTA_LOOKUP_SET, "__map%d");
                        d.u32(NFTA_LOOKUP_SET_ID, id);
                        d.u32(NFTA_LOOKUP_SREG, 1);
                        d.u32(NFTA_LOOKUP_DREG, 1);
                    });
                    let with_port = slots.iter().any(|s| s.3.is_some());
                    let words = if fam == 10 { 4 } else { 1 };
                    (Some(1), with_port.then_some(reg(words)), fam)
                }
            };
            kernel_expr(a, "nat", |d| {
                d.u32(NFTA_NAT_TYPE, ty);
                d.u32(NFTA_NAT_FAMILY, fam);
                if let Some(r) = addr_reg {
                    d.u32(NFTA_NAT_REG_ADDR_MIN, r);
                }
                if let Some(r) = port_reg {
                    d.u32(NFTA_NAT_REG_PROTO_MIN, r);
                    d.u32(NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    //! Encodings checked without a kernel: each rule's expressions printed
    //! the way `nft --debug=netlink` lists them, as nested attributes.

    use super::*;
    use crate::msg;
    use shriek_compiler::ir::{ChainId, Limit, RuleId};
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
        let rs = nft::Ruleset {
            tables: vec![nft::Table {
                name: "t".into(),
                sets: vec![],
                counters: vec![],
                chains: vec![nft::Chain {
                    name: "c".into(),
                    base: None,
                    rules: vec![nft::Rule { exprs, origin: vec![origin] }],
                    comment: None,
                }],
            }],
        };
        let mut b = Batch::begin(1, None);
        ruleset(&mut b, &rs);
        let mut out = String::new();
        // Skip BATCH_BEGIN, NEWTABLE, DELTABLE, NEWTABLE and NEWCHAIN.
        for m in msg::messages(&b.w.buf).skip(5) {
            let attrs = m.nft_attrs();
            out.push_str(&format!("msg {}\n", m.ty & 0xff));
            match msg::attr(attrs, NFTA_RULE_EXPRESSIONS).filter(|_| m.ty & 0xff == NFT_MSG_NEWRULE)
            {
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
                Expr::Verdict(Verdict::Reject),
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
                Expr::Log { prefix: Some("new: ".into()) },
                Expr::Verdict(Verdict::Accept),
            ],
        );
    }

    #[test]
    fn successor_of_keys() {
        assert_eq!(increment(&[0x0a, 0xff]), Some(vec![0x0b, 0x00]));
        assert_eq!(increment(&[0xff, 0xff]), None);
    }

    #[test]
    fn long_comments_are_cut_to_fit() {
        let long = "é".repeat(200);
        let u = udata(0, &long);
        assert!(u.len() <= 253 && u[1] as usize == u.len() - 2 && *u.last().unwrap() == 0);
    }
}
