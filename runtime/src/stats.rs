//! Per-rule accounting: every source rule's packets and bytes, read from
//! the live tables (and zeroed in the same step, like `iptables -Z`).
//!
//! Lowering gives each rule its own count (see `compiler::lower`): the first
//! anonymous `counter` of each nft rule that runs the rule's statements, or
//! else the counters of the dispatch-map elements the rule owns. Here the
//! live tables are read once (rules, set elements and named counters,
//! each with the reset variant of its dump when zeroing), then matched
//! against the compiled ruleset: rules by their place in their chain, map
//! elements by their key. A source rule that lowered to several nft rules
//! or elements gets their sum.
//!
//! Zeroing uses GETRULE_RESET (Linux 6.2), GETSETELEM_RESET (6.5) and
//! GETOBJ_RESET: the kernel reads and zeroes each counter in one step, so
//! no packet is lost between the value printed and the zero.

use std::collections::HashMap;

use shriek_compiler::ir::RuleId;
use shriek_compiler::nft::{self, Expr};

use crate::abi::*;
use crate::counters::CounterValue;
use crate::encode::key_bytes;
use crate::error::RuntimeError;
use crate::msg::{attr, attr_str, attr_u64, attrs};
use crate::socket::{errno_err, Socket};

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Count {
    fn add_assign(&mut self, o: Count) {
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
    }
}

/// What one read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Which of the candidate rulesets the live tables are.
    pub matched: usize,
    /// Each counted source rule's sum. A rule without a counter (per-rule
    /// counters off and no `counter` of its own) is absent.
    pub rules: HashMap<RuleId, Count>,
    /// The named counters, in the ruleset's order.
    pub counters: Vec<CounterValue>,
}

/// Reads the live tables once and matches them against `candidates` (the
/// policy compiled with each strategy, in order of preference). With
/// `reset`, every counter read is zeroed in the same step.
pub fn read_stats(
    candidates: &[nft::Ruleset],
    reset: bool,
    netns: Option<&str>,
) -> Result<Stats, RuntimeError> {
    let Some(first) = candidates.first() else { return Ok(Stats::default()) };
    let mut sock = Socket::open(netns)?;
    let mut live = HashMap::new();
    for t in &first.tables {
        let table = read_table(&mut sock, &t.name, reset)?.ok_or_else(|| RuntimeError::Io {
            what: "counter read",
            reason: format!("there is no table `{}`; apply the policy first", t.name),
        })?;
        live.insert(t.name.clone(), table);
    }
    for (i, rs) in candidates.iter().enumerate() {
        if let Some(mut stats) = match_ruleset(rs, &live) {
            stats.matched = i;
            return Ok(stats);
        }
    }
    Err(RuntimeError::Io {
        what: "counter read",
        reason: "the live tables are not what this policy compiles to; see `shriekc plan`".into(),
    })
}

/// One live table's counters.
#[derive(Debug, Default)]
struct LiveTable {
    /// Per chain, per rule in order: its anonymous counters in order.
    rules: HashMap<String, Vec<Vec<Count>>>,
    /// Per set: each element's counter, by the element's key bytes.
    elements: HashMap<String, HashMap<Vec<u8>, Count>>,
    /// Named counter objects.
    objects: HashMap<String, Count>,
}

