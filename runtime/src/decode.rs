//! The live tables read back into the nft model: the inverse of `encode`.
//!
//! A table dump (its table, objects, chains, sets with their elements, and
//! rules, as the kernel describes them) becomes an [`nft::Table`] that the
//! structural diff can compare with a compiled one, plus what only the
//! kernel knows: each rule's handle and comment, the identity `apply`
//! stored with it, the counters' values, and the table's owner.
//!
//! Anonymous sets and NAT maps fold back into the rules that use them
//! ([`expr`]); named sets get their key from the rules that look them up,
//! or from their type ([`set`]). Nothing is dropped: an expression the
//! model has no word for becomes raw text, a set or object it cannot hold
//! is named in [`LiveTable::unmodelled`].

use std::collections::HashMap;

use shriek_compiler::identity::Identity;
use shriek_compiler::ir::{BaseChain, ChainKind, ChainPolicy, Hook};
use shriek_compiler::nft;

use crate::abi::*;
use crate::counters::Count;
use crate::dump::TableDump;
use crate::msg::{attr, attr_str, attr_u32, attr_u64};

mod expr;
mod set;
pub(crate) mod staged;

use set::SetInfo;
pub(crate) use set::{udata_string, udata_tlvs};

/// One live table, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTable {
    pub table: nft::Table,
    pub owner: Owner,
    /// Per chain of `table`, per rule: what only the kernel knows.
    pub rules: Vec<Vec<LiveRule>>,
    /// Per chain of `table`: the parts it is laid out in, in order, or
    /// nothing when it is one chain in the kernel too (see `layout`).
    pub parts: Vec<Vec<String>>,
    /// The parts and sub-parts that only packets of one protocol reach,
    /// with that protocol (`layout`, keyed parts): their rules are held
    /// without their first expression, `meta l4proto P`, which the model
    /// has back.
    pub part_keys: HashMap<String, u8>,
    /// Each named counter's value now: (name, packets, bytes).
    pub counter_values: Vec<(String, u64, u64)>,
    /// Per counting named set (a dispatch map with per-rule counters), each
    /// element's count by its key as the kernel holds it (see
    /// `encode::key_bytes`).
    pub element_counts: HashMap<String, HashMap<Vec<u8>, Count>>,
    /// Sets and objects the model cannot hold, in words, e.g. "quota
    /// object `q`": shown by `plan`, removed with the table only.
    pub unmodelled: Vec<String>,
    /// Whether the table holds the record object ([`RECORD_OBJECT`]),
    /// which `apply` replaces when it rebuilds the table.
    pub record: bool,
    /// The kernel's name of each set of `table` whose name there is not
    /// the policy's (one made in a stage of its own, see [`staged`]), by
    /// the policy's name.
    pub set_names: HashMap<String, String>,
    /// Staged sets no rule uses, which an interrupted `apply` left
    /// behind, by their kernel names: not part of `table`; the next
    /// `apply` deletes them.
    pub staged: Vec<String>,
    /// Counting sets whose elements came from the day-2 cache, without
    /// their counts (not in `element_counts`), with the set's attributes
    /// as the kernel gave them: `apply` reads the counts of the elements
    /// that go (`plan::count_leaving`).
    pub uncounted: HashMap<String, Vec<u8>>,
}

impl LiveTable {
    /// The kernel's name of the table's set `model`.
    pub(crate) fn kernel_set<'a>(&'a self, model: &'a str) -> &'a str {
        self.set_names.get(model).map_or(model, String::as_str)
    }
}

