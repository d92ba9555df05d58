//! One rule of an nft listing: its tokens into the model's expressions.
//!
//! Each expression starts with a keyword (`counter`, `log`, `dnat`, ...) or
//! a selector (`ip saddr`, `meta l4proto`, `ct state`, `iifname`) followed by
//! an optional operator and a value. Reading stops at the first expression
//! it does not know: what follows cannot be read safely, and the rule is
//! left out anyway.

use super::{concat, elements, nat_value, Tok, Token};
use crate::import::nft::{
    duration_ms, flag_value, flags_test, NItem, NMeter, NNat, NVerdict, NatTo, Right, Sel, Val,
};
use crate::space::flags::FlagsTest;

/// The words nft prints as a bare meta key (`iifname`, not `meta iifname`).
const BARE_META: &[&str] = &[
    "iif", "oif", "iifname", "oifname", "iiftype", "oiftype", "iifgroup", "oifgroup", "mark",
    "skuid", "skgid", "pkttype", "cpu", "cgroup",
];

/// Whether `w` is an operator that combines values (`meta mark | 0x4`).
fn is_operator(w: &str) -> bool {
    matches!(w, "&" | "|" | "^" | "<<" | ">>" | "and" | "or" | "xor" | "lshift" | "rshift")
}

/// Payload protocols, each followed by a field.
const PAYLOADS: &[&str] = &[
    "ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "icmp", "icmpv6", "igmp", "ah",
    "esp", "comp", "ether", "vlan", "arp",
];

/// One rule's tokens as items, and its comment.
pub(super) fn rule(toks: &[Token]) -> (Vec<NItem>, Option<String>) {
    let mut r = RuleReader { toks, at: 0 };
    let mut items = Vec::new();
    let mut comment = None;
    while let Some(w) = r.word() {
        let item = match w.as_str() {
            "comment" => {
                comment = r.word();
                continue;
            }
            "counter" => {
                let mut name = None;
                if r.peek_word().as_deref() == Some("name") {
                    r.at += 1;
                    name = r.word();
                }
                while matches!(r.peek_word().as_deref(), Some("packets" | "bytes")) {
                    r.skip(2);
                }
                NItem::Counter(name)
            }
            "log" => r.log(),
            "limit" => r.limit(),
            "accept" => NItem::Verdict(NVerdict::Accept),
            "drop" => NItem::Verdict(NVerdict::Drop),
            "return" => NItem::Verdict(NVerdict::Return),
            "continue" => NItem::Verdict(NVerdict::Continue),
            "jump" => NItem::Verdict(NVerdict::Jump(r.word().unwrap_or_default())),
            "goto" => NItem::Verdict(NVerdict::Goto(r.word().unwrap_or_default())),
            "reject" => r.reject(),
            "meter" | "update" | "add" => r.meter(&w),
            "dnat" | "snat" | "masquerade" | "redirect" => r.nat(&w),
            _ => match r.selector(&w) {
                Some(sel) => r.after_selector(sel),
                None => {
                    r.at = toks.len();
                    NItem::Other(w)
                }
            },
        };
        let stop = matches!(item, NItem::Other(_));
        items.push(item);
        if stop {
            // Nothing after an expression not understood can be read safely.
            break;
        }
    }
    (items, comment)
}

struct RuleReader<'a> {
    toks: &'a [Token],
    at: usize,
}

