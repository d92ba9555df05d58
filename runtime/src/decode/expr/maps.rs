//! The expressions of a rule that consult a set or a map: a lookup in a
//! named or anonymous set, the per-address dynamic sets (`update`/`add
//! @set`), and NAT (with `masquerade` and `redirect`), whose balanced form
//! picks its backend from a map. They
//! read a set's own description, so they live apart from the register
//! machine's loads and compares in `expr.rs`.

use super::*;
use crate::decode::staged;

impl Machine<'_> {
    /// `update @set { ip saddr limit rate ... }`, `add @set { ip saddr ct
    /// count over N }`: the per-address statements shriekc writes, and no
    /// other use of a dynamic set.
    pub(super) fn dynset(&mut self, d: &[u8]) -> Option<()> {
        let name = attr_str(d, NFTA_DYNSET_SET_NAME)?;
        let info = self.sets.get(&name)?;
        let w = word(attr_u32(d, NFTA_DYNSET_SREG_KEY)?)?;
        let key = self.key_at(w, info.key_len as usize)?;
        let [sel] = key.as_slice() else { return None };
        let e = attr(d, NFTA_DYNSET_EXPR)?;
        let x = attr(e, NFTA_EXPR_DATA)?;
        let test = match attr_str(e, NFTA_EXPR_NAME)?.as_str() {
            "limit" => MeterTest::Rate(limit(x)?),
            "connlimit" if attr_u32(x, NFTA_CONNLIMIT_FLAGS)? & NFT_CONNLIMIT_F_INV != 0 => {
                MeterTest::CountOver(attr_u32(x, NFTA_CONNLIMIT_COUNT)?)
            }
            _ => return None,
        };
        let m = shriek_compiler::nft::Meter { set: name.clone(), key: *sel, test };
        let op = if m.updates() { NFT_DYNSET_OP_UPDATE } else { NFT_DYNSET_OP_ADD };
        if attr_u32(d, NFTA_DYNSET_OP)? != op {
            return None;
        }
        self.named_keys.push((name, key));
        self.out.push(Expr::Meter(m));
        Some(())
    }

    pub(super) fn lookup(&mut self, d: &[u8]) -> Option<()> {
        let name = attr_str(d, NFTA_LOOKUP_SET)?;
        let info = self.sets.get(&name)?;
        let w = word(attr_u32(d, NFTA_LOOKUP_SREG)?)?;
        let inv = attr_u32(d, NFTA_LOOKUP_FLAGS).unwrap_or(0) & NFT_LOOKUP_F_INV != 0;
        let op = if inv { CmpOp::Ne } else { CmpOp::Eq };
        match attr_u32(d, NFTA_LOOKUP_DREG) {
            // nft's `meta mark { A, B }`: the mark as loaded, in host
            // order, against an anonymous set of host-order marks (shriekc
            // turns the mark to network order first, which `key_at` reads).
            None if matches!(self.regs.get(&w), Some(Val::HostMark))
                && info.anonymous()
                && !info.interval()
                && info.key_len == 4 =>
            {
                let marks = info
                    .elements
                    .iter()
                    .filter(|e| !e.end)
                    .map(|e| {
                        let v = u32::from_ne_bytes(e.key.get(..4)?.try_into().ok()?);
                        Some(Elem(vec![Part::Int(u128::from(v), u128::from(v))]))
                    })
                    .collect::<Option<Vec<Elem>>>()?;
                self.push_match(vec![Selector::Mark], op, Rhs::Set(marks));
            }
            None => {
                let key = self.key_at(w, info.key_len as usize)?;
                // A rule's own interval set, made first under a name, is
                // the rule's as an anonymous one is.
                let own = staged::is_own(&name);
                let rhs = if info.anonymous() || own {
                    let elems: Vec<Elem> =
                        info.model_elements(&key)?.into_iter().map(|e| e.key).collect();
                    if own {
                        self.own.push(name);
                    }
                    match elems.as_slice() {
                        [one] if key.len() > 1 => Rhs::Value(one.clone()),
                        _ => Rhs::Set(elems),
                    }
                } else {
                    self.named_keys.push((name.clone(), key.clone()));
                    Rhs::Named(name)
                };
                self.push_match(key, op, rhs);
            }
            Some(NFT_REG_VERDICT) => {
                let key = self.key_at(w, info.key_len as usize)?;
                if info.anonymous() || inv {
                    return None;
                }
                self.named_keys.push((name.clone(), key.clone()));
                self.out.push(Expr::Vmap { key, map: name });
            }
            Some(_) => {
                let source = Box::new(self.regs.get(&w)?.clone());
                self.set_reg(d, NFTA_LOOKUP_DREG, Val::Found { map: name, source })?;
            }
        }
        Some(())
    }

    /// `masquerade` and `redirect`, with a port or without.
    pub(super) fn masq_or_redir(&mut self, name: &str, d: &[u8]) -> Option<()> {
        let (range, flags) = match name {
            "masq" => ((NFTA_MASQ_REG_PROTO_MIN, NFTA_MASQ_REG_PROTO_MAX), NFTA_MASQ_FLAGS),
            _ => ((NFTA_REDIR_REG_PROTO_MIN, NFTA_REDIR_REG_PROTO_MAX), NFTA_REDIR_FLAGS),
        };
        if !plain_translation(d, &[range], flags) {
            return None;
        }
        let port = match self.reg(d, range.0) {
            None => None,
            Some(Val::Imm(b)) => Some(u16::from_be_bytes(b.get(..2)?.try_into().ok()?)),
            Some(_) => return None,
        };
        let kind = if name == "masq" { NatKind::Masquerade } else { NatKind::Redirect };
        let target = NatTargetExpr::None { port };
        self.out.push(Expr::Nat(NatStmt { kind, family: None, target }));
        Some(())
    }

    pub(super) fn nat(&mut self, d: &[u8]) -> Option<()> {
        let ranges = [
            (NFTA_NAT_REG_ADDR_MIN, NFTA_NAT_REG_ADDR_MAX),
            (NFTA_NAT_REG_PROTO_MIN, NFTA_NAT_REG_PROTO_MAX),
        ];
        if !plain_translation(d, &ranges, NFTA_NAT_FLAGS) {
            return None;
        }
        let kind = match attr_u32(d, NFTA_NAT_TYPE)? {
            NFT_NAT_SNAT => NatKind::Snat,
            NFT_NAT_DNAT => NatKind::Dnat,
            _ => return None,
        };
        let family = match u8::try_from(attr_u32(d, NFTA_NAT_FAMILY)?).ok()? {
            NFPROTO_IPV4 => Some(NatFamily::Ip),
            NFPROTO_IPV6 => Some(NatFamily::Ip6),
            _ => return None,
        };
        let addr = self.reg(d, NFTA_NAT_REG_ADDR_MIN).cloned();
        let proto = self.reg(d, NFTA_NAT_REG_PROTO_MIN).cloned();
        let port_of = |v: &Option<Val>| -> Option<Option<u16>> {
            match v {
                None => Some(None),
                Some(Val::Imm(b)) => Some(Some(u16::from_be_bytes(b.get(..2)?.try_into().ok()?))),
                Some(_) => None,
            }
        };
        let target = match &addr {
            None => NatTargetExpr::None { port: port_of(&proto)? },
            Some(Val::Imm(b)) => {
                let addr: IpAddr = match b.len() {
                    4 => <[u8; 4]>::try_from(b.as_slice()).ok()?.into(),
                    16 => <[u8; 16]>::try_from(b.as_slice()).ok()?.into(),
                    _ => return None,
                };
                NatTargetExpr::Fixed { addr, port: port_of(&proto)? }
            }
            Some(Val::Found { map, source }) => self.balanced(map, source)?,
            Some(_) => return None,
        };
        self.out.push(Expr::Nat(NatStmt { kind, family, target }));
        Some(())
    }

    /// A NAT map's slots, read back from the map the lookup used: an
    /// anonymous one, or a named one of the table's (`nat_map` in
    /// `shriek_compiler::emit`).
    fn balanced(&mut self, map: &str, source: &Val) -> Option<NatTargetExpr> {
        let sets = self.sets;
        let info = sets.get(map)?;
        let (pick, modulus, net_order) = match source {
            Val::Numgen { pick, modulus, net_order } => (*pick, *modulus, *net_order),
            Val::Hash { seed, modulus, net_order, .. } => {
                (Pick::SourceHash { seed: *seed }, *modulus, *net_order)
            }
            _ => return None,
        };
        let slot = |b: &[u8]| -> Option<u32> {
            let b: [u8; 4] = b.get(..4)?.try_into().ok()?;
            Some(if net_order { u32::from_be_bytes(b) } else { u32::from_ne_bytes(b) })
        };
        let mut slots = Vec::new();
        // nft turns the slot into network order and keeps ranges of slots
        // in an interval map; a four-byte big-endian key reads the same as
        // an IPv4 address. shriekc keeps one host-order element per slot.
        let elements: Vec<(u32, u32, Option<Data>)> = if info.interval() && net_order {
            info.model_elements(&[Selector::Ip4Saddr])?
                .into_iter()
                .map(|e| match e.key.0.as_slice() {
                    [Part::Int(lo, hi)] => {
                        Some((u32::try_from(*lo).ok()?, u32::try_from(*hi).ok()?, e.data))
                    }
                    _ => None,
                })
                .collect::<Option<_>>()?
        } else {
            info.elements
                .iter()
                .filter(|e| !e.end)
                .map(|e| {
                    let s = slot(&e.key)?;
                    if let Some(count) = e.count {
                        self.slots.push((s, count));
                    }
                    let data = match &e.data {
                        Some(super::super::set::RawData::Value(b)) => Some(nat_target(b)?),
                        _ => None,
                    };
                    Some((s, s, data))
                })
                .collect::<Option<_>>()?
        };
        for (lo, hi, data) in elements {
            let Some(Data::NatTarget { addr, port }) = data else { return None };
            slots.push((lo, hi, addr, port));
        }
        slots.sort_by_key(|s| (s.0, s.1));
        if !info.anonymous() {
            self.nat_map = Some(map.to_string());
        }
        Some(NatTargetExpr::Balanced { pick, modulus, slots })
    }
}

/// Whether a NAT expression (`nat`, `masq`, `redir`) asks for nothing but
/// what the model says: no range of addresses or ports (an upper end in
/// another register than the lower) and no flag but an address and a port
/// given. `random`, `persistent` and ranges, added by hand, show as what
/// they are instead of as a plain translation, which would hide them from
/// `plan`.
pub(super) fn plain_translation(d: &[u8], ranges: &[(u16, u16)], flags: u16) -> bool {
    let single = |&(min, max): &(u16, u16)| match attr_u32(d, max) {
        None => true,
        Some(hi) => attr_u32(d, min) == Some(hi),
    };
    let known = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
    ranges.iter().all(single) && attr_u32(d, flags).unwrap_or(0) & !known == 0
}