/// Who made a table, from the marker in its user data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No marker: made by another program, or by `nft -f` (from `compile`).
    Unmarked,
    /// Made by shriekc from `policy` with `strategy`.
    Shriek { policy: String, strategy: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRule {
    pub handle: u64,
    /// The comment nft shows: for shriekc's rules, `file:line`.
    pub comment: Option<String>,
    /// The identity `apply` stored with the rule, when it did.
    pub stored: Option<Identity>,
    /// The values of the rule's anonymous counters, in order.
    pub counts: Vec<Count>,
    /// Per slot of its balanced NAT map, when that map counts: the new
    /// connections the slot's backend was given.
    pub slots: Vec<(u32, Count)>,
    /// The named map its balanced translation picks from, which goes when
    /// the rule goes (`shriek_compiler::emit::nat_map`); `None` for an
    /// anonymous one (`nft -j -f` of `compile --emit json`).
    pub nat_map: Option<String>,
    /// The part of its chain that holds the rule, when the chain is laid
    /// out in parts.
    pub part: Option<String>,
    /// Its own interval sets, made before it under names of their own
    /// (`staged::own_name`), which go when the rule goes.
    pub own: Vec<String>,
}

impl LiveRule {
    /// The chain the kernel holds the rule in: its part, or `chain`.
    pub(crate) fn kernel_chain<'a>(&'a self, chain: &'a str) -> &'a str {
        self.part.as_deref().unwrap_or(chain)
    }
}

/// Reads one table's dump back; `None` when the table does not exist.
pub(crate) fn table(dump: &TableDump) -> Option<LiveTable> {
    let table_attrs = dump.table.as_ref()?;
    let mut owner = owner(attr(table_attrs, NFTA_TABLE_USERDATA).unwrap_or(&[]));
    let mut unmodelled = Vec::new();
    let mut record = false;

    let mut counters = Vec::new();
    let mut counter_values = Vec::new();
    for o in &dump.objects {
        let name = attr_str(o, NFTA_OBJ_NAME).unwrap_or_default();
        if name == RECORD_OBJECT {
            record = true;
            owner = recorded_owner(owner, attr(o, NFTA_OBJ_USERDATA).unwrap_or(&[]));
            continue;
        }
        if attr_u32(o, NFTA_OBJ_TYPE) == Some(NFT_OBJECT_COUNTER) {
            let d = attr(o, NFTA_OBJ_DATA).unwrap_or(&[]);
            let packets = attr_u64(d, NFTA_COUNTER_PACKETS).unwrap_or(0);
            counter_values.push((
                name.clone(),
                packets,
                attr_u64(d, NFTA_COUNTER_BYTES).unwrap_or(0),
            ));
            counters.push(name);
        } else {
            unmodelled.push(format!("object `{name}` (not a counter)"));
        }
    }

    let sets: HashMap<String, SetInfo> =
        dump.sets.iter().map(|s| (s.name.clone(), SetInfo::parse(&s.attrs, &s.elements))).collect();

    let mut chains: Vec<nft::Chain> =
        dump.chains.iter().map(|c| chain(c, &mut unmodelled)).collect();
    let mut rules: Vec<Vec<LiveRule>> = vec![Vec::new(); chains.len()];
    // A table laid out in parts has many chains: find each rule's by name.
    let names: Vec<String> = chains.iter().map(|c| c.name.clone()).collect();
    let chain_index: HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut named_keys: HashMap<String, Vec<nft::Selector>> = HashMap::new();
    // Balanced translations' maps, which fold into their rules.
    let mut nat_maps: std::collections::HashSet<String> = std::collections::HashSet::new();
    for r in &dump.rules {
        let name = attr_str(r, NFTA_RULE_CHAIN).unwrap_or_default();
        let Some(&ci) = chain_index.get(name.as_str()) else { continue };
        let decoded = expr::rule(attr(r, NFTA_RULE_EXPRESSIONS).unwrap_or(&[]), &sets);
        for (set, key) in decoded.named_keys {
            named_keys.entry(set).or_insert(key);
        }
        nat_maps.extend(decoded.nat_map.iter().cloned());
        let mut comment = None;
        let mut stored = None;
        for (ty, v) in udata_tlvs(attr(r, NFTA_RULE_USERDATA).unwrap_or(&[])) {
            match ty {
                NFTNL_UDATA_RULE_COMMENT => comment = Some(udata_string(v)),
                SHRIEK_UDATA_RULE_IDENTITY => stored = stored_identity(v),
                _ => {}
            }
        }
        chains[ci].rules.push(nft::Rule { exprs: decoded.exprs, origin: vec![] });
        rules[ci].push(LiveRule {
            handle: attr_u64(r, NFTA_RULE_HANDLE).unwrap_or(0),
            comment,
            stored,
            counts: decoded.counts,
            slots: decoded.slots,
            nat_map: decoded.nat_map,
            part: None,
            own: decoded.own,
        });
    }
    let crate::layout::Folded { parts, keys: part_keys } =
        crate::layout::fold(&mut chains, &mut rules, |r, part| {
            r.part = Some(part.to_string());
        });

    let cached = |name: &str| dump.sets.iter().any(|s| s.cached && s.name == name);
    let element_counts: HashMap<String, HashMap<Vec<u8>, Count>> = sets
        .values()
        .filter(|s| s.counters && !s.anonymous() && !cached(&s.name))
        .filter(|s| !nat_maps.contains(&s.name))
        .map(|s| {
            let counts = s.elements.iter().filter_map(|e| Some((e.key.clone(), e.count?)));
            (s.name.clone(), counts.collect())
        })
        .collect();
    // The rules' own sets are the rules' (read into them as anonymous
    // ones); one that no rule uses is left over, as a staged set is.
    // Most tables hold none, and then no rule needs looking at.
    let any_own = sets.keys().any(|name| staged::is_own(name));
    let own_used: std::collections::HashSet<&str> = rules
        .iter()
        .filter(|_| any_own)
        .flatten()
        .flat_map(|r| &r.own)
        .map(String::as_str)
        .collect();
    let mut staged_left = Vec::new();
    let mut named: Vec<&SetInfo> = Vec::new();
    for s in sets.values().filter(|s| !s.anonymous() && !nat_maps.contains(&s.name)) {
        match staged::is_own(&s.name) {
            true if !own_used.contains(s.name.as_str()) => staged_left.push(s.name.clone()),
            true => {}
            false => named.push(s),
        }
    }
    named.sort_by(|a, b| a.name.cmp(&b.name));
    // A staged set that no rule uses is left over; one that rules use goes
    // by the policy's name in the model. Most tables hold no staged set,
    // and then no rule needs looking at.
    let any_staged = named.iter().any(|info| staged::model_name(&info.name).is_some());
    let used: std::collections::HashSet<&str> = chains
        .iter()
        .filter(|_| any_staged)
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.exprs)
        .filter_map(staged::set_used)
        .collect();
    let mut set_names = HashMap::new();
    named.retain(|info| match staged::model_name(&info.name) {
        Some(_) if !used.contains(info.name.as_str()) => {
            staged_left.push(info.name.clone());
            false
        }
        Some(model) => {
            set_names.insert(info.name.clone(), model.to_string());
            true
        }
        None => true,
    });
    // The old version of a map made anew beside it (`apply/beside.rs`),
    // which an apply killed before the transaction after its batch left:
    // a staged set in use goes by its name, and no rule uses it.
    if !set_names.is_empty() {
        let models: std::collections::HashSet<&str> =
            set_names.values().map(String::as_str).collect();
        named.retain(|info| {
            let left = models.contains(info.name.as_str()) && !used.contains(info.name.as_str());
            if left {
                staged_left.push(info.name.clone());
            }
            !left
        });
    }
    staged_left.sort();
    let mut model_sets = Vec::new();
    for info in named {
        let key = named_keys.get(&info.name).cloned().or_else(|| info.guess_key());
        let (key, data) = match (key, info.data()) {
            (Some(k), Some(d)) => (k, d),
            _ => {
                unmodelled.push(format!("set `{}` (its type is not one shriekc makes)", info.name));
                continue;
            }
        };
        let dynamic = info.dynamic();
        let elements = if dynamic.is_some() { Some(Vec::new()) } else { info.model_elements(&key) };
        let Some(elements) = elements else {
            unmodelled.push(format!("the elements of set `{}`", info.name));
            continue;
        };
        model_sets.push(nft::Set {
            name: set_names.get(&info.name).unwrap_or(&info.name).clone(),
            key,
            interval: info.interval(),
            data,
            elements,
            counters: info.counters,
            comment: info.comment.clone(),
            dynamic,
        });
    }

    // The rules and counts name staged sets by the policy's names too.
    if !set_names.is_empty() {
        for e in chains.iter_mut().flat_map(|c| &mut c.rules).flat_map(|r| &mut r.exprs) {
            if let Some(name) = staged::set_used_mut(e) {
                if let Some(model) = set_names.get(name.as_str()) {
                    name.clone_from(model);
                }
            }
        }
    }
    // By the policy's name, as the counts are (a cached set may be a
    // staged one: `LiveTable::kernel_set` names it to the kernel).
    let uncounted = dump
        .sets
        .iter()
        .filter(|s| s.cached && sets.get(&s.name).is_some_and(|i| i.counters))
        .filter(|s| !staged_left.contains(&s.name))
        .map(|s| (set_names.get(&s.name).cloned().unwrap_or(s.name.clone()), s.attrs.clone()))
        .collect();
    let element_counts = element_counts
        .into_iter()
        .filter(|(set, _)| !staged_left.contains(set))
        .map(|(set, counts)| (set_names.get(&set).cloned().unwrap_or(set), counts))
        .collect();
    // By the policy's name, from here on.
    let set_names = set_names.into_iter().map(|(kernel, model)| (model, kernel)).collect();

    Some(LiveTable {
        table: nft::Table { name: dump.name.clone(), sets: model_sets, counters, chains },
        owner,
        rules,
        parts,
        part_keys,
        counter_values,
        element_counts,
        unmodelled,
        record,
        set_names,
        staged: staged_left,
        uncounted,
    })
}