impl RuleReader<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => Some(w.clone()),
            _ => None,
        }
    }

    fn word(&mut self) -> Option<String> {
        let w = self.peek_word()?;
        self.at += 1;
        Some(w)
    }

    /// Steps over `n` tokens, or to the end when fewer are left: the
    /// position never passes the end, where slices of the tokens read
    /// so far would panic.
    fn skip(&mut self, n: usize) {
        self.at = (self.at + n).min(self.toks.len());
    }

    fn rest(&mut self, what: &str) -> NItem {
        self.at = self.toks.len();
        NItem::Other(what.to_string())
    }

    /// The selector that starts with `w`, reading its field.
    fn selector(&mut self, w: &str) -> Option<Sel> {
        if PAYLOADS.contains(&w) {
            let field = self.word()?;
            if field == "option" {
                return Some(Sel::Other(format!("{w} option")));
            }
            return Some(Sel::Payload(w.to_string(), field));
        }
        if w == "meta" {
            return Some(Sel::Meta(self.word()?));
        }
        if BARE_META.contains(&w) {
            return Some(Sel::Meta(w.to_string()));
        }
        if w == "ct" {
            let key = self.word()?;
            if matches!(key.as_str(), "original" | "reply") {
                // `ct reply ip saddr`: an address names its family first.
                let mut field = self.word()?;
                if matches!(field.as_str(), "ip" | "ip6") {
                    field = format!("{field} {}", self.word()?);
                }
                return Some(Sel::CtDir(key, field));
            }
            return Some(Sel::Ct(key));
        }
        None
    }

    fn after_selector(&mut self, first: Sel) -> NItem {
        let flags = matches!(&first, Sel::Payload(p, f) if p == "tcp" && f == "flags");
        if flags && self.peek_word().as_deref() != Some("vmap") {
            return self.tcp_flags();
        }
        let mut left = vec![self.masked(first)];
        while self.peek_word().as_deref() == Some(".") {
            self.at += 1;
            let Some(w) = self.word() else { return self.rest("a concatenation") };
            match self.selector(&w) {
                Some(sel) => left.push(self.masked(sel)),
                None => return self.rest("a concatenation"),
            }
        }
        match self.peek_word().as_deref() {
            Some("vmap") => {
                self.at += 1;
                let map = if self.peek() == Some(&Tok::Open) {
                    let set = self.braced();
                    Right::Map(
                        set.into_iter()
                            .filter_map(|(k, v)| match v? {
                                Val::Word(w) => Some((k, NVerdict::parse(&w))),
                                _ => None,
                            })
                            .collect(),
                    )
                } else {
                    Right::Named(
                        self.word().unwrap_or_default().trim_start_matches('@').to_string(),
                    )
                };
                return NItem::Vmap { key: left, map };
            }
            Some("set") if left == [Sel::Meta("mark".into())] => {
                self.at += 1;
                return self.mark_set();
            }
            Some("set") => return self.rest(&format!("{} set", left[0])),
            Some("&") if left == [Sel::Meta("mark".into())] => {
                self.at += 1;
                return self.masked_mark();
            }
            Some("map") => return self.rest("a map lookup"),
            _ => {}
        }
        let mut op = String::from("==");
        if let Some(w) = self.peek_word() {
            if matches!(
                w.as_str(),
                "==" | "!="
                    | "!"
                    | "<"
                    | ">"
                    | "<="
                    | ">="
                    | "eq"
                    | "ne"
                    | "lt"
                    | "gt"
                    | "le"
                    | "ge"
            ) {
                self.at += 1;
                op = match w.as_str() {
                    "eq" => "==".into(),
                    "ne" => "!=".into(),
                    "lt" => "<".into(),
                    "gt" => ">".into(),
                    "le" => "<=".into(),
                    "ge" => ">=".into(),
                    _ => w,
                };
            } else if is_operator(&w) {
                return self.rest("a bitwise match");
            }
        }
        let right = if self.peek() == Some(&Tok::Open) {
            Right::Set(self.braced().into_iter().map(|(k, _)| k).collect())
        } else {
            match self.value() {
                Some(Val::Word(w)) if w.starts_with('@') => Right::Named(w[1..].to_string()),
                Some(v) => Right::Val(v),
                None => return self.rest("a match without a value"),
            }
        };
        // `tcp flags syn / syn,ack`: a masked match.
        if self.peek_word().as_deref() == Some("/") {
            self.at += 1;
            self.value();
            op = "/".into();
        }
        NItem::Match { left, op, right }
    }

    /// `sel & MASK` read as a network selector when `sel` is an address
    /// and the mask a prefix mask (`ip saddr & 255.255.255.0`, a verdict
    /// map's key); `sel` alone otherwise, the `&` left unread.
    fn masked(&mut self, sel: Sel) -> Sel {
        if self.peek_word().as_deref() != Some("&") {
            return sel;
        }
        let mask = match self.toks.get(self.at + 1).map(|t| &t.tok) {
            Some(Tok::Word(m)) => m.clone(),
            _ => return sel,
        };
        match Sel::net(sel.clone(), &mask) {
            Some(net) => {
                self.at += 2;
                net
            }
            None => sel,
        }
    }

    /// What follows `meta mark set`: a number, or an expression of the
    /// mark (`meta mark | 0x4`), which is read no further.
    fn mark_set(&mut self) -> NItem {
        let plain = self.peek_word().is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()));
        let after = self.toks.get(self.at + 1).map(|t| &t.tok);
        let expression = matches!(after, Some(Tok::Word(w)) if is_operator(w));
        match self.value() {
            Some(v) if plain && !expression => NItem::MarkSet(v),
            _ => self.rest("meta mark set <expression>"),
        }
    }

    /// What follows `meta mark &`: `MASK [==|!=] VALUE`.
    fn masked_mark(&mut self) -> NItem {
        let Some(mask) = self.value() else { return self.rest("a bitwise match") };
        let op = match self.peek_word().as_deref() {
            Some(w @ ("==" | "!=" | "eq" | "ne")) => {
                self.at += 1;
                if matches!(w, "==" | "eq") { "==" } else { "!=" }.to_string()
            }
            Some(w) if is_operator(w) => return self.rest("a bitwise match"),
            _ => "==".to_string(),
        };
        match self.value() {
            Some(v) => NItem::MaskedMark { mask, op, right: Right::Val(v) },
            None => self.rest("a bitwise match"),
        }
    }

    /// What follows `tcp flags`: `syn / syn,ack`, `syn,ack`, `! syn,ack`,
    /// `== syn`, `!= 0x12` as nft lists them, and `& (syn|ack) == syn` as
    /// one may write it.
    fn tcp_flags(&mut self) -> NItem {
        let start = self.at;
        let test = self.flags_parts();
        let words: Vec<String> = self.toks[start..self.at]
            .iter()
            .map(|t| match &t.tok {
                Tok::Word(w) | Tok::Str(w) => w.clone(),
                Tok::Comma => ",".into(),
                Tok::Open => "{".into(),
                Tok::Close => "}".into(),
                Tok::End => ";".into(),
            })
            .collect();
        let text = format!("tcp flags {}", words.join(" ").replace(" ,", ",").replace(", ", ","));
        NItem::TcpFlags { test, text }
    }

    fn flags_parts(&mut self) -> Result<FlagsTest, String> {
        let unread = || "cannot read the `tcp flags` values".to_string();
        if self.peek() == Some(&Tok::Open) {
            self.braced();
            return Err("a set of `tcp flags` values (`{ syn, ack }`): each is the whole byte, which the language says one at a time".into());
        }
        let mut mask = None;
        if self.peek_word().as_deref() == Some("&") {
            self.at += 1;
            mask = Some(self.flag_bits().ok_or_else(unread)?);
        }
        let op = match self.peek_word().as_deref() {
            Some(w @ ("==" | "!=" | "!" | "eq" | "ne")) => {
                self.at += 1;
                match w {
                    "eq" => "==".to_string(),
                    "ne" => "!=".to_string(),
                    w => w.to_string(),
                }
            }
            // `tcp flags syn,ack`: any of them (nft's implicit compare of
            // a flags type).
            _ if mask.is_none() => "in".to_string(),
            _ => "==".to_string(),
        };
        if self.peek() == Some(&Tok::Open) {
            self.braced();
            return Err("a set of `tcp flags` values (`{ syn, ack }`): each is the whole byte, which the language says one at a time".into());
        }
        let value = self.flag_bits().ok_or_else(unread)?;
        if mask.is_none() && self.peek_word().as_deref() == Some("/") {
            self.at += 1;
            mask = Some(self.flag_bits().ok_or_else(unread)?);
            // `syn / syn,ack` compares under the mask, as `==` does.
            let op = if op == "in" { "==" } else { op.as_str() };
            return flags_test(mask, op, value);
        }
        flags_test(mask, &op, value)
    }

    /// Flags OR'd together, as nft writes them: `syn,ack`, `syn|ack`,
    /// `(syn | ack)`, `0x12`.
    fn flag_bits(&mut self) -> Option<u8> {
        let mut bits = 0u8;
        loop {
            let w = self.word()?;
            for part in w.split('|') {
                let part = part.trim_matches(|c| c == '(' || c == ')');
                if !part.is_empty() {
                    bits |= flag_value(part)?;
                }
            }
            let joined = w.ends_with('|') || self.peek_word().is_some_and(|n| n.starts_with('|'));
            if self.peek() == Some(&Tok::Comma) {
                self.at += 1;
            } else if !joined {
                return Some(bits);
            }
        }
    }

    /// One value: `a`, `a . b`, or the flag list `a,b`.
    fn value(&mut self) -> Option<Val> {
        let mut ws = vec![self.word()?];
        while self.peek_word().as_deref() == Some(".") {
            ws.push(self.word()?);
            ws.push(self.word()?);
        }
        let first = concat(&ws);
        // Flags: `established,related` (any of them), and `established |
        // related` (the bits together, one value).
        let or = self.peek_word().as_deref() == Some("|");
        let more = |r: &Self| {
            if or {
                r.peek_word().as_deref() == Some("|")
            } else {
                r.peek() == Some(&Tok::Comma)
            }
        };
        if !more(self) {
            return Some(first);
        }
        let mut list = vec![first];
        while more(self) {
            self.at += 1;
            list.push(Val::Word(self.word()?));
        }
        Some(if or { Val::Or(list) } else { Val::List(list) })
    }

    /// `{ ... }`: its elements (and data, in a map).
    fn braced(&mut self) -> Vec<(Val, Option<Val>)> {
        let start = self.at + 1;
        let mut depth = 0;
        while let Some(t) = self.peek() {
            match t {
                Tok::Open => depth += 1,
                Tok::Close => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        let end = self.at.min(self.toks.len());
        let body = &self.toks[start.min(end)..end];
        // Past the closing brace, when the text has one.
        self.skip(1);
        elements(body)
    }

    fn log(&mut self) -> NItem {
        let (mut prefix, mut level, mut other) = (None, None, None);
        while let Some(w) = self.peek_word() {
            match w.as_str() {
                "prefix" => {
                    self.at += 1;
                    prefix = self.word();
                }
                "level" => {
                    self.at += 1;
                    level = self.word();
                }
                "flags" | "group" | "snaplen" | "queue-threshold" => {
                    self.at += 1;
                    let v = self.word().unwrap_or_default();
                    other = Some(format!("{w} {v}"));
                    while self.peek() == Some(&Tok::Comma) {
                        self.skip(2);
                    }
                }
                _ => break,
            }
        }
        NItem::Log { prefix, level, other }
    }

    fn limit(&mut self) -> NItem {
        if self.word().as_deref() != Some("rate") {
            return self.rest("limit");
        }
        let over = self.peek_word().as_deref() == Some("over");
        if over {
            self.at += 1;
        }
        let Some(first) = self.word() else { return self.rest("limit") };
        let (rate, per, bytes) = match first.split_once('/') {
            Some((n, per)) => (n.to_string(), per.to_string(), false),
            None => {
                let unit = self.word().unwrap_or_default();
                let per = unit.split_once('/').map_or(String::new(), |(_, p)| p.to_string());
                (first, per, true)
            }
        };
        let mut burst = None;
        if self.peek_word().as_deref() == Some("burst") {
            self.at += 1;
            burst = self.word().and_then(|b| b.parse().ok());
            if matches!(
                self.peek_word().as_deref(),
                Some("packets" | "bytes" | "kbytes" | "mbytes")
            ) {
                self.at += 1;
            }
        }
        match rate.parse() {
            Ok(rate) => NItem::Limit { rate, per, burst, over, bytes },
            Err(_) => NItem::Other("limit".into()),
        }
    }

    /// `meter NAME [size N] { KEY [timeout T] STMT }`, `update @SET { KEY
    /// STMT }`, `add @SET { ... }`.
    fn meter(&mut self, op: &str) -> NItem {
        let Some(name) = self.word() else { return self.rest(op) };
        let set = match name.strip_prefix('@') {
            Some(set) if op != "meter" => set.to_string(),
            None if op == "meter" => name,
            _ => return self.rest(op),
        };
        let mut size = None;
        if self.peek_word().as_deref() == Some("size") {
            self.at += 1;
            size = self.word().and_then(|n| n.parse().ok());
        }
        if self.peek() != Some(&Tok::Open) {
            return self.rest(op);
        }
        self.at += 1;
        let Some(first) = self.word() else { return self.rest(op) };
        let Some(sel) = self.selector(&first) else { return self.rest(op) };
        let mut key = vec![sel];
        while self.peek_word().as_deref() == Some(".") {
            self.at += 1;
            let Some(sel) = self.word().and_then(|w| self.selector(&w)) else {
                return self.rest(op);
            };
            key.push(sel);
        }
        let mut timeout_ms = None;
        if self.peek_word().as_deref() == Some("timeout") {
            self.at += 1;
            timeout_ms = self.word().as_deref().and_then(duration_ms);
        }
        let stmt = match self.word().as_deref() {
            Some("limit") => self.limit(),
            Some("ct") if self.peek_word().as_deref() == Some("count") => {
                self.at += 1;
                let over = self.peek_word().as_deref() == Some("over");
                if over {
                    self.at += 1;
                }
                match self.word().and_then(|n| n.parse().ok()) {
                    Some(count) => NItem::CtCount { count, over },
                    None => return self.rest(op),
                }
            }
            _ => return self.rest(op),
        };
        if self.peek() != Some(&Tok::Close) {
            return self.rest(op);
        }
        self.at += 1;
        NItem::Meter(NMeter {
            op: op.to_string(),
            set,
            key,
            timeout_ms,
            size,
            stmt: Box::new(stmt),
        })
    }

    fn reject(&mut self) -> NItem {
        if self.peek_word().as_deref() != Some("with") {
            return NItem::Reject { kind: None, code: None };
        }
        self.at += 1;
        let kind = self.word();
        if kind.as_deref() == Some("tcp") {
            self.at += 1;
            return NItem::Reject { kind: Some("tcp reset".into()), code: None };
        }
        if self.peek_word().as_deref() == Some("type") {
            self.at += 1;
        }
        NItem::Reject { kind, code: self.word() }
    }

    fn nat(&mut self, kind: &str) -> NItem {
        let mut family = None;
        if matches!(self.peek_word().as_deref(), Some("ip" | "ip6")) {
            family = self.word();
        }
        let mut to = None;
        // `dnat ip addr . port to ...`: the map gives both.
        if self.peek_word().as_deref() == Some("addr") {
            self.at += 3;
        }
        if self.peek_word().as_deref() == Some("to") {
            self.at += 1;
            to = Some(match self.peek_word().as_deref() {
                Some("numgen" | "jhash" | "symhash") => self.balanced(),
                _ => fixed(&self.word().unwrap_or_default()),
            });
        }
        let mut flags = Vec::new();
        while let Some(w) = self.peek_word() {
            if !matches!(w.as_str(), "random" | "persistent" | "fully-random") {
                break;
            }
            self.at += 1;
            flags.push(w);
            if self.peek() == Some(&Tok::Comma) {
                self.at += 1;
            }
        }
        NItem::Nat(NNat { kind: kind.to_string(), family, to, flags })
    }

    /// `numgen inc mod 3 map { ... }`, `jhash ip saddr mod 2 seed 0x0 map { ... }`.
    fn balanced(&mut self) -> NatTo {
        let mut pick = Vec::new();
        while let Some(w) = self.peek_word() {
            if w == "mod" {
                break;
            }
            self.at += 1;
            pick.push(w);
        }
        // Past `mod`, when the rule is not cut short before it.
        self.skip(1);
        let modulus = self.word().and_then(|m| m.parse().ok()).unwrap_or(0);
        let mut seed = None;
        while let Some(w) = self.peek_word() {
            match w.as_str() {
                "seed" => {
                    self.at += 1;
                    let s = self.word().unwrap_or_default();
                    seed = u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
                }
                "offset" => {
                    self.at += 1;
                    self.word();
                    return NatTo::Other("numgen offset".into());
                }
                "map" => {
                    self.at += 1;
                    break;
                }
                _ => return NatTo::Other(pick.join(" ")),
            }
        }
        let pick = pick.join(" ");
        if let Some(name) = self.peek_word().and_then(|w| w.strip_prefix('@').map(str::to_string)) {
            self.at += 1;
            return NatTo::Balanced { pick, modulus, seed, map: Vec::new(), named: Some(name) };
        }
        let map = self.braced().into_iter().filter_map(|(k, v)| Some((k, v?))).collect::<Vec<_>>();
        let map = map.into_iter().map(|(k, v)| (k, nat_value(v))).collect();
        NatTo::Balanced { pick, modulus, seed, map, named: None }
    }
}

/// `10.0.0.1`, `10.0.0.1:80`, `[fd00::1]:80`, `fd00::1`, `:80`.
fn fixed(w: &str) -> NatTo {
    if let Some(port) = w.strip_prefix(':') {
        return NatTo::Fixed { addr: None, port: Some(port.to_string()) };
    }
    if let Some(rest) = w.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((a, p)) => NatTo::Fixed { addr: Some(a.to_string()), port: Some(p.to_string()) },
            None => NatTo::Fixed { addr: Some(rest.trim_end_matches(']').to_string()), port: None },
        };
    }
    match w.split_once(':') {
        Some((a, p)) if !p.contains(':') => {
            NatTo::Fixed { addr: Some(a.to_string()), port: Some(p.to_string()) }
        }
        _ if w.contains('-') => NatTo::Other("an address range".into()),
        _ if w.chars().all(|c| c.is_ascii_digit()) => {
            NatTo::Fixed { addr: None, port: Some(w.to_string()) }
        }
        _ => NatTo::Fixed { addr: Some(w.to_string()), port: None },
    }
}