fn read_table(
    sock: &mut Socket,
    name: &str,
    reset: bool,
) -> Result<Option<LiveTable>, RuntimeError> {
    match sock.request(NFT_MSG_GETTABLE, 0, |a| a.str(NFTA_TABLE_NAME, name))? {
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(errno_err("counter read")(e)),
        Ok(_) => {}
    }
    let mut dump = |ty: u16, table_attr: u16, set: Option<&str>| {
        let msgs = sock
            .request(ty, NLM_F_DUMP, |a| {
                a.str(table_attr, name);
                if let Some(set) = set {
                    a.str(NFTA_SET_ELEM_LIST_SET, set);
                }
            })?
            .map_err(errno_err("counter read"))?;
        // Older kernels ignore the filter: keep only this table's.
        Ok::<_, RuntimeError>(
            msgs.into_iter()
                .filter(|m| attr_str(m, table_attr).as_deref() == Some(name))
                .collect::<Vec<_>>(),
        )
    };
    let mut live = LiveTable::default();
    let (rule_ty, elem_ty, obj_ty) = if reset {
        (NFT_MSG_GETRULE_RESET, NFT_MSG_GETSETELEM_RESET, NFT_MSG_GETOBJ_RESET)
    } else {
        (NFT_MSG_GETRULE, NFT_MSG_GETSETELEM, NFT_MSG_GETOBJ)
    };
    for r in dump(rule_ty, NFTA_RULE_TABLE, None)? {
        let chain = attr_str(&r, NFTA_RULE_CHAIN).unwrap_or_default();
        let counts = attr(&r, NFTA_RULE_EXPRESSIONS)
            .map(|list| attrs(list).filter_map(|(_, e)| counter_expr(e)).collect())
            .unwrap_or_default();
        live.rules.entry(chain).or_default().push(counts);
    }
    for o in dump(obj_ty, NFTA_OBJ_TABLE, None)? {
        if crate::msg::attr_u32(&o, NFTA_OBJ_TYPE) == Some(NFT_OBJECT_COUNTER) {
            let name = attr_str(&o, NFTA_OBJ_NAME).unwrap_or_default();
            live.objects.insert(name, counter_data(attr(&o, NFTA_OBJ_DATA).unwrap_or(&[])));
        }
    }
    for s in dump(NFT_MSG_GETSET, NFTA_SET_TABLE, None)? {
        let counting =
            attr(&s, NFTA_SET_EXPR).is_some() || attr(&s, NFTA_SET_EXPRESSIONS).is_some();
        let set = attr_str(&s, NFTA_SET_NAME).unwrap_or_default();
        if !counting
            || crate::msg::attr_u32(&s, NFTA_SET_FLAGS).unwrap_or(0) & NFT_SET_ANONYMOUS != 0
        {
            continue;
        }
        let mut elements = HashMap::new();
        for m in dump(elem_ty, NFTA_SET_ELEM_LIST_TABLE, Some(&set))? {
            let Some(list) = attr(&m, NFTA_SET_ELEM_LIST_ELEMENTS) else { continue };
            for (_, e) in attrs(list) {
                let Some(key) = attr(e, NFTA_SET_ELEM_KEY).and_then(|k| attr(k, NFTA_DATA_VALUE))
                else {
                    continue;
                };
                if let Some(count) = element_counter(e) {
                    elements.insert(key.to_vec(), count);
                }
            }
        }
        live.elements.insert(set, elements);
    }
    Ok(Some(live))
}

/// The counter of a set element: its one expression, or the first counter
/// of its list.
fn element_counter(e: &[u8]) -> Option<Count> {
    if let Some(x) = attr(e, NFTA_SET_ELEM_EXPR) {
        return counter_expr(x);
    }
    attrs(attr(e, NFTA_SET_ELEM_EXPRESSIONS)?).find_map(|(_, x)| counter_expr(x))
}

/// The values of a `counter` expression (NFTA_EXPR_NAME, NFTA_EXPR_DATA).
fn counter_expr(e: &[u8]) -> Option<Count> {
    (attr_str(e, NFTA_EXPR_NAME)? == "counter")
        .then(|| counter_data(attr(e, NFTA_EXPR_DATA).unwrap_or(&[])))
}

fn counter_data(d: &[u8]) -> Count {
    Count {
        packets: attr_u64(d, NFTA_COUNTER_PACKETS).unwrap_or(0),
        bytes: attr_u64(d, NFTA_COUNTER_BYTES).unwrap_or(0),
    }
}

/// Each source rule's count, when the live tables have exactly the shape
/// of `rs`: the same rules in every chain, each with as many counters, and
/// every counted element.
fn match_ruleset(rs: &nft::Ruleset, live: &HashMap<String, LiveTable>) -> Option<Stats> {
    let mut from_rules: HashMap<RuleId, Count> = HashMap::new();
    let mut from_elements: HashMap<RuleId, Count> = HashMap::new();
    let mut counters = Vec::new();
    for t in &rs.tables {
        let lt = live.get(&t.name)?;
        for c in &t.chains {
            let empty = Vec::new();
            let rules = lt.rules.get(&c.name).unwrap_or(&empty);
            if rules.len() != c.rules.len() {
                return None;
            }
            for (r, counts) in c.rules.iter().zip(rules) {
                // The kernel lists named counters as objref, not counter.
                let anonymous = r.exprs.iter().filter(|e| **e == Expr::Counter(None)).count();
                if counts.len() != anonymous {
                    return None;
                }
                if let ([o], Some(first)) = (r.origin.as_slice(), counts.first()) {
                    *from_rules.entry(o.rule).or_default() += *first;
                }
            }
        }
        for s in t.sets.iter().filter(|s| s.counters) {
            let elements = lt.elements.get(&s.name)?;
            for e in &s.elements {
                let count = elements.get(&key_bytes(&s.key, &e.key, false))?;
                if let [o] = e.origin.as_slice() {
                    *from_elements.entry(o.rule).or_default() += *count;
                }
            }
        }
        for name in &t.counters {
            let c = lt.objects.get(name)?;
            counters.push(CounterValue {
                table: t.name.clone(),
                name: name.clone(),
                packets: c.packets,
                bytes: c.bytes,
            });
        }
    }
    // A rule folded into a map counts in its elements; a counter in the
    // chain its element jumps to is one the user wrote.
    let mut rules = from_rules;
    rules.extend(from_elements);
    Some(Stats { matched: 0, rules, counters })
}