/// Each element's count, by its key as the kernel holds it, from GETSETELEM
/// answers for the set the kernel describes as `header`.
pub(crate) fn element_counts(header: &[u8], answers: &[Vec<u8>]) -> HashMap<Vec<u8>, Count> {
    let info = SetInfo::parse(header, answers);
    info.elements.into_iter().filter_map(|e| Some((e.key, e.count?))).collect()
}

fn stored_identity(v: &[u8]) -> Option<Identity> {
    let (&version, rest) = v.split_first()?;
    (version == shriek_compiler::identity::ENCODING_VERSION)
        .then(|| Some(Identity(u64::from_be_bytes(rest.try_into().ok()?))))?
}

/// The owner a table's user data names.
pub(crate) fn owner(ud: &[u8]) -> Owner {
    let mut marked = false;
    let mut policy = String::new();
    let mut strategy = String::new();
    for (ty, v) in udata_tlvs(ud) {
        match ty {
            SHRIEK_UDATA_TABLE_MARKER => marked = udata_string(v) == TABLE_MARKER,
            SHRIEK_UDATA_TABLE_POLICY => policy = udata_string(v),
            SHRIEK_UDATA_TABLE_STRATEGY => strategy = udata_string(v),
            _ => {}
        }
    }
    if marked {
        Owner::Shriek { policy, strategy }
    } else {
        Owner::Unmarked
    }
}

