//! One nfnetlink batch being written, and what each of its messages stands
//! for ([`Subject`]), so that a kernel error, which names a message only by
//! its sequence number, can be traced back to the policy rule behind it.

use std::collections::HashSet;
use std::sync::OnceLock;

use shriek_compiler::nft::{Elem, Origin, Selector};

use crate::abi::*;
use crate::msg::{Buf, Writer};

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

/// What one message of a batch stands for, as the batch keeps it: a
/// rule's (most of a large batch's messages) in 40 bytes, its table and
/// chain named once for the rules beside it and a single origin inline,
/// where its [`Subject`] takes 88 bytes and three allocations (13 MiB of
/// a 100k-rule batch).
#[derive(Clone, Debug)]
pub(crate) enum Said {
    Rule { place: u32, index: u32, origin: Origins },
    Other(Box<Subject>),
}

/// The policy rules a rule message stands for.
#[derive(Clone, Debug)]
pub(crate) enum Origins {
    One(Origin),
    Many(Box<[Origin]>),
}

/// One nfnetlink batch being written.
pub(crate) struct Batch {
    pub w: Writer,
    pub first_seq: u32,
    /// `subjects[seq - first_seq]` is what message `seq` stands for.
    pub subjects: Vec<Said>,
    /// The table and chain of rule messages, once for each run of rules
    /// in the same chain.
    places: Vec<(String, String)>,
    /// Every message's subject in full, made the first time one is asked
    /// for (the kernel refused a message).
    said: OnceLock<Vec<Subject>>,
    next_set_id: u32,
    pub tables: usize,
    pub chains: usize,
    pub rules: usize,
    pub elements: usize,
    /// Room for one rule's expressions, written before its message
    /// (`encode::rule`), kept from rule to rule.
    pub scratch: Buf,
    /// Values carried over for the new counters the batch makes.
    pub seeds: super::Seeds,
    /// Where the rules' own interval sets are made beforehand
    /// ([`OwnSets`]); `None`: each in its rule's message, anonymous.
    pub own: Option<OwnSets>,
    /// Where in `w` the batch's generation guard is, to move it on.
    genid_at: Option<usize>,
    /// What the batch leaves for a transaction after it (`apply/
    /// settle.rs`); `None`: everything goes in this batch.
    pub deferred: Option<Deferred>,
}

/// Maps no rule of the new generation uses, and the chains only their
/// elements still jump to, that go in a transaction after the batch, once
/// the packets that started walking the old rules are through: deleting a
/// map deactivates its elements at the generation switch, and such a
/// packet looks them up with the new generation's mask.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    /// (table, kernel name).
    pub sets: Vec<(String, String)>,
    /// (table, chain), each before its parts.
    pub chains: Vec<(String, String)>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.chains.is_empty()
    }
}

/// The interval sets of the rules a batch makes, in tables that stay: an
/// anonymous set is made in the batch that makes its rule, and the kernel
/// publishes an interval set's elements only at the end of the commit,
/// after the rule is live. So these are written into [`OwnSets::made`],
/// which the staging transaction makes first under the names of
/// `decode::staged::own_name`, and the rule looks its set up by name.
#[derive(Debug, Default)]
pub(crate) struct OwnSets {
    /// The tables whose rules' interval sets are made first.
    pub tables: HashSet<String>,
    /// The generation the staging transaction is made against.
    pub genid: u32,
    pub made: Vec<OwnSet>,
}

/// One rule's own interval set, to be made first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnSet {
    pub table: String,
    /// The kernel's name (`decode::staged::own_name`).
    pub name: String,
    pub key: Vec<Selector>,
    pub elems: Vec<Elem>,
    pub origin: Vec<Origin>,
}

impl Batch {
    pub fn begin(first_seq: u32, genid: Option<u32>) -> Batch {
        let mut b = Batch {
            w: Writer::default(),
            first_seq,
            subjects: Vec::new(),
            places: Vec::new(),
            said: OnceLock::new(),
            next_set_id: 1,
            tables: 0,
            chains: 0,
            rules: 0,
            elements: 0,
            scratch: Buf::default(),
            seeds: super::Seeds::default(),
            own: None,
            genid_at: None,
            deferred: None,
        };
        let seq = b.seq(Subject::Batch);
        b.w.msg(NFNL_MSG_BATCH_BEGIN, 0, seq, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, |a| {
            if let Some(g) = genid {
                a.u32(NFNL_BATCH_GENID, g);
            }
        });
        // The guard is the begin message's last four bytes.
        b.genid_at = genid.map(|_| b.w.len() - 4);
        b
    }

    /// Guards the batch by generation `genid` instead of the one it was
    /// begun with: the one a transaction sent before it leaves.
    pub fn guard(&mut self, genid: u32) {
        if let Some(at) = self.genid_at {
            self.w.set_u32(at, genid);
        }
    }

    pub fn end(&mut self) {
        let seq = self.seq(Subject::Batch);
        self.w.msg(NFNL_MSG_BATCH_END, 0, seq, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, |_| {});
    }

    pub fn seq(&mut self, s: Subject) -> u32 {
        match s {
            Subject::Rule { table, chain, index, origin } => {
                self.rule_seq(&table, &chain, index, &origin)
            }
            s => self.push(Said::Other(Box::new(s))),
        }
    }

    /// [`Batch::seq`] of a rule's message, without making its [`Subject`]:
    /// most of a large batch's messages are rules'.
    pub fn rule_seq(&mut self, table: &str, chain: &str, index: usize, origin: &[Origin]) -> u32 {
        let same = self.places.last().is_some_and(|(t, c)| t == table && c == chain);
        if !same {
            self.places.push((table.into(), chain.into()));
        }
        let place = (self.places.len() - 1) as u32;
        let origin = match origin {
            [one] => Origins::One(*one),
            many => Origins::Many(many.into()),
        };
        // A chain holds far fewer than 2^32 rules (`MAX_RULES`).
        self.push(Said::Rule { place, index: index as u32, origin })
    }

    fn push(&mut self, s: Said) -> u32 {
        // Sequence numbers wrap by design: only the distance from
        // `first_seq` matters, and a batch never holds 2^32 messages.
        let seq = self.first_seq.wrapping_add(self.subjects.len() as u32);
        self.subjects.push(s);
        self.said.take();
        seq
    }

    pub fn subject(&self, seq: u32) -> Option<&Subject> {
        let said = self.said.get_or_init(|| self.subjects.iter().map(|s| self.say(s)).collect());
        said.get(seq.wrapping_sub(self.first_seq) as usize)
    }

    fn say(&self, s: &Said) -> Subject {
        match s {
            Said::Other(s) => (**s).clone(),
            Said::Rule { place, index, origin } => {
                let (table, chain) = self.places[*place as usize].clone();
                let origin = match origin {
                    Origins::One(one) => vec![*one],
                    Origins::Many(many) => many.to_vec(),
                };
                Subject::Rule { table, chain, index: *index as usize, origin }
            }
        }
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