/// The marker's text: who, and the version of what follows it.
pub(crate) const TABLE_MARKER: &str = "shriekc/1";

/// The name of the object in which a table rebuilt in place records what
/// has changed since it was made (its strategy). A table's own user data
/// is written once, when the table is made: the kernel takes NEWTABLE on a
/// table that exists as an update of its flags alone and ignores the rest.
/// An object can be deleted and made again in the batch that rebuilds the
/// table. It is a counter (the one kind of object shriekc makes) that no
/// rule names; `/` is in no name a policy can write, so it never meets a
/// counter of the policy's.
pub(crate) const RECORD_OBJECT: &str = "shriekc/record";

/// The owner a table's record object says, over what its user data says:
/// the record counts only for a table of shriekc's, and of the same policy
/// (the policy's name is in the table's user data, where the orphan scan
/// reads it), so it can only change the strategy.
fn recorded_owner(table: Owner, ud: &[u8]) -> Owner {
    match (table, owner(ud)) {
        (Owner::Shriek { policy, .. }, Owner::Shriek { policy: p, strategy }) if p == policy => {
            Owner::Shriek { policy, strategy }
        }
        (table, _) => table,
    }
}

fn chain(c: &[u8], unmodelled: &mut Vec<String>) -> nft::Chain {
    let name = attr_str(c, NFTA_CHAIN_NAME).unwrap_or_default();
    let comment = udata_tlvs(attr(c, NFTA_CHAIN_USERDATA).unwrap_or(&[]))
        .find(|(ty, _)| *ty == NFTNL_UDATA_CHAIN_COMMENT)
        .map(|(_, v)| udata_string(v));
    let base = attr(c, NFTA_CHAIN_HOOK).map(|h| {
        let hook = match attr_u32(h, NFTA_HOOK_HOOKNUM) {
            Some(NF_INET_PRE_ROUTING) => Some(Hook::Prerouting),
            Some(NF_INET_LOCAL_IN) => Some(Hook::Input),
            Some(NF_INET_FORWARD) => Some(Hook::Forward),
            Some(NF_INET_LOCAL_OUT) => Some(Hook::Output),
            Some(NF_INET_POST_ROUTING) => Some(Hook::Postrouting),
            _ => None,
        };
        let kind = match attr_str(c, NFTA_CHAIN_TYPE).as_deref() {
            Some("filter") => Some(ChainKind::Filter),
            Some("nat") => Some(ChainKind::Nat),
            Some("route") => Some(ChainKind::Route),
            _ => None,
        };
        let policy = if attr_u32(c, NFTA_CHAIN_POLICY) == Some(NF_DROP as u32) {
            ChainPolicy::Drop
        } else {
            ChainPolicy::Accept
        };
        // The kernel sends the priority as the bits of a signed number.
        let priority = attr_u32(h, NFTA_HOOK_PRIORITY).unwrap_or(0) as i32;
        Some(BaseChain { hook: hook?, kind: kind?, priority, policy })
    });
    let base = match base {
        Some(None) => {
            unmodelled.push(format!("the hook of chain `{name}` (read as a regular chain)"));
            None
        }
        Some(b) => b,
        None => None,
    };
    nft::Chain { name, base, rules: Vec::new(), comment }
}
